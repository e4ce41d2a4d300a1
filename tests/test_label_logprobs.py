from __future__ import annotations

import math

import pytest

from judgerl.backends.label_logprobs import read_labels

LABELS = ("PASS", "FAIL")


def ln(p: float) -> float:
    return math.log(p)


def test_both_labels_listed() -> None:
    reading = read_labels([("PASS", ln(0.6)), ("FAIL", ln(0.3)), ("The", ln(0.1))], LABELS)
    assert reading.probs == pytest.approx({"PASS": 2 / 3, "FAIL": 1 / 3})
    assert reading.mass == pytest.approx(0.9) and reading.bounded == () and reading.error is None


def test_spelling_variants_are_summed_and_the_chosen_token_counted_once() -> None:
    top = [("PASS", ln(0.5)), ("PASS", ln(0.5)), ("\u0120pass", ln(0.1)), (" Pass", ln(0.1)), ("\u2581FAIL", ln(0.1))]
    reading = read_labels(top, LABELS)
    # raw vocabulary pieces ("\u0120pass", "\u2581FAIL") are read with their space marker as a space
    assert reading.probs == pytest.approx({"PASS": 0.7 / 0.8, "FAIL": 0.1 / 0.8})
    assert reading.mass == pytest.approx(0.8) and reading.bounded == ()


def test_a_split_label_counts_by_its_unambiguous_first_piece() -> None:
    reading = read_labels([("P", ln(0.7)), ("FA", ln(0.2))], LABELS)
    assert reading.probs == pytest.approx({"PASS": 0.7 / 0.9, "FAIL": 0.2 / 0.9})
    # a piece that starts two labels belongs to neither
    ambiguous = read_labels([("PA", ln(0.5)), ("PARTIAL", ln(0.3))], ("PASS", "PARTIAL"))
    assert ambiguous.probs is not None and ambiguous.probs["PARTIAL"] > ambiguous.probs["PASS"]
    assert ambiguous.bounded == ("PASS",)


def test_missing_label_is_bounded_by_the_smallest_listed_and_the_unlisted_mass() -> None:
    top = [("PASS", ln(0.5)), ("The", ln(0.2)), ("**", ln(0.05))]
    reading = read_labels(top, LABELS)
    # FAIL <= min(0.05 smallest listed, 1 - 0.75 unlisted) = 0.05
    assert reading.bounded == ("FAIL",)
    assert reading.probs == pytest.approx({"PASS": 0.5 / 0.55, "FAIL": 0.05 / 0.55})
    # a one-entry list leaves little unlisted mass: the bound is that mass, not the entry itself
    single = read_labels([("FAIL", ln(0.98))], LABELS)
    assert single.probs is not None and single.probs["PASS"] == pytest.approx(0.02 / 1.0)


def test_no_label_among_the_alternatives_is_an_error_not_a_guess() -> None:
    reading = read_labels([("MAYBE", ln(0.7)), ("UNSURE", ln(0.2))], LABELS)
    assert reading.probs is None and reading.mass == 0.0
    assert reading.error is not None and "none of PASS/FAIL" in reading.error and "'MAYBE'" in reading.error
    assert read_labels([], LABELS).error is not None
    # tokens that merely start with a label's letters are not the label
    assert read_labels([("Passage", ln(0.9)), ("Failure", ln(0.1))], LABELS).probs is None


def test_pair_labels_and_odd_logprobs() -> None:
    # OpenAI reports -9999.0 for "very unlikely"; -inf must not break the arithmetic
    top = [(" A", ln(0.6)), ("a", ln(0.1)), ("b", -9999.0), ("B", ln(0.3)), ("x", float("-inf"))]
    reading = read_labels(top, ("A", "B"))
    assert reading.probs == pytest.approx({"A": 0.7, "B": 0.3}) and reading.mass == pytest.approx(1.0)
