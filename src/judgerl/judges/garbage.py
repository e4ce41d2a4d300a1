"""Whether a judge's generated explanation is garbage: text no reader could take as a reason for the verdict.

Small judges degenerate in recognisable ways: an empty reply, one token or phrase looping, bytes that decode to
replacement or control characters, a JSON or markup fragment with no words, the bare label, the prompt or the
chat template echoed back, or a reply cut off before it says anything. ``garbage_reason`` names which, or None
for text worth keeping. Such text is dropped (the verdict stands, with the reason in ``rationale_dropped``),
never shown as the verdict's explanation. The checks read the text only (no model call) and are linear in it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from typing import Any

from judgerl.backends.base import JudgePrompt
from judgerl.judges.stance import opening_stance

#: end-of-turn tokens a backend may leave at the end of its reply; stripped, not held against the text
_END_MARKERS = re.compile(r"(?:\s*(?:<\|(?:im_end|endoftext|eot_id|end)\|>|</s>|<end_of_turn>|<eos>))+\s*$", re.I)
#: a turn header or control token of a chat template: the reply ran into the next turn or echoed the prompt's
_TEMPLATE = re.compile(
    r"<\|[a-z_]{2,30}\|>|\[/?INST\]|<</?SYS>>|<\s*/?\s*(?:start|end)_of_turn\s*>|<s>|</s>|^\s*(?:system|user|assistant)\s*\n",
    re.I,
)
#: the nonce-tagged blocks the prompts quote material in (judgerl.judges.prompts)
_BLOCK_TAG = re.compile(r"</?(?:prompt|response|reference|response_a|response_b|explanation) [0-9a-f]{10}>", re.I)
_CRITERION = re.compile(r"^## Criterion\n.*?(?:\n\n|$)", re.M | re.S)
_MARKUP = re.compile(r"<[^<>\n]{0,80}>|```[a-z]*|&[a-z]+;|\"[^\"\n]{0,60}\"\s*:", re.I)
_FENCE = re.compile(r"```[a-z]*", re.I)
_REASON_KEYS = frozenset({"reason", "rationale", "explanation", "reasoning", "steps", "description", "analysis"})
_WORD = re.compile(r"[^\W\d_]+")
_LABELS = frozenset({"pass", "fail", "passed", "failed", "verdict", "yes", "no", "true", "false", "null", "a", "b"})
_SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f]")
_CHAR_RUN = re.compile(r"(\S)\1{9,}")
_PHRASE_LOOP = re.compile(r"(.{2,80}?)(?:\s*\1){3,}", re.S)
#: beyond this many characters only the head is read: a reply is capped at a few hundred tokens anyway
_READ_CHARS = 4000
#: a share of non-printable or replacement characters above which the text is not readable
_UNREADABLE_SHARE = 0.3
#: a reply with no sentence end and fewer words than this was cut off before it said anything
_MIN_WORDS_UNFINISHED = 4


def strip_end_markers(text: str) -> str:
    """The reply without surrounding whitespace and without the end-of-turn tokens some backends leave."""
    return _END_MARKERS.sub("", text).strip()


def garbage_reason(text: str | None, prompt: JudgePrompt | None = None, *, complete: bool = False) -> str | None:
    """Why ``text`` is no explanation (a short phrase), or None when it may be kept.

    ``prompt``: the prompt it answered, to catch an echo of it. ``complete``: the text is a whole field the
    judge closed itself (a JSON string value), so it cannot have been cut off mid-reply."""
    text = strip_end_markers(text or "")[:_READ_CHARS]
    if not text:
        return "empty"
    visible = [c for c in text if not c.isspace()]
    unreadable = sum(1 for c in visible if c == "\ufffd" or unicodedata.category(c) in {"Cc", "Cs", "Co", "Cn"})
    if unreadable > _UNREADABLE_SHARE * len(visible):
        return "mostly non-printable or replacement characters"
    if _TEMPLATE.search(text):
        return "the chat template echoed"
    if prompt is not None and _echoes(text, prompt):
        return "the prompt echoed"
    repeated = _repetition(text)
    if repeated is not None:
        return repeated
    if _json_without_reason(text):
        return "JSON with no explanation in it"
    words = _WORD.findall(_MARKUP.sub(" ", text))
    if not words:
        return "markup, JSON or symbols with no words"
    if all(w.lower() in _LABELS for w in words):
        return "only a verdict label, no reason"
    opened, rest = opening_stance(text)
    if opened is not None and not _WORD.search(rest):
        return "only the opening, no reason"
    if not complete and not _SENTENCE_END.search(text) and len(words) < _MIN_WORDS_UNFINISHED:
        return "cut off before a sentence"
    return None


def _normal(text: str) -> str:
    return " ".join(text.split()).lower()


def _echoes(text: str, prompt: JudgePrompt) -> bool:
    """The reply repeats the prompt: its section headings or quoted-block tags, its opening, or all of it."""
    if _BLOCK_TAG.search(text):
        return True
    headings = {line.strip() for line in prompt.user.splitlines() if line.startswith("## ")}
    if any(line.strip() in headings for line in text.splitlines()):
        return True
    reply = _normal(text)
    # the criterion restated is an argument about the verdict, checked by its stance (judgerl.judges.stance)
    user = _CRITERION.sub("", prompt.user)
    asked = [_normal(prompt.system), _normal(user)]
    if any(len(part) >= 40 and reply.startswith(part[:40]) for part in asked):
        return True
    return len(reply) >= 20 and any(reply in part for part in asked)


def _json_without_reason(text: str) -> bool:
    """The reply is a JSON value (fenced or not) with no explanation-like string in it (a verdict echoed)."""
    body = _FENCE.sub("", text).strip()
    if not body.startswith(("{", "[")):
        return False
    try:
        return not any(_WORD.search(s) for s in _explanations(json.loads(body)))
    except (ValueError, RecursionError):  # not JSON, or nested past what is worth reading
        return False


def _explanations(value: Any) -> list[str]:
    """The strings under explanation-like keys anywhere in a JSON value."""
    if isinstance(value, list):
        return [s for item in value for s in _explanations(item)]
    if not isinstance(value, dict):
        return []
    found = [str(v) for k, v in value.items() if str(k).lower() in _REASON_KEYS and isinstance(v, (str, list))]
    return found + [s for v in value.values() if isinstance(v, (dict, list)) for s in _explanations(v)]


def _repetition(text: str) -> str | None:
    """One token or phrase making up most of the text (a decoding loop), or None."""
    tokens = text.split()
    if len(tokens) >= 6 and Counter(t.lower() for t in tokens).most_common(1)[0][1] >= 0.5 * len(tokens):
        return "one token repeated"
    if sum(len(m.group(0)) for m in _CHAR_RUN.finditer(text)) >= 0.5 * len(text):
        return "one character repeated"
    if sum(len(m.group(0)) for m in _PHRASE_LOOP.finditer(text)) >= 0.6 * len(text):
        return "one phrase repeated"
    return None
