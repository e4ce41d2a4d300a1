"""The contract every in-process judge backend keeps, written once: tests/test_backend_contract.py runs it on the
transformers backend (the tiny random judge) and the llamacpp backend (the same judge as a tiny GGUF), and
tests/test_llamacpp_integration.py runs its checks on the packaged 0.5B.

A backend under test comes with the few things the checks cannot ask the seam for: how to build another one of
the same model with other options, its tokenizer, how to force its next token, and how far two equal computations
may drift apart in it (``tol``, on a probability)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from judgerl.backends import JudgePrompt

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
CHATML_RENDERED = "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nuser<|im_end|>\n<|im_start|>assistant\nprefix"


def criterion_prompts(criteria: Sequence[str] = CRITERIA) -> list[JudgePrompt]:
    """One sample's criteria: the prompts share a long prefix and differ in the criterion."""
    return [JudgePrompt(SYSTEM, f"{SHARED}Criterion: {c}", '{"verdict": "') for c in criteria]


@dataclass
class BackendUnderTest:
    name: str
    backend: Any
    #: another backend of the same model, with these options
    make: Callable[..., Any]
    #: text -> token ids, no special-token parsing
    tokenize: Callable[[str], list[int]]
    #: the backend's token ids of a whole prompt
    encode: Callable[[JudgePrompt], list[int]]
    #: (backend, token) -> a context in which the backend's next token is always ``token``
    force_next_token: Callable[[Any, int], AbstractContextManager[None]]
    #: removes the backend's chat template
    drop_chat_template: Callable[[Any], None]
    #: the end-of-turn token of the model's chat template
    end_of_turn: int
    #: how far two equal computations may put a label's probability (and, relatively, the label mass)
    tol: float
    mass_rel: float
    #: a model name or path that does not exist, for the build error
    missing: Callable[[Path], str]


def assert_same(
    a: Sequence[Any], b: Sequence[Any], tol: float, mass_rel: float, labels: Sequence[str] = LABELS
) -> None:
    """Two lists of results of the same prompts: scored, same token counts, the same probabilities within tol."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.error is None and y.error is None
        assert x.prompt_tokens == y.prompt_tokens
        for label in labels:
            assert x.probs[label] == pytest.approx(y.probs[label], abs=tol)
        assert x.mass == pytest.approx(y.mass, rel=mass_rel)


def assert_distribution(results: Sequence[Any], labels: Sequence[str], min_tokens: int = 1) -> None:
    """Every result scored, its probabilities a distribution over exactly the labels."""
    for r in results:
        assert r.error is None and r.probs is not None
        assert set(r.probs) == set(labels)
        assert sum(r.probs.values()) == pytest.approx(1.0, abs=1e-9)
        assert all(0.0 <= p <= 1.0 for p in r.probs.values())
        assert 0.0 < r.mass <= 1.0
        assert r.prompt_tokens >= min_tokens and r.latency_s > 0


def run_labels(
    backend: Any, prompts: Sequence[JudgePrompt], *, share: bool, labels: Sequence[str] = LABELS
) -> list[Any]:
    """``label_probs`` with the shared-prefix plan on or off (off: every prompt runs on its own tokens)."""
    backend.share_prefix = share
    try:
        return list(backend.label_probs(list(prompts), labels))
    finally:
        backend.share_prefix = True


@contextmanager
def backend_warnings() -> Iterator[list[logging.LogRecord]]:
    """Warnings the backends log meanwhile (a shared-prefix group that fell back to one prompt at a time)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("judgerl.backends")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def assert_shared_prefix_matches_unshared(
    under: BackendUnderTest, prompts: Sequence[JudgePrompt], tol: float, *, min_shared: int
) -> tuple[list[Any], list[Any]]:
    """The prompts plan as one group sharing at least ``min_shared`` tokens, that group runs as a group (no
    fall-back), and its verdicts are each prompt's verdict scored in a call of its own. Returns both."""
    backend = under.backend
    plan = backend._plan([under.encode(p) for p in prompts], list(range(len(prompts))))
    assert len(plan) == 1 and plan[0][1] >= min_shared
    with backend_warnings() as warned:
        shared = run_labels(backend, prompts, share=True)
    assert not warned, [r.getMessage() for r in warned]
    alone = [run_labels(backend, [p], share=False)[0] for p in prompts]
    assert_same(shared, alone, tol, under.mass_rel)
    return shared, alone


