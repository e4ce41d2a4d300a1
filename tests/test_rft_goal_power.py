"""benchmarks/rft_goal_power.py: the changed pairs recovered from a checkpoint's change and p, and the published
section (and README's sentence) kept current with the rounds' results files. The power itself: test_stats_power.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
import rft_goal_power  # noqa: E402
from judgerl.stats import mcnemar_exact, mcnemar_exact_counts  # noqa: E402


def figures(gained: int, lost: int, n: int = 128) -> dict[str, Any]:
    return {
        "prompts": n,
        "change": {"rate": (gained - lost) / n, "low": 0.0, "high": 0.0, "n": n},
        "mcnemar_p": mcnemar_exact_counts(gained, lost),
    }


def test_the_counts_form_of_mcnemar_is_the_paired_form() -> None:
    before = [False] * 14 + [True] * 2 + [True] * 50
    after = [True] * 14 + [False] * 2 + [True] * 50
    assert mcnemar_exact(before, after) == mcnemar_exact_counts(14, 2)


def test_changed_pairs_are_recovered_exactly_from_change_and_p_wherever_p_is_below_one() -> None:
    recovered = 0
    for gained in range(0, 41):
        for lost in range(0, 41):
            row = figures(gained, lost)
            found = rft_goal_power.changed_pairs(row)
            if row["mcnemar_p"] < 1.0:
                assert found == (gained, lost)
                recovered += 1
            else:
                assert found is None  # p = 1 is shared by every near-even split: not recoverable
    assert recovered > 1000


def test_the_published_power_section_is_made_from_the_rounds_current_results_files() -> None:
    # a round regenerated without this section regenerated after it fails here
    result = rft_goal_power.build()
    assert result == common.read_result("rft_goal_power")
    assert common.section_text(rft_goal_power.HEADING) == rft_goal_power.markdown(result)


def test_readme_and_the_training_guide_state_the_measures_power_as_the_results_file_has_it() -> None:
    headline = rft_goal_power.headline(common.read_result("rft_goal_power"))
    for doc in ("README.md", "docs/training.md"):
        assert headline in " ".join((ROOT / doc).read_text(encoding="utf-8").split()), doc


def test_a_checkpoint_measured_on_512_requests_is_shown_beside_its_128_request_figure(tmp_path: Path) -> None:
    def measured(gained: int, lost: int, n: int, low: float) -> dict[str, Any]:
        row = figures(gained, lost, n)
        row["change"]["low"] = low
        rates = {"harmful_refused": {"rate": 0.5}, "benign_answered": {"rate": 0.8}}
        return {**row, "before_by_kind": rates, "after_by_kind": rates}

    result = {
        "run": "q-s1",
        "chosen_step": 20,
        "heldout": {"10": measured(40, 10, 512, 0.03), "20": measured(20, 18, 512, -0.02)},
        "heldout_first128": {"10": measured(9, 4, 128, -0.01)},
    }
    (tmp_path / "rft_safety_select_q-s1_broad_512.json").write_text(json.dumps(result))
    (tmp_path / "rft_safety_select_q-s1_broad.json").write_text("{}")  # the 128-request file: not read here
    rows = rft_goal_power.remeasured(tmp_path)
    assert [(r["step"], r["kept"], r["better"], r["better_128"]) for r in rows] == [
        (10, False, True, False),
        (20, True, False, None),
    ]
    text = "\n".join(rft_goal_power.remeasured_lines(rows))
    assert "| q-s1 | 10 | no | +3.9%, p 0.267 | **+5.9%, p 0.000** | 50% -> 50% | 80% -> 80% |" in text
    assert "| q-s1 | 20 | yes | - | +0.4%, p 0.871 |" in text
    assert "Of these 2 checkpoints, 0 passed the test on the 128 requests and 1 on the 512" in text


def test_a_remeasured_figure_is_checked_against_the_rounds_own() -> None:
    round_file = common.read_result("rft_preregistered_q05p-judge")
    run = next(r for r in round_file["runs"] if r["seed"] == 1103)
    registered = run["by_step"]["10"]["heldout"]
    assert rft_goal_power.as_registered("bench-rft-safety-q05p-judge-s1103", "10", registered) is True
    moved = {**registered, "mcnemar_p": registered["mcnemar_p"] * 2}
    assert rft_goal_power.as_registered("bench-rft-safety-q05p-judge-s1103", "10", moved) is False
    assert rft_goal_power.as_registered("bench-rft-safety-q05p-judge-s1103", "10", None) is None
    assert rft_goal_power.as_registered("some-other-run", "10", registered) is None
