from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

import pytest

from judgerl import Rubric
from judgerl.backends.base import JudgePrompt
from judgerl.samples import LabelledSample
from judgerl.validate.rubric import (
    RubricValidation,
    calibration_effect,
    compare_rubric,
    rubric_report,
    split_for_calibration,
)
from support.fakes import ScriptedBackend, criterion_of, response_of

RUBRIC = Rubric.from_dict(
    {"criteria": [{"name": "polite", "text": "The response is polite."}, {"name": "short", "text": "It is short."}]}
)
TEXT = {"The response is polite.": "polite", "It is short.": "short"}


def items(n: int = 40) -> list[LabelledSample]:
    """Sample i: polite label alternates, short label on every third; only even samples are labelled 'short'."""
    out = []
    for i in range(n):
        labels = {"polite": i % 2 == 0}
        if i % 2 == 0:
            labels["short"] = i % 3 == 0
        response = f"answer {i} " + " ".join(f"{k}={'yes' if v else 'no'}" for k, v in labels.items())
        out.append(LabelledSample(id=f"s{i}", prompt=f"Question {i}?", response=response, labels=labels))
    return out


def low_but_ranked(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
    """Ranks perfectly but sits below 0.5: PASS items at 0.30-0.45, FAIL items at 0.05-0.20; content-free 0.25."""
    name, body = TEXT[criterion_of(prompt)], response_of(prompt)
    if f"{name}=" not in body:
        return {"PASS": 0.25, "FAIL": 0.75}
    number = int(body.split()[1])
    p = (0.30 if f"{name}=yes" in body else 0.05) + (number % 4) * 0.05
    return {"PASS": p, "FAIL": 1 - p}


def test_report_hand_computed_on_a_low_calibrated_judge() -> None:
    data = items()
    validation = RubricValidation(RUBRIC, ScriptedBackend(low_but_ranked))
    rows = validation.run(data)
    assert len(rows) == 60  # 40 polite + 20 short labels, judged only where labelled
    report = rubric_report("scripted", "logprob", rows, RUBRIC.names, resamples=200)
    polite = next(c for c in report.criteria if c.name == "polite")
    # every verdict is FAIL at 0.5: agreement = share of FAIL labels, balanced accuracy 0.5, AUC 1
    assert polite.headline["agreement"].value == pytest.approx(0.5)
    assert polite.headline["balanced_accuracy"].value == pytest.approx(0.5)
    assert polite.headline["auc"].value == pytest.approx(1.0)
    assert polite.headline["kappa"].value == pytest.approx(0.0)
    assert polite.confusion.true_pass_judged_fail == 20 and polite.confusion.true_fail_judged_fail == 20
    short = next(c for c in report.criteria if c.name == "short")
    assert short.n == 20 and short.n_label_pass == sum(1 for i in range(0, 40, 2) if i % 3 == 0)
    assert report.overall.n == 60 and report.n_samples == 40
    # ECE by hand for 'polite': PASS rows at p = .30/.35/.40/.45, FAIL rows at .05/.10/.15/.20 (5 each, bins
    # of width .1): each PASS bin has rate 1, each FAIL bin rate 0
    pass_p = [0.30 + (i % 4) * 0.05 for i in range(0, 40, 2)]
    fail_p = [0.05 + (i % 4) * 0.05 for i in range(1, 40, 2)]
    expected = (sum(1 - p for p in pass_p) + sum(fail_p)) / 40
    assert polite.headline["ece"].value == pytest.approx(expected)


def test_calibration_fixes_the_threshold_on_held_apart_rows() -> None:
    data = items()
    validation = RubricValidation(RUBRIC, ScriptedBackend(low_but_ranked))
    rows = validation.run(data)
    by_criterion = defaultdict(list)
    for row in rows:
        by_criterion[row.criterion].append(row)
    calibration, test = {}, {}
    for name, members in by_criterion.items():
        calibration[name], test[name] = split_for_calibration(members, 6, seed=0)
        assert len(calibration[name]) == 6 and {r.label for r in calibration[name]} == {True, False}
        ids = {(r.sample_id, r.criterion) for r in calibration[name]}
        assert not ids & {(r.sample_id, r.criterion) for r in test[name]}  # held apart
    contextual = validation.contextual(calibration, data)
    assert contextual == {"polite": pytest.approx(0.25), "short": pytest.approx(0.25)}
    reports = {r.criterion: r for r in calibration_effect(test, calibration, contextual, resamples=200, seed=0)}
    pooled = reports["all"]
    assert pooled.balanced_accuracy["default_0.5"].value == pytest.approx(0.5)
    assert pooled.balanced_accuracy["fitted"].value == pytest.approx(1.0)
    assert pooled.balanced_accuracy["contextual"].value == pytest.approx(1.0)
    assert pooled.ece["contextual"].value < pooled.ece["default_0.5"].value
    assert 0.2 < reports["polite"].thresholds["fitted"] <= 0.30
    assert reports["polite"].n_test == 34 and pooled.n_test == 34 + 14


def test_self_consistency_matches_the_recorded_replies() -> None:
    seen: dict[str, list[str]] = defaultdict(list)

    def reply(prompt: JudgePrompt) -> str:
        nonce = prompt.system.split("the code ")[1].split(".")[0]
        body = response_of(prompt)
        flaky = int(body.split()[1]) % 2 == 1
        verdict = ("PASS" if int(nonce, 16) % 2 else "FAIL") if flaky else "PASS"
        seen[body].append(verdict)
        return json.dumps({"criteria": [{"name": n, "reason": "r", "verdict": verdict} for n in ("polite", "short")]})

    data = items(12)
    validation = RubricValidation(RUBRIC, ScriptedBackend(reply=reply, supports_logprobs=False), mode="generate")
    report = validation.self_consistency(data, repeats=3, resamples=100, seed=0)
    labels_per_sample = {item.response: len(item.labels) for item in data}
    stable = sum(labels_per_sample[body] for body, verdicts in seen.items() if len(set(verdicts)) == 1)
    assert all(len(v) == 3 for v in seen.values())
    assert report.n_items == 18 and report.n_unscored_items == 0
    assert report.rate.value == pytest.approx(stable / 18)
    assert report.rate.value < 1.0  # fresh nonces really changed the flaky verdicts


def test_unscored_rows_and_compare() -> None:
    data = items(10)
    broken = ScriptedBackend(
        lambda p, labels: "HTTP 503" if "answer 3 " in response_of(p) else low_but_ranked(p, labels)
    )
    rows = RubricValidation(RUBRIC, broken).run(data)
    bad = [r for r in rows if r.sample_id == "s3"]
    assert bad and all(r.passed is None and r.unscored_reason == "HTTP 503" for r in bad)
    report = rubric_report("x", "logprob", rows, RUBRIC.names, resamples=50)
    assert report.overall.n_unscored == len(bad)
    good = RubricValidation(RUBRIC, ScriptedBackend(low_but_ranked)).run(data)
    diff = compare_rubric(good, rows, resamples=50)
    assert diff["auc"].value == pytest.approx(0.0)
