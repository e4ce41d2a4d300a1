"""A judge gate's saved figures (``judge_gate.json``) written for a test: the calibrated rule reads its thresholds
from them (``judgerl select --rule calibrated``, ``benchmarks/rft_safety_select.py``)."""

from __future__ import annotations

from pathlib import Path


def write_gate(folder: Path, groups: dict[str, tuple[float, float]]) -> None:
    """FOLDER/judge_gate.json: a gate whose sets of criteria have these (mean score passed, mean score failed)."""
    from judgerl.train.gate import GateResult, GroupAuc

    gate = GateResult(
        checker="refusal",
        replies=8,
        checker_passed=4,
        judge_auc=0.9,
        low=0.8,
        high=1.0,
        min_auc=0.8,
        passed=True,
        seconds=1.0,
        groups=[
            GroupAuc(
                criteria=c,
                replies=4,
                checker_passed=2,
                auc=1.0,
                low=1.0,
                high=1.0,
                mean_score_passed=p,
                mean_score_failed=f,
            )
            for c, (p, f) in groups.items()
        ],
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "judge_gate.json").write_text(gate.model_dump_json())