def assert_generates(under: BackendUnderTest, prompt: JudgePrompt, max_new_tokens: int) -> str:
    """Greedy: the same reply twice; it counts its tokens and starts after the answer prefix. Returns the text."""
    first, second = (under.backend.generate([prompt], max_new_tokens)[0] for _ in range(2))
    assert first.error is None and second.error is None and first.text is not None
    assert (first.text, first.prompt_tokens, first.completion_tokens) == (
        second.text,
        second.prompt_tokens,
        second.completion_tokens,
    )
    assert first.prompt_tokens == len(under.encode(prompt))
    assert 1 <= first.completion_tokens <= max_new_tokens
    if prompt.answer_prefix:
        assert not first.text.startswith(prompt.answer_prefix)
    return first.text


# -- the backends under test ---------------------------------------------------------------------------------------


def transformers_under_test(model: str, **options: Any) -> BackendUnderTest:
    from judgerl.backends.transformers_backend import TransformersBackend

    defaults = {"dtype": "float32", "threads": 1, **options}

    def make(**more: Any) -> TransformersBackend:
        return TransformersBackend(model, **{**defaults, **more})

    @contextmanager
    def force_next_token(backend: TransformersBackend, token: int) -> Iterator[None]:
        original = backend._head_b
        bias = backend._head_w.new_zeros(backend._head_w.shape[0])
        bias[token] = 1e4
        backend._head_b = bias
        try:
            yield
        finally:
            backend._head_b = original

    def drop_chat_template(backend: TransformersBackend) -> None:
        backend.tokenizer.chat_template = None

    backend = make()
    return BackendUnderTest(
        name="transformers",
        backend=backend,
        make=make,
        tokenize=lambda text: list(backend.tokenizer.encode(text, add_special_tokens=False)),
        encode=backend._encode,
        force_next_token=force_next_token,
        drop_chat_template=drop_chat_template,
        end_of_turn=int(backend.tokenizer.convert_tokens_to_ids("<|im_end|>")),
        tol=1e-3,
        mass_rel=1e-2,
        missing=lambda tmp: str(tmp / "no-such-model"),
    )


def llamacpp_under_test(model: str, **options: Any) -> BackendUnderTest:
    from judgerl.backends.llamacpp_backend import LlamaCppBackend

    defaults = {"threads": 1, **options}

    def make(**more: Any) -> LlamaCppBackend:
        return LlamaCppBackend(model, **{**defaults, **more})

    @contextmanager
    def force_next_token(backend: LlamaCppBackend, token: int) -> Iterator[None]:
        original = backend.engine.run_group

        def forced(prompts: Any, shared: int, *, max_new_tokens: int = 0, stop: Any = None) -> Any:
            outputs = original(prompts, shared, max_new_tokens=0, stop=stop)
            for out in outputs:
                out.logits[:] = 0.0
                out.logits[token] = 1e4
                out.new_tokens = [token] if max_new_tokens else []
            return outputs

        backend.engine.run_group = forced
        try:
            yield
        finally:
            backend.engine.run_group = original

    def drop_chat_template(backend: LlamaCppBackend) -> None:
        backend.chat_template = None

    backend = make()
    end = backend.engine.tokenize("<|im_end|>", special=True)
    assert len(end) == 1
    return BackendUnderTest(
        name="llamacpp",
        backend=backend,
        make=make,
        tokenize=lambda text: backend.engine.tokenize(text, special=False),
        encode=backend.encode,
        force_next_token=force_next_token,
        drop_chat_template=drop_chat_template,
        end_of_turn=end[0],
        # llama.cpp keeps its KV cache in f16 and groups work differently by batch: equal paths agree to ~1e-3
        tol=5e-3,
        mass_rel=5e-2,
        missing=lambda tmp: str(tmp / "none.gguf"),
    )
