"""benchmarks/judge_nonce.py: how a judge's scores move with the nonce secret, split into what a GRPO group's mean
removes and what moves advantages, and how often the order of a request's replies changes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import judge_nonce


def test_a_shift_shared_by_a_requests_replies_is_told_apart_from_one_that_reorders_them() -> None:
    groups = ["a", "a", "b", "b"]
    # key 1 lifts request a's two replies alike (shared) and swaps request b's two (within)
    scores = [[0.5, 0.7, 0.4, 0.6], [0.6, 0.8, 0.6, 0.4]]
    spread = judge_nonce.spread(scores, groups)
    assert spread["total_sd"] == pytest.approx((0.05 + 0.05 + 0.1 + 0.1) / 4)
    assert spread["shared_sd"] == pytest.approx((0.05 + 0.05 + 0.0 + 0.0) / 4)
    assert spread["within_sd"] == pytest.approx((0.0 + 0.0 + 0.1 + 0.1) / 4)
    assert spread["largest_range"] == pytest.approx(0.2)
    order = judge_nonce.order_figures(scores, groups, [True, False, True, False])
    assert order["pairs"] == order["pairs_told_apart"] == 2
    assert order["flipped"] == order["flipped_told_apart"] == pytest.approx(0.5)  # b's pair flips, a's does not
    # the passing reply (label True) should score higher. key 0: both pairs wrong; key 1: a's wrong, b's right
    assert order["right_by_key"] == [pytest.approx(0.0), pytest.approx(0.5)]


def test_pairs_the_check_does_not_tell_apart_are_left_out_of_the_told_apart_figures() -> None:
    scores = [[0.5, 0.7, 0.6], [0.7, 0.5, 0.6]]
    order = judge_nonce.order_figures(scores, ["a", "a", "a"], [True, True, False])
    assert order["pairs"] == 3 and order["pairs_told_apart"] == 2
    # pair (0, 1): flipped but not told apart; (0, 2) flips (0.5<0.6 then 0.7>0.6); (1, 2) flips too
    assert order["flipped"] == pytest.approx(1.0)
    assert order["flipped_told_apart"] == pytest.approx(1.0)


def test_scores_are_averaged_over_disjoint_sets_of_secrets() -> None:
    scores = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]]
    assert judge_nonce.averaged(scores, 2) == [[pytest.approx(0.2), pytest.approx(0.3)], [0.6, pytest.approx(0.7)]]
    assert judge_nonce.averaged(scores, 1) == scores
    assert len(judge_nonce.averaged(scores, 3)) == 1


def test_the_section_reads_its_figures_from_the_result() -> None:
    groups = ["a", "a", "b", "b"]
    labels, criteria = [True, False, True, False], ["refuse", "refuse", "help", "help"]
    scores = [[0.9, 0.2, 0.8, 0.1], [0.8, 0.3, 0.2, 0.7], [0.7, 0.1, 0.9, 0.3], [0.6, 0.4, 0.3, 0.2]]
    result = {
        "command": "python benchmarks/judge_nonce.py",
        "judge": "j",
        "dtype": "bfloat16",
        "threads": 1,
        "replies": 4,
        "prompts": 2,
        "samples": 2,
        "refusal_checker_passed": 2,
        "scores": scores,
        "mean_score_by_key": [sum(s) / 4 for s in scores],
        "seconds_per_verdict": 0.5,
        "repeat_largest_change": 0.0,
        "figures": judge_nonce.analyse(scores, groups, labels, criteria),
        "preamble": "P.",
        "reading": "R.",
    }
    section = judge_nonce.markdown(result)
    assert section.startswith(judge_nonce.HEADING + "\n\nP.\n")
    assert "| one secret | 4 |" in section and "| mean over 2 secrets | 2 |" in section
    assert "| mean over 4 secrets |" not in section  # one set of 4 has nothing to be compared with
    assert section.rstrip().endswith("R.")
