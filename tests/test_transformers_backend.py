"""What only the transformers backend does, on the tiny random judge: its text is the tokenizer's decoding of its
greedy tokens, bf16 only where the CPU has it with an fp32 head, verdict caches keyed by dtype, and the older
transformers cache argument. The contract it shares with the llamacpp backend (shared prefixes, distributions,
per-prompt failures, generation, coalescing) is tests/test_backend_contract.py."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch

from judgerl.backends import JudgePrompt
from judgerl.backends.transformers_backend import TransformersBackend, _cache_argument
from judgerl.errors import JudgerlError
from support.backend_contract import LABELS, SYSTEM, assert_same, criterion_prompts, run_labels

_prompts = criterion_prompts


def _assert_same(a: list, b: list, tol: float = 1e-3) -> None:
    assert_same(a, b, tol, 1e-2)


def _run(backend: TransformersBackend, prompts: list[JudgePrompt], *, share: bool) -> list:
    return run_labels(backend, prompts, share=share)


@pytest.fixture(scope="module")
def backend(tiny_judge_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny_judge_dir), dtype="float32", threads=1)


def test_reply_is_the_decoded_greedy_tokens(backend: TransformersBackend) -> None:
    """The text is what follows the prefix: the model's own reply, decoded from its new tokens only."""
    prompt = JudgePrompt(SYSTEM, "Is the answer correct?", '{"verdict": "')
    reply = backend.generate([prompt], 12)[0]
    new = backend._greedy(backend._encode(prompt), 12)
    body = new[:-1] if new[-1] in backend._stop_ids else new
    assert reply.text == backend.tokenizer.decode(body, skip_special_tokens=True)


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


def test_unknown_dtype_raises(tiny_judge_dir: Path) -> None:
    with pytest.raises(JudgerlError, match="unknown dtype"):
        TransformersBackend(str(tiny_judge_dir), dtype="float8")


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
