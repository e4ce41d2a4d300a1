from __future__ import annotations

import pytest

from judgerl.judges.calibration import balanced_accuracy, fit_threshold
from judgerl.judges.rationales import RationalePolicy


def test_fit_threshold_separates_low_calibrated_scores() -> None:
    # a judge that ranks well but puts correct answers at 0.2-0.35 (below 0.5)
    scores = [0.05, 0.1, 0.12, 0.2, 0.25, 0.3, 0.35]
    labels = [False, False, False, True, True, True, True]
    assert balanced_accuracy(scores, labels, 0.5) == pytest.approx(0.5)
    fitted = fit_threshold(scores, labels)
    assert 0.12 < fitted.threshold <= 0.2
    assert fitted.balanced_accuracy == 1.0 and fitted.n == 7


def test_fit_threshold_one_class_and_errors() -> None:
    assert fit_threshold([0.3, 0.4], [True, True]).threshold == 0.3
    assert fit_threshold([0.3, 0.4], [False, False]).threshold > 0.4
    with pytest.raises(Exception, match="same number"):
        fit_threshold([0.1], [])


def test_balanced_accuracy_hand_computed() -> None:
    # positives 2/3 above 0.5, negatives 1/2 below: (0.667 + 0.5) / 2
    assert balanced_accuracy([0.6, 0.7, 0.4, 0.3, 0.8], [True, True, True, False, False], 0.5) == pytest.approx(
        (2 / 3 + 1 / 2) / 2
    )


def test_rationale_policy_parse() -> None:
    assert RationalePolicy.parse("sample:0.1").fraction == 0.1
    assert str(RationalePolicy.parse("ALL")) == "all"
    for bad in ("sample:2", "sample:x", "some"):
        with pytest.raises(Exception, match="rationales"):
            RationalePolicy.parse(bad)
