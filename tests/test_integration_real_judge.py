"""The packaged Qwen2.5-Coder-0.5B judge on real GSM8K problems.

Slow: a full-solution verdict took 32-40 s on this 2-core CPU in fp32 (measured 2026-11-28 with CI running
beside it), so the samples are few and the per-test timeout is raised."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from judgerl.backends import JudgeBackend, build_backend
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.rubric import Rubric
from support.real_models import pulled_model_dir

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FINAL = Rubric.from_dict(
    {
        "instructions": "The reference is a correct worked solution whose final answer follows '####'.",
        "criteria": [
            {
                "name": "final_answer_correct",
                "text": "The final answer in the response equals the reference's final answer.",
            },
        ],
    }
)


def auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@pytest.fixture(scope="module")
def qwen() -> JudgeBackend:
    # Other tests run tiny models with threads=1, which is process-wide in torch: use every core here.
    return build_backend("transformers", model=pulled_model_dir("qwen2.5-coder-0.5b"), threads=os.cpu_count() or 1)


@pytest.fixture(scope="module")
def gsm8k_pairs() -> list:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from common import gsm8k_pairs as make_pairs

    return make_pairs(8, seed=7)


@pytest.mark.timeout(2400)
def test_correct_and_wrong_final_answers_are_separated(qwen: JudgeBackend, gsm8k_pairs: list) -> None:
    judge = RubricJudge(FINAL, qwen, rationales="none")
    good = judge.judge([g for g, _ in gsm8k_pairs])
    bad = judge.judge([b for _, b in gsm8k_pairs])
    p_good = [v.criteria[0].p_pass for v in good]
    p_bad = [v.criteria[0].p_pass for v in bad]
    assert all(p is not None for p in p_good + p_bad)
    value = auc(p_good, p_bad)  # type: ignore[arg-type]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "real_judge_gsm8k_auc.json").write_text(
        json.dumps({"pairs": len(gsm8k_pairs), "auc": value, "p_correct": p_good, "p_wrong": p_bad})
    )
    print(f"GSM8K correct vs wrong final number, {len(gsm8k_pairs)} pairs: AUC {value:.3f}")
    # 8 vs 8: chance gives an AUC of 0.7 or more about one time in ten; the packaged judge measured 0.88 (BENCHMARKS.md)
    assert value >= 0.7


@pytest.mark.timeout(2400)
def test_logprob_and_generate_modes_agree_on_most_verdicts(qwen: JudgeBackend, gsm8k_pairs: list) -> None:
    samples = [s for pair in gsm8k_pairs[:1] for s in pair]
    logprob = RubricJudge(FINAL, qwen, rationales="none").judge(samples)
    generate = RubricJudge(FINAL, qwen, mode="generate", max_new_tokens=80).judge(samples)
    both = [
        (a.criteria[0].passed, b.criteria[0].passed)
        for a, b in zip(logprob, generate, strict=True)
        if a.criteria[0].scored and b.criteria[0].scored
    ]
    rate = sum(a == b for a, b in both) / len(both) if both else 0.0
    unscored = sum(not v.scored for v in generate)
    print(f"logprob vs generate agreement {rate:.0%} over {len(both)} verdicts ({unscored} generate unscored)")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "real_judge_mode_agreement.json").write_text(
        json.dumps({"agreement": rate, "compared": len(both), "generate_unscored": unscored})
    )
    # The rate is reported, not asserted: at the uncalibrated 0.5 threshold the 0.5B judge's logprob verdicts
    # lean FAIL while its generated verdicts lean PASS, so agreement is a measurement, not a given.
    assert len(both) >= len(samples) // 2, "most generate-mode replies must parse into verdicts"
