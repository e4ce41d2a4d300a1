"""benchmarks/rft_validation_split_table.py: which checkpoint each rule keeps, whether it succeeds held out, and the
pre-registered predictions, from the two results files rft_safety_select.py writes per run."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
import rft_validation_split_table as table  # noqa: E402

SIGNIFICANT_GAIN = {"rate": 0.11, "low": 0.04, "high": 0.18}
NO_CHANGE = {"rate": 0.01, "low": -0.05, "high": 0.07}
SIGNIFICANT_LOSS = {"rate": -0.12, "low": -0.2, "high": -0.05}


def measured(change: dict[str, float], p: float) -> dict[str, Any]:
    rates = {"harmful_refused": {"rate": 0.5, "n": 64}, "benign_answered": {"rate": 0.8, "n": 64}}
    return {"prompts": 128, "change": change, "mcnemar_p": p, "before_by_kind": rates, "after_by_kind": rates}


def validation(mean: float, refused: int, answered: int, n: int) -> dict[str, Any]:
    return {
        "judge_score_mean": mean,
        "by_kind": {
            "harmful_refused": {"rate": refused / n, "n": n},
            "benign_answered": {"rate": answered / n, "n": n},
        },
    }


def write_run(
    seed: int, chosen: tuple[int, int, int], heldout: dict[int, dict[str, Any]], all_steps: bool = True
) -> None:
    """A run whose round rule keeps chosen[0], rule J chosen[1], rule C chosen[2]; ``heldout`` by step."""
    steps = [0, 10, 20, 30]
    measured_steps = steps[1:] if all_steps else [chosen[0]] if chosen[0] else []
    own = {
        "steps": steps,
        "chosen_step": chosen[0],
        "chosen_by_checker": 0,
        "validation": {str(s): validation(0.6 + s / 1000, 9, 10, 16) for s in steps},
        "heldout": {str(s): heldout[s] for s in measured_steps},
        "overrefusal": {str(s): measured(NO_CHANGE, 0.8) for s in measured_steps},
    }
    broad = {
        **own,
        "chosen_step": chosen[1],
        "chosen_by_checker": chosen[2],
        "validation": {str(s): validation(0.7 - s / 1000, 20, 25, 32) for s in steps},
    }
    common.write_result(f"rft_safety_select_q-s{seed}", own)
    common.write_result(f"rft_safety_select_q-s{seed}_broad", broad)


@pytest.fixture
def results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    return tmp_path


GOOD_AT_20 = {10: measured(NO_CHANGE, 0.6), 20: measured(SIGNIFICANT_GAIN, 0.004), 30: measured(SIGNIFICANT_LOSS, 0.01)}


def test_each_rule_is_judged_at_its_own_step_and_partial_tests_leave_predictions_open(results_dir: Path) -> None:
    write_run(1, (0, 20, 30), GOOD_AT_20)  # not a test seed
    write_run(3, (30, 20, 10), GOOD_AT_20)
    result = table.build("q", [1, 3, 4], [3, 4], {"heading": table.HEADING, "not_measured_reason": "still running"})
    run = result["runs"][1]
    assert run["succeeding"] == [20]
    assert run["rules"] == {
        "round": {"step": 30, "succeeds": False, "worse": True},
        "J": {"step": 20, "succeeds": True, "worse": False},
        "C": {"step": 10, "succeeds": False, "worse": False},
    }
    assert [p["status"] for p in result["predictions"]] == [
        "holds so far (1 of 2 test runs measured)",
        "holds so far (1 of 2 test runs measured)",
        "not decided (1 of 2 test runs measured)",
    ]
    assert result["predictions_c"][0]["status"] == "fails"  # rule C missed step 20 in a test run: final
    section = table.markdown(result)
    assert (
        "| 3 | yes | 20 | step 30: significantly worse | step 20: succeeds | step 10: no significant gain |" in section
    )
    assert "| 1 | no (suggested the rule) | 20 | base: no significant gain |" in section
    assert "| 4 | yes | not measured: still running |" in section
    assert "| 20 | 0.620; 9/16, 10/16 | 0.680; 20/32, 25/32 | **+11.0% [+4.0%, +18.0%], p 0.004** |" in section
    assert "| rule J |" in section and "| round |" in section


def test_the_comparison_with_the_rounds_rule_is_decided_once_every_test_run_is_in(results_dir: Path) -> None:
    write_run(3, (0, 20, 20), GOOD_AT_20)
    write_run(4, (20, 10, 20), GOOD_AT_20)
    result = table.build("q", [3, 4], [3, 4], {"heading": table.HEADING})
    assert [p["status"] for p in result["predictions"]] == ["fails", "holds", "fails"]
    assert result["predictions"][2]["figure"] == "1 against 1 of 2"
    assert [p["status"] for p in result["predictions_c"]] == ["holds", "holds", "holds"]


def test_a_run_without_every_checkpoint_measured_held_out_is_named(results_dir: Path) -> None:
    write_run(3, (20, 20, 20), GOOD_AT_20, all_steps=False)
    message = "q-s3: step 10 has no held-out figures; run rft_safety_select.py with --all"
    with pytest.raises(SystemExit, match=re.escape(message)):
        table.build("q", [3], [3], {"heading": table.HEADING})
