"""The transformers backend's ``prefill: batched`` (backends/batched_prefill.py) against the grouped passes it
replaces: the same label probabilities and verdict states to 1e-4 in fp32, on a Qwen2 and a Llama tiny judge, for
several prefix groups of different lengths, groups of one, prompts that share nothing, more rows than
``max_batch``, and several label sets; a batched pass that fails falls back to the grouped passes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch

from judgerl.backends import JudgePrompt, build_backend
from judgerl.backends.batched_prefill import BatchedPrefill
from judgerl.backends.transformers_backend import TransformersBackend
from judgerl.errors import JudgerlError
from judgerl.judges.spec import JudgeSpec
from support.backend_contract import CRITERIA, SHARED, SYSTEM, criterion_prompts

TOL = 1e-4
LABEL_SETS = (["PASS", "FAIL"], ["A", "B"], ["Pass", "Fail", "YES"])


def mixed_prompts() -> list[JudgePrompt]:
    """Two samples' criteria (prefix groups of different lengths) interleaved with prompts sharing nothing."""
    other = f"Response B explains its reasoning. {SHARED[: len(SHARED) // 2]}"
    second = [JudgePrompt(SYSTEM, f"{other}Criterion: {c}", '{"verdict": "') for c in CRITERIA[:3]]
    lone = [
        JudgePrompt("", "A or B?", ""),
        JudgePrompt("Which response is better, A or B?", "Response A is shorter.", "Answer: "),
        JudgePrompt(SYSTEM, "The quick brown fox jumps over the lazy dog.", '{"verdict": "'),
    ]
    first = criterion_prompts()
    return [first[0], lone[0], *second[:2], first[1], lone[1], *first[2:], second[2], lone[2]]


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def model_dir(request: pytest.FixtureRequest, tiny_judge_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if request.param == "qwen2":
        return tiny_judge_dir
    from support.tiny_models import build_tiny_model

    directory = tmp_path_factory.mktemp("tiny_llama_judge")
    return build_tiny_model(directory, "bpe", "llama", hidden_size=64, max_positions=4096, initializer_range=0.2)


@pytest.fixture(scope="module")
def grouped(model_dir: Path) -> TransformersBackend:
    torch.set_num_threads(1)
    return TransformersBackend(str(model_dir), dtype="float32", threads=1)


def _batched(model_dir: Path, **options: Any) -> TransformersBackend:
    return TransformersBackend(str(model_dir), dtype="float32", threads=1, prefill="batched", **options)


def assert_same_results(a: list[Any], b: list[Any]) -> None:
    assert len(a) == len(b)
    for (x, hx), (y, hy) in zip(a, b, strict=True):
        assert x.error is None and y.error is None
        assert x.prompt_tokens == y.prompt_tokens
        assert x.probs.keys() == y.probs.keys()
        for label in x.probs:
            assert x.probs[label] == pytest.approx(y.probs[label], abs=TOL)
        assert x.mass == pytest.approx(y.mass, rel=TOL, abs=1e-7)
        if hx is not None or hy is not None:
            assert torch.allclose(torch.tensor(hx), torch.tensor(hy), atol=TOL, rtol=0)


@pytest.mark.parametrize("max_batch", [1, 2, 3, 16])
def test_batched_matches_grouped(
    grouped: TransformersBackend, model_dir: Path, max_batch: int, caplog: pytest.LogCaptureFixture
) -> None:
    prompts = mixed_prompts()
    batched = _batched(model_dir, max_batch=max_batch)
    reference = TransformersBackend(str(model_dir), dtype="float32", threads=1, max_batch=max_batch)
    # not vacuous: the plan has prefix groups of different lengths and prompts that run alone
    plan = batched._plan([batched._encode(p) for p in prompts], list(range(len(prompts))))
    assert len({shared for _, shared in plan if shared}) >= 2 and any(shared == 0 for _, shared in plan)
    with caplog.at_level(logging.WARNING, logger="judgerl.backends"):
        for labels in LABEL_SETS:
            want = reference.label_probs_with_hidden(prompts, labels)
            got = batched.label_probs_with_hidden(prompts, labels)
            assert_same_results(got, want)
            plain = batched.label_probs(prompts, labels)
            assert_same_results([(r, None) for r in plain], [(r, None) for r, _ in want])
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert not failed  # no fall-back: the batched passes themselves ran
    # and the verdicts depend on the prompt (equal results are not equal by accident)
    assert len({round(next(iter(r.probs.values())), 4) for r, _ in want}) > len(prompts) // 2


def test_without_shared_prefixes_the_prompts_run_batched(grouped: TransformersBackend, model_dir: Path) -> None:
    prompts = mixed_prompts()
    batched = _batched(model_dir, max_batch=4, share_prefix=False)
    grouped.share_prefix = False
    try:
        want = grouped.label_probs_with_hidden(prompts, LABEL_SETS[0])
    finally:
        grouped.share_prefix = True
    assert_same_results(batched.label_probs_with_hidden(prompts, LABEL_SETS[0]), want)


@pytest.mark.parametrize("max_batch", [1, 3, 16])
def test_hand_made_plans_match_each_prompt_alone(grouped: TransformersBackend, max_batch: int) -> None:
    """Groups of one with a prefix, groups whose prefix is almost the whole prompt, and lone prompts, straight
    through the runner: each state equals the prompt run on its own."""
    prompts = mixed_prompts()
    ids = [grouped._encode(p) for p in prompts]
    plan = [([0], 20), ([1], 0), ([2, 3], 30), ([4, 6, 7, 8], 100), ([5], 0), ([9], len(ids[9]) - 1), ([10], 0)]
    assert sorted(i for members, _ in plan for i in members) == list(range(len(prompts)))
    runner = BatchedPrefill(grouped._body, grouped._cache_arg, max_batch=max_batch, pad_id=0, device=grouped.device)
    with torch.inference_mode():
        states = runner.run(ids, plan)
        for i, tokens in enumerate(ids):
            alone = grouped._run_alone(tokens)
            assert torch.allclose(states[i], alone, atol=TOL, rtol=0), (i, (states[i] - alone).abs().max())


def test_a_failed_batched_pass_falls_back_to_the_grouped_passes(
    grouped: TransformersBackend, model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    prompts = mixed_prompts()
    batched = _batched(model_dir)

    def broken(self: BatchedPrefill, ids: Any, plan: Any) -> Any:
        raise RuntimeError("no kernel for this")

    monkeypatch.setattr(BatchedPrefill, "run", broken)
    with caplog.at_level(logging.WARNING, logger="judgerl.backends"):
        got = batched.label_probs_with_hidden(prompts, LABEL_SETS[0])
    assert_same_results(got, grouped.label_probs_with_hidden(prompts, LABEL_SETS[0]))
    assert any("batched prefill failed (no kernel for this)" in r.getMessage() for r in caplog.records)


def test_prefill_option_flows_and_is_checked(tiny_judge_dir: Path) -> None:
    assert TransformersBackend(str(tiny_judge_dir), dtype="float32").prefill == "grouped"  # the default
    spec = JudgeSpec(model=str(tiny_judge_dir), options={"dtype": "float32", "prefill": "batched"})
    batched = spec.build_backend()
    assert batched.prefill == "batched"  # type: ignore[attr-defined]
    # in bf16 the two modes' scores differ by hundredths: a verdict cache keeps them apart (grouped's key unchanged)
    grouped = TransformersBackend(str(tiny_judge_dir), dtype="float32")
    assert grouped.cache_identity.endswith("@float32")
    assert batched.cache_identity == grouped.cache_identity + "/batched"
    with pytest.raises(JudgerlError, match=r"^unknown prefill 'packed': choose grouped or batched$"):
        build_backend("transformers", model=str(tiny_judge_dir), dtype="float32", prefill="packed")


def test_a_sliding_window_model_falls_back_to_the_grouped_passes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A sliding-window layer keeps the last slots of each row, padding for the shorter prefixes: not batched."""
    from support.tiny_models import build_tiny_model

    directory = build_tiny_model(
        tmp_path / "sliding", "bpe", "qwen2", hidden_size=64, max_positions=4096, initializer_range=0.2,
        use_sliding_window=True, sliding_window=64, max_window_layers=1,
    )  # fmt: skip
    prompts = mixed_prompts()
    with caplog.at_level(logging.WARNING, logger="judgerl.backends"):
        got = _batched(directory).label_probs(prompts, LABEL_SETS[0])
    assert any("batched prefill failed (sliding-window" in r.getMessage() for r in caplog.records)
    want = TransformersBackend(str(directory), dtype="float32", threads=1).label_probs(prompts, LABEL_SETS[0])
    assert_same_results([(r, None) for r in got], [(r, None) for r in want])
