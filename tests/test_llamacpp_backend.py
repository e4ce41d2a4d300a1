"""The in-process llama.cpp backend on a tiny GGUF written by the test (the tiny transformers judge's weights and
tokenizer): the same prompt tokens and verdicts as the transformers backend, shared-prefix scoring equal to
scoring each prompt alone, per-prompt failures, greedy generation without the answer prefix, coalescing, and the
hidden state at the verdict position."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("transformers")

from judgerl.backends import JudgePrompt, build_backend
from judgerl.backends.llamacpp_backend import LlamaCppBackend
from judgerl.backends.transformers_backend import TransformersBackend
from judgerl.errors import JudgerlError, ModelNotFound
from support.tiny_models import write_tiny_judge_gguf

SYSTEM = "You are a strict judge. Read the task and the response, then answer PASS or FAIL."
SHARED = (
    "Task: The quick brown fox jumps over the lazy dog. Does the response follow the instructions?\n"
    "Response: A judge reads each criterion and gives a verdict. The answer matches the reference.\n" * 3
)
CRITERIA = [
    "the answer is correct.",
    "polite",
    "the answer is concise, the tone is polite, and the response explains its reasoning step by step.",
    "the response states the final answer clearly",
    "A",
]
LABELS = ["PASS", "FAIL"]
# llama.cpp keeps its KV cache in f16 and groups work differently by batch: equal paths agree to ~1e-3
TOL = 5e-3


def _prompts(criteria: list[str] = CRITERIA) -> list[JudgePrompt]:
    return [JudgePrompt(SYSTEM, f"{SHARED}Criterion: {c}", '{"verdict": "') for c in criteria]


@pytest.fixture(scope="module")
def tiny_gguf(tiny_judge_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_judge_gguf(tiny_judge_dir, tmp_path_factory.mktemp("gguf") / "tiny-judge.gguf")


@pytest.fixture(scope="module")
def backend(tiny_gguf: Path) -> LlamaCppBackend:
    return LlamaCppBackend(str(tiny_gguf), threads=1, embeddings=True)


@pytest.fixture(scope="module")
def reference(tiny_judge_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny_judge_dir), dtype="float32", threads=1)


def _assert_same(a: list, b: list, tol: float = TOL) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.error is None and y.error is None
        assert x.prompt_tokens == y.prompt_tokens
        for label in LABELS:
            assert x.probs[label] == pytest.approx(y.probs[label], abs=tol)
        assert x.mass == pytest.approx(y.mass, rel=5e-2)


def _run(backend: LlamaCppBackend, prompts: list[JudgePrompt], *, share: bool, max_batch: int = 16) -> list:
    backend.share_prefix, backend.max_batch = share, max_batch
    try:
        return backend.label_probs(prompts, LABELS)
    finally:
        backend.share_prefix, backend.max_batch = True, 16


def test_same_prompt_tokens_and_verdicts_as_transformers(
    backend: LlamaCppBackend, reference: TransformersBackend
) -> None:
    prompts = _prompts()
    for p in prompts:
        assert backend.render(p) == reference.render(p)
        assert backend.encode(p) == reference._encode(p)
    assert backend.label_token_ids(["PASS", "FAIL", "A"]) == reference.label_token_ids(["PASS", "FAIL", "A"])
    _assert_same(backend.label_probs(prompts, LABELS), reference.label_probs(prompts, LABELS))


def test_shared_prefix_matches_unshared(backend: LlamaCppBackend, caplog: pytest.LogCaptureFixture) -> None:
    prompts = _prompts()
    plan = backend._plan([backend.encode(p) for p in prompts], list(range(len(prompts))))
    assert len(plan) == 1 and plan[0][1] > 100  # one group sharing the long prefix
    with caplog.at_level(logging.WARNING):
        shared = _run(backend, prompts, share=True)
    assert "one at a time" not in caplog.text  # the group ran as a group, no fall-back
    alone = _run(backend, prompts, share=False)
    _assert_same(shared, alone)
    assert len({round(r.probs["PASS"], 3) for r in alone}) == len(prompts)  # the criterion matters


@pytest.mark.parametrize("max_batch", [1, 2, 3])
def test_runs_over_few_sequences_match(tiny_gguf: Path, backend: LlamaCppBackend, max_batch: int) -> None:
    """Fewer sequences than prompts: the suffixes run in several rounds over the one prefix."""
    narrow = LlamaCppBackend(str(tiny_gguf), threads=1, max_batch=max_batch)
    _assert_same(narrow.label_probs(_prompts(), LABELS), _run(backend, _prompts(), share=False))


def test_small_decode_batches_match(tiny_gguf: Path, backend: LlamaCppBackend) -> None:
    """Prefix and suffixes split over many llama_decode calls (a suffix can straddle two)."""
    small = LlamaCppBackend(str(tiny_gguf), threads=1, n_batch=7, max_batch=3)
    _assert_same(small.label_probs(_prompts(), LABELS), _run(backend, _prompts(), share=False))


def test_unrelated_prompts_and_mixed_groups(backend: LlamaCppBackend) -> None:
    other = [
        JudgePrompt(SYSTEM, f"Response B explains its reasoning. {SHARED}Criterion: {c}", "") for c in CRITERIA[:3]
    ]
    lone = JudgePrompt("", "A or B?", "")
    prompts = [*_prompts()[:3], lone, *other]
    plan = backend._plan([backend.encode(p) for p in prompts], list(range(len(prompts))))
    assert sorted(sorted(m) for m, shared in plan if shared) == [[0, 1, 2], [4, 5, 6]]
    _assert_same(_run(backend, prompts, share=True), _run(backend, prompts, share=False))


def test_probabilities_are_normalised(backend: LlamaCppBackend) -> None:
    for r in backend.label_probs(_prompts(), ["PASS", "FAIL", "A"]):
        assert r.error is None and r.probs is not None
        assert set(r.probs) == {"PASS", "FAIL", "A"}
        assert sum(r.probs.values()) == pytest.approx(1.0, abs=1e-9)
        assert 0.0 < r.mass <= 1.0
        assert r.prompt_tokens > 100 and r.latency_s > 0


def test_over_budget_prompt_errors_alone(tiny_gguf: Path, backend: LlamaCppBackend) -> None:
    small = LlamaCppBackend(str(tiny_gguf), threads=1, max_input_tokens=250)
    prompts = _prompts()
    long = JudgePrompt(SYSTEM, SHARED * 3, "")
    results = small.label_probs([prompts[0], long, prompts[1]], LABELS)
    n = results[1].prompt_tokens
    assert results[1].probs is None and results[1].error == f"prompt has {n} tokens, over the judge's limit of 250"
    _assert_same([results[0], results[2]], _run(backend, [prompts[0], prompts[1]], share=False))
    assert small.generate([long], 4)[0].error is not None


def test_generate_is_greedy_like_transformers_and_excludes_prefix(
    backend: LlamaCppBackend, reference: TransformersBackend
) -> None:
    prompt = JudgePrompt(SYSTEM, "Is the answer correct?", '{"verdict": "')
    first, second = backend.generate([prompt], 12)[0], backend.generate([prompt], 12)[0]
    assert first.error is None and first.text is not None and first.text == second.text
    assert first.prompt_tokens == len(backend.encode(prompt)) and 1 <= first.completion_tokens <= 12
    expected = reference.generate([prompt], 12)[0]
    assert first.text == expected.text and first.completion_tokens == expected.completion_tokens
    assert not first.text.startswith('{"verdict"')


def test_prompts_sharing_a_prefix_generate_side_by_side_as_alone(backend: LlamaCppBackend) -> None:
    prompts = _prompts()[:3]
    together = backend.generate(prompts, 10)
    backend.share_prefix = False
    try:
        one_by_one = [backend.generate([p], 10)[0] for p in prompts]
    finally:
        backend.share_prefix = True
    assert [g.text for g in together] == [g.text for g in one_by_one]
    assert all(g.error is None for g in together)


def test_generate_stops_at_end_of_turn(backend: LlamaCppBackend) -> None:
    end = backend.engine.tokenize("<|im_end|>", special=True)
    assert len(end) == 1 and end[0] in backend._stop_ids
    # a reply that starts with the end-of-turn token is empty, one token long
    original = backend.engine.run_group

    def forced(prompts, shared, *, max_new_tokens=0, stop=None):  # type: ignore[no-untyped-def]
        outputs = original(prompts, shared, max_new_tokens=0, stop=stop)
        for out in outputs:
            out.new_tokens = [end[0]]
        return outputs

    backend.engine.run_group = forced  # type: ignore[method-assign]
    try:
        gen = backend.generate([JudgePrompt("", "hi", "")], 8)[0]
    finally:
        backend.engine.run_group = original  # type: ignore[method-assign]
    assert gen.text == "" and gen.completion_tokens == 1


def test_count_tokens_and_plain_fallback(tiny_gguf: Path, reference: TransformersBackend) -> None:
    b = LlamaCppBackend(str(tiny_gguf), threads=1)
    assert b.count_tokens("PASS") == 1 and b.count_tokens("") == 0
    b.chat_template = None
    assert b.render(JudgePrompt("S", "U", "P")) == "System: S\n\nUser: U\n\nAssistant: P"
    assert b.label_probs([JudgePrompt("S", "U", "P")], LABELS)[0].error is None


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


def test_registry_identity_and_errors(tiny_gguf: Path, tmp_path: Path, tiny_judge_dir: Path) -> None:
    b = build_backend("llamacpp", model=str(tiny_gguf), threads=1)
    assert isinstance(b, LlamaCppBackend) and b.name == "llamacpp" and b.model_id == str(tiny_gguf)
    assert b.cache_identity == f"{tiny_gguf}@llamacpp"
    with pytest.raises(ModelNotFound) as missing:
        LlamaCppBackend(str(tmp_path / "none.gguf"))
    assert "\n" not in str(missing.value)
    with pytest.raises(ModelNotFound, match="--backend transformers"):
        LlamaCppBackend(str(tiny_judge_dir))
    with pytest.raises(JudgerlError):
        LlamaCppBackend(str(tiny_gguf), max_batch=0)
    with pytest.raises(JudgerlError, match="max_batch < n_batch"):
        LlamaCppBackend(str(tiny_gguf), n_batch=7)
    with pytest.raises(JudgerlError):
        LlamaCppBackend(str(tiny_gguf), n_ctx=100, max_input_tokens=200)


def test_catalog_model_without_its_gguf_says_how_to_fetch_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGERL_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(ModelNotFound, match=r"models pull qwen2\.5-coder-0\.5b --keep-gguf"):
        LlamaCppBackend("qwen2.5-coder-0.5b")


def test_async_calls_are_coalesced_with_the_same_verdicts(
    backend: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = [[p] for p in _prompts()]
    alone = [_run(backend, s, share=False)[0] for s in samples]
    passes: list[int] = []
    original = backend.label_probs

    def counting(prompts: list[JudgePrompt], labels: list[str]) -> list:
        passes.append(len(prompts))
        return original(prompts, labels)

    monkeypatch.setattr(backend, "label_probs", counting)

    async def concurrently() -> list:
        results = await asyncio.gather(*(backend.alabel_probs(s, LABELS) for s in samples))
        return [r[0] for r in results]

    coalesced = asyncio.run(concurrently())
    assert passes == [5]
    _assert_same(coalesced, alone)


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
    _assert_same(results, _run(backend, _prompts(), share=False))


def test_a_spec_naming_no_model_runs_the_catalogs_judge_on_llamacpp() -> None:
    from judgerl.judges.spec import JudgeSpec
    from judgerl.models.catalog import DEFAULT_JUDGE

    assert JudgeSpec(backend="llamacpp").backend_kwargs() == {"model": DEFAULT_JUDGE}
