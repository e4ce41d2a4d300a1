"""benchmarks/rft_average_round.py: round 11's section applies its registered criterion on the 512 held-out requests
and its predictions A1-A3, and its results file counts in the rounds' table on the first 128 as every round does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.safety_benchmarks import run_parser  # noqa: F401  (puts benchmarks/ on the path)


def measure(rate: float, low: float, p: float, benign: float = 0.8, harmful: float = 0.6) -> dict[str, Any]:
    return {
        "change": {"rate": rate, "low": low, "high": low + 0.08},
        "mcnemar_p": p,
        "prompts": 512,
        "before_by_kind": {"harmful_refused": {"rate": 0.58}, "benign_answered": {"rate": 0.8}},
        "after_by_kind": {"harmful_refused": {"rate": harmful}, "benign_answered": {"rate": benign}},
    }


def write_run(common: Any, seed: int, average: dict[str, Any], last: dict[str, Any], **more: Any) -> None:
    name = f"q05q-judge-s{seed}"
    common.write_result(
        f"rft_safety_{name}",
        {
            "judge_gate": {"judge_auc": 0.9, "low": 0.8, "high": 0.97, "passed": more.get("passed", True)},
            "train_seconds": 3000.0,
            "step_time": [150.0] * 20,
            "machine": {},
        },
    )
    common.write_result(
        f"rft_average_{name}_512",
        {
            "averaged": {"steps": [5, 10, 15, 20]},
            "heldout": average,
            "heldout_first128": more.get("average_128", average),
            "overrefusal": more.get("average_hard", measure(0.0, -0.1, 1.0)),
            "checkpoints": {
                "20": {
                    "heldout": last,
                    "heldout_first128": more.get("last_128", last),
                    "overrefusal": more.get("last_hard", measure(0.0, -0.1, 1.0)),
                }
            },
            "seconds": 4000.0,
        },
    )


def test_the_goal_and_predictions_on_the_512_and_the_rounds_counts_on_the_128(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import common
    import rft_average_round
    import rft_rounds_table

    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(rft_average_round, "RESULTS", tmp_path)
    # 1201: the average better on the 512 (not on the 128), above step 20; 1202: the average not significant,
    # step 20 significantly worse on the over-refusal split, its gate failed, swung to refusing (A2 fails)
    write_run(
        common, 1201, measure(0.07, 0.04, 0.0001), measure(0.04, -0.01, 0.12), average_128=measure(0.05, -0.01, 0.2)
    )
    write_run(
        common,
        1202,
        measure(0.02, -0.02, 0.4, benign=0.6),
        measure(0.03, 0.01, 0.03),
        last_hard=measure(-0.2, -0.3, 0.01),
        passed=False,
    )
    result = rft_average_round.build("q05q-judge", [1201, 1202, 1203], {"not_run_reason": "not started"})
    goal = result["goal"]
    assert (goal["success_average"], goal["success_last_512"], goal["worse_512"]) == (1, 1, 1)
    assert (goal["a1"], goal["a2"]) == (1, 1)  # 1202's average is below its step 20, and answers 60% of benign
    assert goal["a3_mean"] == pytest.approx(0.045) and goal["met"] is False
    # the rounds' form: on the first 128, gate passed: 1201's average is not significant there, 1202's gate failed
    assert result["tally"] == {"success_chosen": 0, "success_last": 0, "worse": 1, "met": False}
    section = rft_average_round.markdown(result)
    assert "**1 of 3** averages improved significantly (goal 5); in **1** of the runs an average" in section
    assert "| 1203 | not run: not started |" in section
    row = next(line for line in section.splitlines() if line.startswith("| 1202 "))
    assert "0.90 [0.80, 0.97], failed" in row and "**-20.0% [-30.0%, -22.0%], p 0.010**" in row
    assert "(A3) the averages' mean change +4.5% (predicted: at least +5.0%)" in section
    rounds_row = rft_rounds_table.round_row("q05q-judge", {**result, "heading": rft_average_round.HEADING})
    assert rounds_row["rule"] == "none: the average of the checkpoints is the policy"
    assert rounds_row["change"] == "the checkpoints averaged"
    assert (rounds_row["ran"], rounds_row["gates_failed"], rounds_row["last_step"]) == (2, 1, 20)
    assert (rounds_row["success_any"], rounds_row["worse_any"], rounds_row["all_measured"]) == (0, 1, False)


def test_the_power_section_reads_an_averaged_round_beside_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the average is not a step: the checkpoints' list must still sort and mark it (it did int(step) before)
    import common
    import rft_average_round
    import rft_goal_power

    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(rft_average_round, "RESULTS", tmp_path)
    monkeypatch.setattr(rft_goal_power, "RESULTS", tmp_path)
    write_run(common, 1201, measure(0.07, 0.04, 0.0001), measure(0.04, -0.01, 0.12))
    common.write_result("rft_preregistered_q05q-judge", rft_average_round.build("q05q-judge", [1201], {}))
    rows = rft_goal_power.checkpoints()
    assert [(r["step"], r["chosen"]) for r in rows] == [(20, False), ("average", True)]
    assert rows[1]["better"] is True and rows[0]["better"] is False
