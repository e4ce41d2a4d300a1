"""What only the llamacpp backend does, on a tiny GGUF written by the test (the tiny transformers judge's weights and
tokenizer): the same prompt tokens, verdicts and greedy replies as the transformers backend, decode batches smaller
than a prompt, a failing group retried one prompt at a time, the hidden state at the verdict position, its errors
and its catalog models. The contract it shares with the transformers backend (shared prefixes, distributions,
per-prompt failures, generation, coalescing) is tests/test_backend_contract.py."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("transformers")

from judgerl.backends import JudgePrompt, build_backend
from judgerl.backends.llamacpp_backend import LlamaCppBackend
from judgerl.backends.transformers_backend import TransformersBackend
from judgerl.errors import JudgerlError, ModelNotFound
from support.backend_contract import LABELS, SYSTEM, assert_same, criterion_prompts, run_labels
from support.tiny_models import write_tiny_judge_gguf

# llama.cpp keeps its KV cache in f16 and groups work differently by batch: equal paths agree to ~1e-3
TOL = 5e-3


def _assert_same(a: list, b: list) -> None:
    assert_same(a, b, TOL, 5e-2)


_prompts = criterion_prompts


@pytest.fixture(scope="module")
def tiny_gguf(tiny_judge_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_judge_gguf(tiny_judge_dir, tmp_path_factory.mktemp("gguf") / "tiny-judge.gguf")


@pytest.fixture(scope="module")
def backend(tiny_gguf: Path) -> LlamaCppBackend:
    return LlamaCppBackend(str(tiny_gguf), threads=1, embeddings=True)


@pytest.fixture(scope="module")
def reference(tiny_judge_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny_judge_dir), dtype="float32", threads=1)


def test_same_prompt_tokens_and_verdicts_as_transformers(
    backend: LlamaCppBackend, reference: TransformersBackend
) -> None:
    prompts = _prompts()
    for p in prompts:
        assert backend.render(p) == reference.render(p)
        assert backend.encode(p) == reference._encode(p)
    assert backend.label_token_ids(["PASS", "FAIL", "A"]) == reference.label_token_ids(["PASS", "FAIL", "A"])
    _assert_same(backend.label_probs(prompts, LABELS), reference.label_probs(prompts, LABELS))


def test_small_decode_batches_match(tiny_gguf: Path, backend: LlamaCppBackend) -> None:
    """Prefix and suffixes split over many llama_decode calls (a suffix can straddle two)."""
    small = LlamaCppBackend(str(tiny_gguf), threads=1, n_batch=7, max_batch=3)
    _assert_same(small.label_probs(_prompts(), LABELS), run_labels(backend, _prompts(), share=False))


def test_greedy_replies_are_the_transformers_backends(backend: LlamaCppBackend, reference: TransformersBackend) -> None:
    prompt = JudgePrompt(SYSTEM, "Is the answer correct?", '{"verdict": "')
    reply, expected = backend.generate([prompt], 12)[0], reference.generate([prompt], 12)[0]
    assert reply.error is None and reply.text == expected.text
    assert reply.completion_tokens == expected.completion_tokens


def test_verdict_states_are_the_last_hidden_state(backend: LlamaCppBackend, reference: TransformersBackend) -> None:
    import numpy as np
    import torch

    prompts = _prompts()[:2]
    states = backend.verdict_states(prompts)
    for prompt, state in zip(prompts, states, strict=True):
        assert state is not None and state.shape == (64,)
        with torch.inference_mode():
            hidden = reference._body(input_ids=torch.tensor([reference._encode(prompt)])).last_hidden_state[0, -1]
        assert np.allclose(state, hidden.numpy(), atol=1e-2)
    assert not np.allclose(states[0], states[1], atol=1e-2)


def test_verdict_states_need_embeddings(tiny_gguf: Path) -> None:
    with pytest.raises(JudgerlError, match="embeddings=True"):
        LlamaCppBackend(str(tiny_gguf), threads=1).verdict_states(_prompts()[:1])


def test_identity_and_own_errors(tiny_gguf: Path, tmp_path: Path, tiny_judge_dir: Path) -> None:
    """Beside the contract's build and errors: its cache identity and the errors only it has."""
    assert build_backend("llamacpp", model=str(tiny_gguf), threads=1).cache_identity == f"{tiny_gguf}@llamacpp"
    with pytest.raises(ModelNotFound, match="GGUF file not found"):
        LlamaCppBackend(str(tmp_path / "none.gguf"))
    with pytest.raises(ModelNotFound, match="--backend transformers"):
        LlamaCppBackend(str(tiny_judge_dir))
    with pytest.raises(JudgerlError, match="max_batch < n_batch"):
        LlamaCppBackend(str(tiny_gguf), n_batch=7)
    with pytest.raises(JudgerlError):
        LlamaCppBackend(str(tiny_gguf), n_ctx=100, max_input_tokens=200)


def test_catalog_model_without_its_gguf_says_how_to_fetch_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGERL_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(ModelNotFound, match=r"models pull qwen2\.5-coder-0\.5b --keep-gguf"):
        LlamaCppBackend("qwen2.5-coder-0.5b")


def test_a_failing_group_falls_back_to_one_prompt_at_a_time(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = backend.engine.run_group

    def fails_on_groups(prompts, shared, **kwargs):  # type: ignore[no-untyped-def]
        if len(prompts) > 1:
            raise RuntimeError("no room in the KV cache")
        return original(prompts, shared, **kwargs)

    monkeypatch.setattr(backend.engine, "run_group", fails_on_groups)
    results = backend.label_probs(_prompts(), LABELS)
    monkeypatch.undo()
    _assert_same(results, run_labels(backend, _prompts(), share=False))


def test_a_spec_naming_no_model_runs_the_catalogs_judge_on_llamacpp() -> None:
    from judgerl.judges.spec import JudgeSpec
    from judgerl.models.catalog import DEFAULT_JUDGE

    assert JudgeSpec(backend="llamacpp").backend_kwargs() == {"model": DEFAULT_JUDGE}
