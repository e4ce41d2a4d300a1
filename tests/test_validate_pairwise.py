from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from judgerl import PairSample
from judgerl.backends.base import JudgePrompt
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.validate.loaders import LabelledPair, load_labelled_pairs
from judgerl.validate.pairwise import compare_pairwise, pairwise_report, run_pairwise
from support.fakes import ScriptedBackend
from support.real_models import PUBLIC_DATA

LLMBAR = PUBLIC_DATA / "llmbar" / "LLMBar__Natural.json"


def shown(prompt: JudgePrompt) -> tuple[str, str]:
    first = prompt.user.split("## Response A\n", 1)[1].split("\n", 1)[1].split("\n</response_a", 1)[0]
    second = prompt.user.split("## Response B\n", 1)[1].split("\n", 1)[1].split("\n</response_b", 1)[0]
    return first, second


def prefers_longer(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
    first, second = shown(prompt)
    p_first = 0.8 if len(first.split()) > len(second.split()) else 0.2
    return {"A": p_first, "B": 1 - p_first}


def always_first(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
    first, _ = shown(prompt)
    return {"A": 0.9 if "good" in first else 0.8, "B": 0.1 if "good" in first else 0.2}


def labelled(pair_id: str, a: str, b: str, human: str) -> LabelledPair:
    return LabelledPair(pair=PairSample(id=pair_id, prompt="Q?", response_a=a, response_b=b), human=human)  # type: ignore[arg-type]


def test_position_biased_judge_hand_computed() -> None:
    # always "A"; slightly higher when the good answer is first, so the order average still ranks
    pairs = [
        labelled("1", "good answer", "bad", "A"),
        labelled("2", "bad", "good answer", "B"),
        labelled("3", "good answer", "bad", "B"),  # humans disagree with the content signal here
        labelled("4", "good", "bad", "tie"),
    ]
    records = run_pairwise(PairwiseJudge(ScriptedBackend(always_first)), pairs)
    report = pairwise_report("scripted", records, resamples=200)
    h = report.headline
    # first order always picks A: right on pairs 1 and 3? humans say A, B, B -> 1/3; second order always picks B
    assert h["accuracy_first_order"].value == pytest.approx(1 / 3)
    assert h["accuracy_second_order"].value == pytest.approx(2 / 3)
    # order-averaged p_a: pair1 (0.9+0.2)/2=.55 -> A (right); pair2 (0.8+0.1)/2=.45 -> B (right); pair3 -> A (wrong)
    assert h["accuracy_order_averaged"].value == pytest.approx(2 / 3)
    assert h["position_consistency"].value == 0.0 and h["tie_rate"].value == 1.0
    assert h["first_position_rate"].value == 1.0
    assert h["accuracy_verdicts"].value == 0.0  # every verdict is a tie
    # kappa of the averaged picks (A, B, A) against (A, B, B): p_o=2/3, p_e=(2*1+1*2)/9=4/9 -> 0.4
    assert h["kappa"].value == pytest.approx(0.4)
    assert report.human_labels == {"A": 1, "B": 2, "tie": 1} and report.n_scored == 4


def test_length_judge_on_real_llmbar_matches_an_independent_count() -> None:
    pairs = load_labelled_pairs(LLMBAR)[:40]
    records = run_pairwise(PairwiseJudge(ScriptedBackend(prefers_longer)), pairs)
    report = pairwise_report("longer", records, resamples=200)
    raw = json.loads(LLMBAR.read_text())[:40]
    lengths = [(len(r["output_1"].split()), len(r["output_2"].split())) for r in raw]
    # the judge picks the longer answer; equal lengths give P(A) = 0.5 exactly, which scores half
    credit = [0.5 if a == b else float((r["label"] == 1) == (a > b)) for r, (a, b) in zip(raw, lengths, strict=True)]
    expected = sum(credit) / 40
    differ = [c for c, (a, b) in zip(credit, lengths, strict=True) if a != b]
    human_longer = sum(differ) / len(differ)
    assert len(differ) < 40  # this slice has equal-length pairs, so the half credit is exercised
    h = report.headline
    assert h["accuracy_order_averaged"].value == pytest.approx(expected)
    # a single order with equal lengths shows "not longer" first: P(first) = 0.2, so it picks the second
    first_order = [float((r["label"] == 1) == (a > b)) for r, (a, b) in zip(raw, lengths, strict=True)]
    assert h["accuracy_first_order"].value == pytest.approx(sum(first_order) / 40)
    assert h["position_consistency"].value == pytest.approx(len(differ) / 40)  # equal lengths flip with the order
    assert h["accuracy_order_averaged"].low <= expected <= h["accuracy_order_averaged"].high
    # among pairs of different length the judge always picks the longer answer, humans less often
    assert report.judge_longer_rate.value == pytest.approx(1.0)
    assert report.human_longer_rate.value == pytest.approx(human_longer)
    assert h["verbosity_bias"].value == pytest.approx(1.0 - human_longer)
    # quantile bins by (preferred - other) length: wrong where the preferred answer is shorter, right where longer
    bins = report.length_bins
    assert sum(b.accuracy_order_averaged.n for b in bins) == 40
    assert bins[0].high < 0 and bins[0].accuracy_order_averaged.value == 0.0
    assert bins[-1].low > 0 and bins[-1].accuracy_order_averaged.value == 1.0


def test_unscored_pairs_are_counted_not_scored() -> None:
    pairs = [labelled("1", "a", "b", "A"), labelled("2", "a", "b", "B")]
    backend = ScriptedBackend(lambda p, labels: "HTTP 500" if "\na\n" in p.user else {"A": 0.6, "B": 0.4})
    records = run_pairwise(PairwiseJudge(backend), pairs)
    report = pairwise_report("broken", records, resamples=50)
    assert report.n_scored == 0 and report.unscored_reasons == {"HTTP 500; HTTP 500": 2}
    assert report.headline["accuracy_order_averaged"].value is None


def test_compare_is_paired() -> None:
    pairs = [
        labelled(str(i), "good answer" if i % 2 else "bad", "bad" if i % 2 else "good answer", "A" if i % 2 else "B")
        for i in range(8)
    ]
    biased = run_pairwise(PairwiseJudge(ScriptedBackend(always_first)), pairs)
    longer = run_pairwise(PairwiseJudge(ScriptedBackend(prefers_longer)), pairs)
    diff = compare_pairwise(biased, longer, resamples=200)
    assert diff["position_consistency"].value == pytest.approx(1.0)
    assert diff["accuracy_order_averaged"].value == pytest.approx(0.0)
