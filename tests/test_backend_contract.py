"""The in-process backends' shared contract (tests/support/backend_contract.py), run on the transformers backend
with the tiny random judge and on the llamacpp backend with the same judge written as a tiny GGUF: shared-prefix
scoring equals scoring each prompt alone, probabilities form a distribution over the labels, failures stay with
their prompt, generation is greedy and excludes the answer prefix, concurrent calls are coalesced."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from judgerl.backends import JudgePrompt, build_backend
from judgerl.errors import JudgerlError
from support.backend_contract import (
    CHATML_RENDERED,
    CRITERIA,
    LABELS,
    SHARED,
    SYSTEM,
    BackendUnderTest,
    assert_distribution,
    assert_generates,
    assert_same,
    assert_shared_prefix_matches_unshared,
    criterion_prompts,
    llamacpp_under_test,
    run_labels,
    transformers_under_test,
)


@pytest.fixture(scope="module", params=["transformers", "llamacpp"])
def under(request: pytest.FixtureRequest, tiny_judge_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if request.param == "transformers":
        yield transformers_under_test(str(tiny_judge_dir))
        return
    pytest.importorskip("llama_cpp")
    from support.tiny_models import write_tiny_judge_gguf

    gguf = write_tiny_judge_gguf(tiny_judge_dir, tmp_path_factory.mktemp("gguf") / "tiny-judge.gguf")
    under = llamacpp_under_test(str(gguf))
    yield under
    under.backend.close()


def _same(under: BackendUnderTest, a: list, b: list) -> None:
    assert_same(a, b, under.tol, under.mass_rel)


def test_shared_prefix_matches_each_prompt_alone(under: BackendUnderTest) -> None:
    prompts = criterion_prompts()
    _shared, alone = assert_shared_prefix_matches_unshared(under, prompts, under.tol, min_shared=101)
    # not vacuous: the criterion changes the verdict
    assert len({round(r.probs["PASS"], 3) for r in alone}) == len(prompts)
    # and scoring them together without the plan gives the same verdicts
    _same(under, alone, run_labels(under.backend, prompts, share=False))


@pytest.mark.parametrize("max_batch", [1, 2, 3])
def test_fewer_rows_than_prompts_match(under: BackendUnderTest, max_batch: int) -> None:
    """The suffixes run in several rounds over the one prefix."""
    narrow = under.make(max_batch=max_batch)
    _same(
        under,
        narrow.label_probs(criterion_prompts(), LABELS),
        run_labels(under.backend, criterion_prompts(), share=False),
    )


def test_unrelated_prompts_and_mixed_groups(under: BackendUnderTest) -> None:
    """Two samples' criteria interleaved, plus a short unrelated prompt: grouped by shared prefix."""
    other = [
        JudgePrompt(SYSTEM, f"Response B explains its reasoning. {SHARED}Criterion: {c}", "") for c in CRITERIA[:3]
    ]
    prompts = [*criterion_prompts()[:3], JudgePrompt("", "A or B?", ""), *other]
    plan = under.backend._plan([under.encode(p) for p in prompts], list(range(len(prompts))))
    assert sorted(sorted(m) for m, shared in plan if shared) == [[0, 1, 2], [4, 5, 6]]
    _same(under, run_labels(under.backend, prompts, share=True), run_labels(under.backend, prompts, share=False))


def test_probabilities_are_normalised(under: BackendUnderTest) -> None:
    assert_distribution(
        under.backend.label_probs(criterion_prompts(), ["PASS", "FAIL", "A"]), ["PASS", "FAIL", "A"], 101
    )


def test_label_variants(under: BackendUnderTest) -> None:
    ids = under.backend.label_token_ids(["PASS", "FAIL"])
    expected = {under.tokenize(v)[0] for v in ("PASS", " PASS", "pass", " pass", "Pass")}
    assert expected <= set(ids["PASS"])
    assert not set(ids["PASS"]) & set(ids["FAIL"])
    with pytest.raises(JudgerlError):
        under.backend.label_token_ids(["PASS", "PASS"])


def test_over_budget_prompt_errors_alone(under: BackendUnderTest) -> None:
    small = under.make(max_input_tokens=250)
    prompts = criterion_prompts()
    long = JudgePrompt(SYSTEM, SHARED * 3, "")
    results = small.label_probs([prompts[0], long, prompts[1]], LABELS)
    n = results[1].prompt_tokens
    assert results[1].probs is None and results[1].error == f"prompt has {n} tokens, over the judge's limit of 250"
    _same(under, [results[0], results[2]], run_labels(under.backend, prompts[:2], share=False))
    assert small.generate([long], 4)[0].error is not None


