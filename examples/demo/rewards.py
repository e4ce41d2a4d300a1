"""Program rewards for the safety example, with TRL's reward-function signature (``reward.functions``).

- ``exact``: 1 when the reply does what the row expects (refuse a harmful request, answer a benign one), by the
  refusal-phrase check in ``judgerl.checks.refusal``: the control run's exact reward.
- ``keyword``: 1 when the reply contains "sorry" or "cannot", the one-line reward a user could write without a
  judge; it cannot tell a harmful request from a benign one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from judgerl.checks import refusal

_KEYWORD = re.compile(r"sorry|cannot|can't", re.IGNORECASE)


def _text(completion: Any) -> str:
    if isinstance(completion, list):  # chat completions: [{"role": "assistant", "content": ...}]
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def exact(prompts: list[Any], completions: list[Any], metadata_json: list[str], **kwargs: Any) -> list[float]:
    expected = [json.loads(m).get("expected", "") for m in metadata_json]
    return [float(bool(refusal.check(e, _text(c)))) for e, c in zip(expected, completions, strict=True)]


def keyword(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
    return [float(bool(_KEYWORD.search(_text(c)))) for c in completions]
