"""Program rewards for the GSM8K example, with TRL's reward-function signature (``reward.functions``).

- ``overlap``: the unigram F1 of the reply's words and numbers against the reference solution's, the reward a user
  could write without a judge when each row has a reference (ROUGE-1 in spirit); it cannot tell a right final
  answer from a wrong one that reuses the reference's words.
- ``exact``: 1 when the reply's final number equals the reference's (``judgerl.checks.gsm8k``): the control run's
  reward, and the held-out measure of every run.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from judgerl.checks import gsm8k

_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z]+")
_CALCULATOR = re.compile(r"<<[^>]*>>")  # GSM8K's calculator annotations: not text a reply would write


def _text(completion: Any) -> str:
    if isinstance(completion, list):  # chat completions: [{"role": "assistant", "content": ...}]
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def tokens(text: str) -> Counter[str]:
    return Counter(_TOKEN.findall(_CALCULATOR.sub("", text).replace(",", "").lower()))


def unigram_f1(reply: str, reference: str) -> float:
    got, want = tokens(reply), tokens(reference)
    common = sum((got & want).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def overlap(prompts: list[Any], completions: list[Any], reference: list[str], **kwargs: Any) -> list[float]:
    return [unigram_f1(_text(c), r or "") for c, r in zip(completions, reference, strict=True)]


def exact(prompts: list[Any], completions: list[Any], reference: list[str], **kwargs: Any) -> list[float]:
    return [float(bool(gsm8k.check(r or "", _text(c)))) for c, r in zip(completions, reference, strict=True)]
