"""Issue 14: small input-hardening findings outside the HTTP server (Nova parts, Lambda settings and events,
label log-probs, rubric names, model downloads, lambda packaging, run names)."""

from __future__ import annotations

from judgerl.serve.nova import NovaMessage


def test_a_null_text_part_is_no_text_not_the_string_none() -> None:
    message = NovaMessage(role="assistant", content=[{"type": "text", "text": None}, {"type": "text", "text": "hi"}])
    assert message.text() == "hi"
    assert NovaMessage(role="assistant", content=[{"type": "text", "text": None}]).text() == ""
