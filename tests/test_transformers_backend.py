"""The in-process transformers backend on a tiny random model: shared-prefix scoring must equal scoring each
prompt alone, failures are per prompt, generation is greedy and excludes the answer prefix."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch

from judgerl.backends import JudgePrompt, build_backend
from judgerl.backends.transformers_backend import TransformersBackend, _cache_argument
from judgerl.errors import JudgerlError

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


def _prompts(criteria: list[str] = CRITERIA) -> list[JudgePrompt]:
    return [JudgePrompt(SYSTEM, f"{SHARED}Criterion: {c}", '{"verdict": "') for c in criteria]


@pytest.fixture(scope="module")
def backend(tiny_judge_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny_judge_dir), dtype="float32", threads=1)


def _assert_same(a: list, b: list, tol: float = 1e-3) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.error is None and y.error is None
        assert x.prompt_tokens == y.prompt_tokens
        for label in LABELS:
            assert x.probs[label] == pytest.approx(y.probs[label], abs=tol)
        assert x.mass == pytest.approx(y.mass, rel=1e-2)


def _run(backend: TransformersBackend, prompts: list[JudgePrompt], *, share: bool, max_batch: int = 16) -> list:
    backend.share_prefix, backend.max_batch = share, max_batch
    try:
        return backend.label_probs(prompts, LABELS)
    finally:
        backend.share_prefix, backend.max_batch = True, 16


def test_shared_prefix_matches_unshared(backend: TransformersBackend) -> None:
    prompts = _prompts()
    ids = [backend._encode(p) for p in prompts]
    plan = backend._plan(ids, list(range(len(ids))))
    assert len(plan) == 1 and plan[0][1] > 100  # one group sharing the long prefix
    shared, alone = _run(backend, prompts, share=True), _run(backend, prompts, share=False)
    _assert_same(shared, alone)
    # Not vacuous: the criterion changes the verdict.
    assert len({round(r.probs["PASS"], 4) for r in alone}) == len(prompts)


@pytest.mark.parametrize("max_batch", [1, 2, 3])
def test_suffix_chunks_match_single(backend: TransformersBackend, max_batch: int) -> None:
    prompts = _prompts()
    _assert_same(_run(backend, prompts, share=True, max_batch=max_batch), _run(backend, prompts, share=False))


def test_unrelated_prompts_and_mixed_groups(backend: TransformersBackend) -> None:
    # Two samples' criteria interleaved, plus a short unrelated prompt: grouped by shared prefix.
    other = [
        JudgePrompt(SYSTEM, f"Response B explains its reasoning. {SHARED}Criterion: {c}", "") for c in CRITERIA[:3]
    ]
    lone = JudgePrompt("", "A or B?", "")
    prompts = [*_prompts()[:3], lone, *other]
    plan = backend._plan([backend._encode(p) for p in prompts], list(range(len(prompts))))
    assert sorted(sorted(m) for m, shared in plan if shared) == [[0, 1, 2], [4, 5, 6]]
    _assert_same(_run(backend, prompts, share=True), _run(backend, prompts, share=False))


def test_probabilities_are_normalised(backend: TransformersBackend) -> None:
    for r in backend.label_probs(_prompts(), ["PASS", "FAIL", "A"]):
        assert r.error is None and r.probs is not None
        assert set(r.probs) == {"PASS", "FAIL", "A"}
        assert sum(r.probs.values()) == pytest.approx(1.0, abs=1e-9)
        assert all(0.0 <= p <= 1.0 for p in r.probs.values())
        assert 0.0 < r.mass <= 1.0
        assert r.prompt_tokens > 100 and r.latency_s > 0


def test_label_variants(backend: TransformersBackend) -> None:
    ids = backend.label_token_ids(["PASS", "FAIL"])
    tok = backend.tokenizer
    expected = {tok.encode(v, add_special_tokens=False)[0] for v in ("PASS", " PASS", "pass", " pass", "Pass")}
    assert expected <= set(ids["PASS"])
    assert not set(ids["PASS"]) & set(ids["FAIL"])
    with pytest.raises(JudgerlError):
        backend.label_token_ids(["PASS", "PASS"])


def test_over_budget_prompt_errors_alone(tiny_judge_dir: Path) -> None:
    small = TransformersBackend(str(tiny_judge_dir), dtype="float32", max_input_tokens=250, threads=1)
    prompts = _prompts()
    long = JudgePrompt(SYSTEM, SHARED * 3, "")
    results = small.label_probs([prompts[0], long, prompts[1]], LABELS)
    assert results[1].probs is None
    n = results[1].prompt_tokens
    assert results[1].error == f"prompt has {n} tokens, over the judge's limit of 250"
    assert results[0].error is None and results[2].error is None
    _assert_same([results[0], results[2]], _run(small, [prompts[0], prompts[1]], share=False))
    assert small.generate([long], 4)[0].error is not None


def test_generate_is_greedy_and_excludes_prefix(backend: TransformersBackend) -> None:
    prompt = JudgePrompt(SYSTEM, "Is the answer correct?", '{"verdict": "')
    first, second = backend.generate([prompt], 12)[0], backend.generate([prompt], 12)[0]
    assert first.error is None and first.text is not None
    assert first == second.__class__(**{**second.__dict__, "latency_s": first.latency_s})
    assert first.prompt_tokens == len(backend._encode(prompt))
    assert 1 <= first.completion_tokens <= 12
    # The text is what follows the prefix: the model's own reply, decoded from its new tokens only.
    ids = backend._encode(prompt)
    new = backend._greedy(ids, 12)
    body = new[:-1] if new[-1] in backend._stop_ids else new
    assert first.text == backend.tokenizer.decode(body, skip_special_tokens=True)
    assert not first.text.startswith('{"verdict"')


def test_generate_stops_at_end_of_turn(backend: TransformersBackend) -> None:
    end = backend.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert end in backend._stop_ids
    original = backend._head_b
    try:  # force the end-of-turn token: generation stops at once with empty text
        bias = backend._head_w.new_zeros(backend._head_w.shape[0])
        bias[end] = 1e4
        backend._head_b = bias
        gen = backend.generate([JudgePrompt("", "hi", "")], 8)[0]
    finally:
        backend._head_b = original
    assert gen.text == "" and gen.completion_tokens == 1


def test_count_tokens_and_render(backend: TransformersBackend) -> None:
    assert backend.count_tokens("PASS") == 1
    assert backend.count_tokens("") == 0
    text = backend.render(JudgePrompt("sys", "user", "prefix"))
    assert text == "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nuser<|im_end|>\n<|im_start|>assistant\nprefix"


def test_plain_fallback_without_chat_template(tiny_judge_dir: Path) -> None:
    b = TransformersBackend(str(tiny_judge_dir), dtype="float32", threads=1)
    b.tokenizer.chat_template = None
    assert b.render(JudgePrompt("S", "U", "P")) == "System: S\n\nUser: U\n\nAssistant: P"
    assert b.label_probs([JudgePrompt("S", "U", "P")], LABELS)[0].error is None


def test_auto_dtype_is_bf16_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from judgerl.backends import transformers_backend as module

    assert module.cpu_has_native_bf16("flags : fpu avx2 avx512f avx512_bf16") is True
    assert module.cpu_has_native_bf16("flags : fpu avx2 amx_bf16 amx_tile") is True
    assert module.cpu_has_native_bf16("flags : fpu avx2 avx512f avx512bw") is False
    monkeypatch.setattr(module, "cpu_has_native_bf16", lambda cpuinfo=None: False)
    assert module.auto_dtype(torch.device("cpu")) == torch.float32
    monkeypatch.setattr(module, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    assert module.auto_dtype(torch.device("cpu")) == torch.bfloat16


def test_bf16_keeps_fp32_head(tiny_judge_dir: Path) -> None:
    import torch

    b = TransformersBackend(str(tiny_judge_dir), dtype="bfloat16")
    assert b.model.get_input_embeddings().weight.dtype == torch.bfloat16
    assert b._head_w.dtype == torch.float32
    prompts = _prompts()
    shared = b.label_probs(prompts, LABELS)
    b.share_prefix = False
    alone = b.label_probs(prompts, LABELS)
    for x, y in zip(shared, alone, strict=True):
        assert x.error is None and x.probs is not None and y.probs is not None
        assert x.probs["PASS"] == pytest.approx(y.probs["PASS"], abs=0.05)


def test_registry_creates_backend(tiny_judge_dir: Path) -> None:
    b = build_backend("transformers", model=str(tiny_judge_dir), dtype="float32", threads=1)
    assert isinstance(b, TransformersBackend)
    assert b.name == "transformers" and b.model_id == str(tiny_judge_dir)
    assert b.label_probs(_prompts()[:1], LABELS)[0].error is None


def test_missing_directory_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(JudgerlError) as info:
        TransformersBackend(str(tmp_path / "no-such-model"))
    assert "\n" not in str(info.value) and "no-such-model" in str(info.value)


def test_bad_options_raise(tiny_judge_dir: Path) -> None:
    with pytest.raises(JudgerlError):
        TransformersBackend(str(tiny_judge_dir), dtype="float8")
    with pytest.raises(JudgerlError):
        TransformersBackend(str(tiny_judge_dir), max_batch=0)


def test_many_criteria_sanity(backend: TransformersBackend) -> None:
    """Correctness at a realistic shape (one sample, a dozen criteria of varied length); no timing here."""
    criteria = [f"criterion {k}: " + "the answer is correct and polite. " * (k % 4 + 1) for k in range(12)]
    prompts = _prompts(criteria)
    shared = _run(backend, prompts, share=True, max_batch=5)
    _assert_same(shared, _run(backend, prompts, share=False))
    # The shared pass is timed as one call and split evenly.
    assert len({r.latency_s for r in shared}) == 1


def test_async_wrapper(backend: TransformersBackend) -> None:
    import asyncio

    results = asyncio.run(backend.alabel_probs(_prompts()[:2], LABELS))
    _assert_same(results, _run(backend, _prompts()[:2], share=False))


def test_concurrent_calls_are_coalesced_into_one_pass_with_the_same_verdicts(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GRPO group's completions arrive as concurrent calls (one per sample): one planned pass scores them all,
    sharing the prefix across samples, with the verdicts each call would get on its own."""
    import asyncio

    samples = [[p] for p in _prompts()]  # five "samples", one criterion each, sharing a long prefix
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
    assert passes == [5]  # one pass over all five samples' prompts
    _assert_same(coalesced, alone)
    backend.coalesce_s = 0.0
    try:
        passes.clear()
        asyncio.run(concurrently())
        assert passes == [1, 1, 1, 1, 1]  # coalescing off: one call each
    finally:
        backend.coalesce_s = 0.01


