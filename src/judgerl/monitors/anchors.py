"""Anchor set: fixed responses known to be good or bad, re-judged during training to catch a drifting judge.

A JSONL file of rubric samples with one extra field, ``expected``: ``good`` or ``bad``::

    {"id": "a1", "prompt": "What is 2+2?", "response": "4", "expected": "good"}
    {"id": "a2", "prompt": "What is 2+2?", "response": "5, trust me.", "expected": "bad"}

``with_master_keys`` adds, for every prompt of the set, the bare "master key" replies that fool LLM judges
without answering anything (Zhao et al. 2025, "One Token to Fool LLM-as-a-Judge"), as known-bad anchors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from judgerl.errors import SampleError
from judgerl.samples import Sample, load_rows, prompt_text

#: replies that say nothing yet pass many judges (reasoning openers and punctuation)
MASTER_KEYS: tuple[str, ...] = ("Let's solve this problem step by step.", "Solution", "Thought process:", ":", ".")
MASTER_KEY_PREFIX = "master-key-"


class AnchorSample(Sample):
    """A sample whose right verdict is known."""

    expected: Literal["good", "bad"]


def load_anchors(path: str | Path) -> list[AnchorSample]:
    """Read an anchor set; a missing or invalid ``expected`` names the line and the fix."""
    path = Path(path)

    def check(number: int, raw: dict[str, Any]) -> None:
        if "expected" not in raw:
            raise SampleError(f'{path}:{number}: field \'expected\' is missing (add "expected": "good" or "bad")')

    anchors = [anchor for _, anchor in load_rows(path, AnchorSample, default_id=lambda n: f"anchor-{n}", check=check)]
    if not any(a.expected == "good" for a in anchors) or not any(a.expected == "bad" for a in anchors):
        raise SampleError(f"{path}: an anchor set needs at least one 'good' and one 'bad' response")
    return anchors


def with_master_keys(anchors: list[AnchorSample]) -> list[AnchorSample]:
    """The anchors plus each master-key reply to each distinct prompt (same reference and metadata), as 'bad'."""
    added: list[AnchorSample] = []
    prompts: dict[str, AnchorSample] = {}
    for anchor in anchors:
        prompts.setdefault(prompt_text(anchor.prompt), anchor)
    for number, anchor in enumerate(prompts.values(), start=1):
        for k, reply in enumerate(MASTER_KEYS, start=1):
            added.append(
                anchor.model_copy(
                    update={"id": f"{MASTER_KEY_PREFIX}{number}-{k}", "response": reply, "expected": "bad"}
                )
            )
    return anchors + added
