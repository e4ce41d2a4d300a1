"""Which verdicts get a generated rationale: ``none``, ``failures``, ``all`` or ``sample:<fraction>``.

In logprob mode rationales cost a generation each (10+ s on a CPU judge), so by default only failures get one.
Sampling is deterministic per (sample id, criterion) so a rerun explains the same verdicts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from judgerl.errors import JudgerlError


@dataclass(frozen=True)
class RationalePolicy:
    kind: str = "failures"
    fraction: float = 0.0

    @classmethod
    def parse(cls, text: str | RationalePolicy) -> RationalePolicy:
        if isinstance(text, RationalePolicy):
            return text
        value = text.strip().lower()
        if value in {"none", "failures", "all"}:
            return cls(kind=value)
        if value.startswith("sample:"):
            try:
                fraction = float(value.split(":", 1)[1])
            except ValueError:
                fraction = -1.0
            if 0.0 <= fraction <= 1.0:
                return cls(kind="sample", fraction=fraction)
        raise JudgerlError(f"rationales: '{text}' is not one of none, failures, all, sample:<fraction in 0..1>")

    def wants(self, sample_id: str, criterion: str, passed: bool | None) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "failures":
            return passed is False
        if self.kind == "sample":
            digest = hashlib.sha256(f"{sample_id}\x1f{criterion}".encode()).digest()
            return int.from_bytes(digest[:8], "big") / 2**64 < self.fraction
        return False

    def __str__(self) -> str:
        return f"sample:{self.fraction}" if self.kind == "sample" else self.kind