def test_a_failing_pass_reaches_every_coalesced_caller(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    def broken(prompts: list[JudgePrompt], labels: list[str]) -> list:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(backend, "label_probs", broken)

    async def concurrently() -> list:
        return await asyncio.gather(*(backend.alabel_probs([p], LABELS) for p in _prompts()), return_exceptions=True)

    outcomes = asyncio.run(concurrently())
    assert len(outcomes) == 5 and all(isinstance(o, RuntimeError) for o in outcomes)
    # the drain thread clears its flag after delivering the failures (callers can wake first on a loaded machine)
    import time

    deadline = time.monotonic() + 10
    while backend._draining and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backend._draining is False  # the next call starts a new drain


def test_cache_keeps_dtypes_apart(tiny_judge_dir: Path, backend: TransformersBackend, tmp_path: Path) -> None:
    """One verdict cache shared by an fp32 and a bf16 copy of one judge: the bf16 judge must not be answered
    with the fp32 verdicts (they differ by a few hundredths), and each reads its own back."""
    from judgerl import Rubric, Sample
    from judgerl.judges.cache import VerdictCache
    from judgerl.judges.rubric_judge import RubricJudge

    rubric = Rubric.from_dict({"criteria": [{"name": "polite", "text": "The response is polite."}]})
    items = [Sample(id="s1", prompt="Say hello.", response="Hello there.")]
    cache = VerdictCache(tmp_path / "cache.sqlite")
    half = TransformersBackend(str(tiny_judge_dir), dtype="bfloat16", threads=1)
    assert backend.cache_identity != half.cache_identity
    assert backend.cache_identity.endswith("@float32") and half.cache_identity.endswith("@bfloat16")
    first = RubricJudge(rubric, backend, cache=cache, rationales="none").judge(items)
    other = RubricJudge(rubric, half, cache=cache, rationales="none").judge(items)
    assert not any(c.cached for c in other[0].criteria) and len(cache) == 2
    again = RubricJudge(rubric, half, cache=cache, rationales="none").judge(items)
    assert all(c.cached for c in again[0].criteria) and again[0].score == other[0].score
    assert first[0].score is not None


class _Transformers517Body(torch.nn.Module):
    """The model body as transformers 5.17 shows it (the GPU machine's version): the KV cache goes in and comes
    out as ``past_key_values``; the newer name ``cache`` exists on neither side."""

    def __init__(self, body: torch.nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        past_key_values: object = None,
        use_cache: bool | None = None,
    ) -> SimpleNamespace:
        out = self.body(input_ids=input_ids, attention_mask=attention_mask, cache=past_key_values, use_cache=use_cache)
        return SimpleNamespace(last_hidden_state=out.last_hidden_state, past_key_values=out.cache)


def test_older_transformers_cache_name_keeps_prefix_sharing_and_generation(
    tiny_judge_dir: Path, backend: TransformersBackend, caplog: pytest.LogCaptureFixture
) -> None:
    old = TransformersBackend(str(tiny_judge_dir), dtype="float32", threads=1)
    old._body = _Transformers517Body(old._body)
    old._cache_arg = _cache_argument(old._body)
    assert old._cache_arg == "past_key_values"
    prompts = _prompts()
    with caplog.at_level(logging.WARNING):
        shared = _run(old, prompts, share=True)
    assert "shared-prefix pass failed" not in caplog.text  # no silent fall-back to one prompt at a time
    _assert_same(shared, _run(backend, prompts, share=False))
    prompt = JudgePrompt(SYSTEM, "Is the answer correct?", '{"verdict": "')
    reply, expected = old.generate([prompt], 12)[0], backend.generate([prompt], 12)[0]
    assert reply.error is None and reply.completion_tokens == expected.completion_tokens
    assert reply.text == expected.text
