"""judgerl.stats.mcnemar_power and detectable_change: the exact power of McNemar's test, held to a simulation of
the test, and the smallest gain a "not significant" could have seen."""

from __future__ import annotations

import random

import pytest

from judgerl.stats import detectable_change, mcnemar_exact_counts, mcnemar_power


def test_exact_power_matches_a_simulation_of_the_test() -> None:
    rng = random.Random(5)
    gained_rate, lost_rate, n, draws = 0.115, 0.025, 128, 4000
    passes = 0
    for _ in range(draws):
        gained = lost = 0
        for _ in range(n):
            u = rng.random()
            gained += u < gained_rate
            lost += gained_rate <= u < gained_rate + lost_rate
        passes += gained > lost and mcnemar_exact_counts(gained, lost) < 0.05
    exact = mcnemar_power(gained_rate, lost_rate, n)
    assert exact == pytest.approx(passes / draws, abs=0.03)
    assert 0.5 < exact < 0.95  # a case where an off-by-one in the critical count would show


def test_no_true_change_passes_at_most_half_the_tests_level() -> None:
    # two-sided at 0.05, only a gain counts: under no change at most 2.5% of runs pass
    for share in (0.1, 0.3):
        assert mcnemar_power(share / 2, share / 2, 128) <= 0.025
    assert mcnemar_power(0.0, 0.0, 128) == 0.0


def test_a_larger_sample_has_more_power_and_detects_a_smaller_gain() -> None:
    assert mcnemar_power(0.1, 0.04, 128) < mcnemar_power(0.1, 0.04, 512)
    small, large = detectable_change(128, 0.14), detectable_change(512, 0.14)
    assert small is not None and large is not None and large < small


def test_the_detectable_gain_is_the_smallest_step_that_reaches_the_power() -> None:
    share = 0.2
    gain = detectable_change(64, share)
    assert gain is not None
    assert mcnemar_power((share + gain) / 2, (share - gain) / 2, 64) >= 0.8
    below = gain - 0.005
    assert mcnemar_power((share + below) / 2, (share - below) / 2, 64) < 0.8


def test_too_few_changed_pairs_can_detect_no_gain() -> None:
    # 64 pairs of which 5% change: about 3 changed pairs, and p < 0.05 needs 6 gains and no loss
    assert detectable_change(64, 0.05) is None


def test_the_training_guides_sizing_table_is_what_detectable_change_gives() -> None:
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text(encoding="utf-8")
    table = guide.split("| held-out prompts | 10% change |", 1)[1].split("\n\n", 1)[0]
    shares = (0.10, 0.15, 0.20, 0.30)
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    assert len(rows) == 4
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        n = int(cells[0])
        for share, cell in zip(shares, cells[1:], strict=True):
            gain = detectable_change(n, share)
            assert cell == ("-" if gain is None else f"{gain:+.1%}"), (n, share)