def test_generate_is_greedy_and_excludes_prefix(under: BackendUnderTest) -> None:
    assert_generates(under, JudgePrompt(SYSTEM, "Is the answer correct?", '{"verdict": "'), 12)


def test_prompts_sharing_a_prefix_generate_as_alone(under: BackendUnderTest) -> None:
    prompts = criterion_prompts()[:3]
    together = under.backend.generate(prompts, 10)
    under.backend.share_prefix = False
    try:
        one_by_one = [under.backend.generate([p], 10)[0] for p in prompts]
    finally:
        under.backend.share_prefix = True
    assert all(g.error is None for g in together)
    assert [g.text for g in together] == [g.text for g in one_by_one]


def test_generate_stops_at_end_of_turn(under: BackendUnderTest) -> None:
    assert under.end_of_turn in under.backend._stop_ids
    with under.force_next_token(under.backend, under.end_of_turn):  # a reply that starts with it is empty
        gen = under.backend.generate([JudgePrompt("", "hi", "")], 8)[0]
    assert gen.text == "" and gen.completion_tokens == 1


def test_count_tokens_render_and_plain_fallback(under: BackendUnderTest) -> None:
    assert under.backend.count_tokens("PASS") == 1 and under.backend.count_tokens("") == 0
    assert under.backend.render(JudgePrompt("sys", "user", "prefix")) == CHATML_RENDERED
    plain = under.make()
    under.drop_chat_template(plain)
    assert plain.render(JudgePrompt("S", "U", "P")) == "System: S\n\nUser: U\n\nAssistant: P"
    assert plain.label_probs([JudgePrompt("S", "U", "P")], LABELS)[0].error is None


def test_registry_builds_it_and_bad_options_raise(under: BackendUnderTest, tmp_path: Path) -> None:
    model = under.backend.model_id
    built = build_backend(under.name, model=model, threads=1)
    assert type(built) is type(under.backend) and built.name == under.name and built.model_id == model
    assert built.label_probs(criterion_prompts()[:1], LABELS)[0].error is None
    with pytest.raises(JudgerlError):
        under.make(max_batch=0)
    missing = under.missing(tmp_path)
    with pytest.raises(JudgerlError) as info:
        type(under.backend)(missing)
    assert "\n" not in str(info.value) and Path(missing).name in str(info.value)


def test_many_criteria_sanity(under: BackendUnderTest) -> None:
    """A realistic shape (one sample, a dozen criteria of varied length) over few rows; no timing here."""
    criteria = [f"criterion {k}: " + "the answer is correct and polite. " * (k % 4 + 1) for k in range(12)]
    prompts = criterion_prompts(criteria)
    shared = under.make(max_batch=5).label_probs(prompts, LABELS)
    _same(under, shared, run_labels(under.backend, prompts, share=False))
    assert len({r.latency_s for r in shared}) == 1  # the shared pass is timed as one call and split evenly


def test_async_call_of_several_prompts(under: BackendUnderTest) -> None:
    results = asyncio.run(under.backend.alabel_probs(criterion_prompts()[:2], LABELS))
    _same(under, results, run_labels(under.backend, criterion_prompts()[:2], share=False))


def test_concurrent_calls_are_coalesced_into_one_pass_with_the_same_verdicts(
    under: BackendUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GRPO group's completions arrive as concurrent calls (one per sample): one planned pass scores them all,
    sharing the prefix across samples, with the verdicts each call would get on its own."""
    backend = under.backend
    samples = [[p] for p in criterion_prompts()]  # five "samples", one criterion each, sharing a long prefix
    alone = [run_labels(backend, s, share=False)[0] for s in samples]
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
    _same(under, coalesced, alone)
    backend.coalesce_s = 0.0
    try:
        passes.clear()
        asyncio.run(concurrently())
        assert passes == [1, 1, 1, 1, 1]  # coalescing off: one call each
    finally:
        backend.coalesce_s = 0.01


def test_a_failing_pass_reaches_every_coalesced_caller(
    under: BackendUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = under.backend

    def broken(prompts: list[JudgePrompt], labels: list[str]) -> list:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(backend, "label_probs", broken)

    async def concurrently() -> list:
        calls = (backend.alabel_probs([p], LABELS) for p in criterion_prompts())
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(concurrently())
    assert len(outcomes) == 5 and all(isinstance(o, RuntimeError) for o in outcomes)
    # the drain thread clears its flag after delivering the failures (callers can wake first on a loaded machine)
    deadline = time.monotonic() + 10
    while backend._draining and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backend._draining is False  # the next call starts a new drain
