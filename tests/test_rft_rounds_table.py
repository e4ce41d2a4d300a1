"""benchmarks/rft_rounds_table.py: every pre-registered round's tally in one table, kept current with the rounds'
own results files, counting a checkpoint as better only where the run's gate passed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
import rft_rounds_table  # noqa: E402

BETTER = {"change": {"mean": 0.1, "low": 0.04, "high": 0.16}, "mcnemar_p": 0.004}
FLAT = {"change": {"mean": 0.02, "low": -0.01, "high": 0.05}, "mcnemar_p": 0.4}
WORSE = {"change": {"mean": -0.1, "low": -0.16, "high": -0.04}, "mcnemar_p": 0.004}


def run(chosen: int, by_step: dict[str, dict[str, Any]] | None = None, passed: bool = True) -> dict[str, Any]:
    return {
        "gate": {"passed": passed},
        "validation": {"0": 0.6, "10": 0.6, "20": 0.6},
        "chosen_step": chosen,
        "last_step": 20,
        "chosen": by_step[str(chosen)] if by_step and chosen else None,
        "chosen_overrefusal": FLAT if chosen else None,
        "last": (by_step or {}).get("20", FLAT),
        "last_overrefusal": FLAT,
        "by_step": {s: {"heldout": m, "overrefusal": FLAT} for s, m in (by_step or {}).items()},
    }


def test_the_published_rounds_table_is_made_from_the_rounds_current_results_files() -> None:
    # a round regenerated (a run added, a tally changed) without this table regenerated after it fails here
    assert rft_rounds_table.build() == common.read_result("rft_rounds")


def test_a_checkpoint_not_chosen_counts_as_better_at_some_checkpoint_only_with_the_gate_passed() -> None:
    steps = {"10": BETTER, "20": FLAT}
    assert rft_rounds_table.any_better(run(0, steps))
    assert not rft_rounds_table.any_better(run(0, steps, passed=False))
    assert not rft_rounds_table.any_better(run(20, {"10": FLAT, "20": FLAT}))
    assert rft_rounds_table.all_measured(run(0, steps))
    # a round that measured only the chosen and the last: step 10 was never measured
    only_last = run(0, {"20": FLAT})
    assert not rft_rounds_table.all_measured(only_last)


def test_a_checkpoint_not_kept_that_was_significantly_worse_counts_as_worse_at_some_checkpoint() -> None:
    # seed 1002 of round 9: steps 5-15 significantly less safe, the base kept, step 20 not significant
    steps = {"10": WORSE, "20": FLAT}
    assert rft_rounds_table.any_worse(run(0, steps))
    assert rft_rounds_table.any_worse(run(0, steps, passed=False))  # a harm counts whatever the gate said
    assert not rft_rounds_table.any_worse(run(20, {"10": FLAT, "20": FLAT}))
    on_the_other_split = run(0, {"10": FLAT, "20": FLAT})
    on_the_other_split["by_step"]["10"]["overrefusal"] = WORSE
    assert rft_rounds_table.any_worse(on_the_other_split)
    with_the_base = run(0, {"20": FLAT})
    with_the_base["by_step"]["0"] = {"heldout": WORSE, "overrefusal": WORSE}  # the base is the yardstick, not a step
    assert not rft_rounds_table.any_worse(with_the_base)


def test_a_rounds_change_is_read_from_its_heading() -> None:
    heading = "## RFT for safety: pre-registered runs with groups of eight (seeds 501-505)"
    assert rft_rounds_table.round_change(heading) == "groups of eight"
    assert rft_rounds_table.round_change(None) == rft_rounds_table.FIRST_ROUND


def test_a_round_whose_amendment_changed_some_runs_arithmetic_says_which_in_its_change() -> None:
    registered = {"arithmetic": "policy bfloat16 (float32 head), judge bfloat16, native bf16", "seeds": [1101, 1102]}
    amended = {"arithmetic": "policy float32, judge float32, no native bf16", "seeds": [1103]}
    heading = "## RFT for safety: pre-registered runs paid the judge's verdict (seeds 1101-1105)"
    tally = {"success_chosen": 0, "success_last": 0, "worse": 0, "met": False}
    result = {"heading": heading, "seeds": [1101, 1105], "runs": [], "tally": tally}
    assert rft_rounds_table.round_row("p", result)["change"] == "paid the judge's verdict"
    result["by_arithmetic"] = [registered, amended]
    assert rft_rounds_table.round_row("p", result)["change"] == (
        "paid the judge's verdict; seed 1103 run as policy float32, judge float32, no native bf16 (its amendment)"
    )


def test_the_sums_row_adds_the_rounds_and_the_goal_sentence_names_no_round_that_did_not_meet_it() -> None:
    result = rft_rounds_table.build()
    for key, total in result["total"].items():
        assert total == sum(row[key] for row in result["rounds"])
    section = rft_rounds_table.markdown(result)
    assert ("No round has met its goal" in section) == (not any(row["met"] for row in result["rounds"]))


def test_readme_the_training_guide_and_the_demos_last_line_say_the_rounds_sum_as_the_results_file_has_it() -> None:
    from judgerl import demo

    said = rft_rounds_table.headline(common.read_result("rft_rounds"))
    for doc in ("README.md", "docs/training.md"):
        assert said in " ".join((ROOT / doc).read_text(encoding="utf-8").split()), doc
    assert demo.BENCHMARK_RESULT.startswith(said)
