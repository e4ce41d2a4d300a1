"""A cascade of the two packaged judges: the 0.5B first, the 1.5B only where the 0.5B is unsure.

Short arithmetic answers against a reference keep it quick: about 40 s of CPU time on 2 cores with native
bf16 (115 s of wall time beside two other jobs, loading both models included). The margin is set between two of
the 0.5B's own distances to its threshold, measured first, so that some items stay at stage 1 and some escalate
whatever the 0.5B's exact probabilities on this machine; the test then checks that the cascade escalates exactly
the items the 0.5B was unsure of, records the deciding stage and model, and that the 1.5B's verdicts on them agree
with the labels at least as well as the 0.5B's (and here on every one)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from judgerl.backends import JudgeBackend, build_backend
from judgerl.judges.cascade import RubricCascade
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.rubric import Rubric
from judgerl.samples import Sample
from judgerl.verdicts import SampleVerdict
from support.real_models import pulled_model_dir

pytestmark = pytest.mark.integration
RUBRIC = Rubric.from_dict(
    {
        "name": "arithmetic",
        "use_reference": True,
        "criteria": [
            {
                "name": "final_answer_correct",
                "text": "The final answer in the response equals the reference's final answer.",
            }
        ],
    }
)
PROBLEMS = [
    ("What is 17 + 25?", "17 + 25 = 42\n#### 42", "17 + 25 = 43\n#### 43"),
    ("What is 9 x 8?", "9 x 8 = 72\n#### 72", "9 x 8 = 63\n#### 63"),
    (
        "Tom has 5 apples and buys 7 more. How many apples does he have?",
        "5 + 7 = 12\n#### 12",
        "5 + 7 = 11\n#### 11",
    ),
]
SAMPLES = [
    Sample(id=f"p{i}-{'ok' if ok else 'wrong'}", prompt=question, response=right if ok else wrong, reference=right)
    for i, (question, right, wrong) in enumerate(PROBLEMS)
    for ok in (True, False)
]
LABELS = [sample.id.endswith("-ok") for sample in SAMPLES]


#: how far the 0.5B's P(PASS) moved between two calls on the same items here (0.017 measured), with room
NOISE = 0.02


@pytest.fixture(scope="module")
def backends() -> Iterator[tuple[JudgeBackend, JudgeBackend]]:
    threads = min(2, os.cpu_count() or 1)  # torch's threads are process-wide: set them here, not per test
    small = build_backend("transformers", model=pulled_model_dir("qwen2.5-coder-0.5b"), threads=threads)
    large = build_backend("transformers", model=pulled_model_dir("qwen2.5-coder-1.5b"), threads=threads)
    yield small, large
    small.close()
    large.close()


def distance(verdict: SampleVerdict) -> float:
    criterion = verdict.criteria[0]
    assert criterion.p_pass is not None, verdict.unscored_reason
    return abs(criterion.p_pass - criterion.threshold)


def agreeing(verdicts: list[SampleVerdict], items: list[int]) -> int:
    return sum(verdicts[i].criteria[0].passed == LABELS[i] for i in items)


@pytest.mark.timeout(600)
def test_the_packaged_cascade_escalates_only_what_the_small_judge_is_unsure_of(
    backends: tuple[JudgeBackend, JudgeBackend],
) -> None:
    small, large = backends
    first, last = (RubricJudge(RUBRIC, backend, rationales="none") for backend in (small, large))
    alone = first.judge(SAMPLES)
    distances = [distance(v) for v in alone]
    # Two calls of the 0.5B on the same items differed by up to 0.017 in P(PASS) here (batching noise), so the
    # cascade's own first stage may put an item within that of the margin on either side: only an item clearly on
    # one side must land there. The margin sits in the widest gap of the sorted distances, and at least NOISE above
    # the smallest, so the item the 0.5B is least sure of is escalated.
    ordered = sorted(distances)
    split = max(range(1, len(ordered)), key=lambda k: ordered[k] - ordered[k - 1])
    margin = max((ordered[split - 1] + ordered[split]) / 2, ordered[0] + NOISE + 0.001)
    assert ordered[-1] > margin + NOISE, f"the 0.5B's distances to its threshold are too close to split: {ordered}"
    cascade = RubricCascade([first, last], margins=[margin])
    verdicts = cascade.judge(SAMPLES)

    print(f"0.5B distances to its threshold {[round(d, 3) for d in distances]}, margin {margin:.3f}")
    unsure = [i for i, v in enumerate(verdicts) if v.cascade_stage == 2]
    sure = [i for i, v in enumerate(verdicts) if v.cascade_stage == 1]
    assert sorted(unsure + sure) == list(range(len(SAMPLES)))
    assert all(i in unsure for i, d in enumerate(distances) if d < margin - NOISE)
    assert all(i in sure for i, d in enumerate(distances) if d > margin + NOISE)
    for i in sure:  # the 0.5B's own verdict
        assert verdicts[i].judge_model == small.model_id
        assert verdicts[i].criteria[0].p_pass == pytest.approx(alone[i].criteria[0].p_pass, abs=0.05)
    for i in unsure:  # the 1.5B's, with the tokens of both stages
        assert verdicts[i].judge_model == large.model_id and verdicts[i].scored
        assert verdicts[i].prompt_tokens > alone[i].prompt_tokens
    tally = cascade.tally
    assert [s.decided for s in tally.stages] == [len(sure), len(unsure)]
    assert tally.escalated_share == pytest.approx(len(unsure) / len(SAMPLES))
    # escalation is worth it: on the items the 0.5B was unsure of, the 1.5B (AUC 0.97 against references on
    # GSM8K, BENCHMARKS.md) is right at least as often as the 0.5B, and here right on every one
    assert agreeing(verdicts, unsure) >= agreeing(alone, unsure)
    assert agreeing(verdicts, unsure) == len(unsure), [(SAMPLES[i].id, verdicts[i].criteria[0].p_pass) for i in unsure]
    assert agreeing(verdicts, list(range(len(SAMPLES)))) >= agreeing(alone, list(range(len(SAMPLES))))
