"""``policy.dtype: auto``: bfloat16 where the hardware computes it natively, float32 elsewhere, whatever CPU the
tests run on (the detection is given or monkeypatched, never read from this machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from judgerl.backends import transformers_backend
from judgerl.train.config import PolicyConfig
from judgerl.train.policy import load_policy, load_trained_policy, policy_dtype


@pytest.mark.parametrize(
    ("gpu_bf16", "cpu_bf16", "expected"),
    [(True, False, "bfloat16"), (False, True, "bfloat16"), (False, False, "float32")],
)
def test_auto_is_bfloat16_only_where_it_is_native(gpu_bf16: bool, cpu_bf16: bool, expected: str) -> None:
    assert policy_dtype("auto", gpu_bf16=gpu_bf16, cpu_bf16=cpu_bf16) == expected


@pytest.mark.parametrize("name", ["float32", "bfloat16", "float16"])
def test_an_explicit_dtype_is_kept_whatever_the_hardware(name: str) -> None:
    assert policy_dtype(name, gpu_bf16=False, cpu_bf16=False) == name
    assert policy_dtype(name, gpu_bf16=True, cpu_bf16=True) == name


@pytest.mark.parametrize(("native", "expected"), [(False, "float32"), (True, "bfloat16")])
def test_auto_reads_the_cpu_flags_when_there_is_no_gpu(
    monkeypatch: pytest.MonkeyPatch, native: bool, expected: str
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    seen: list[str | None] = []

    def flags(cpuinfo: str | None = None) -> bool:
        seen.append(cpuinfo)
        return native

    monkeypatch.setattr(transformers_backend, "cpu_has_native_bf16", flags)
    assert policy_dtype("auto") == expected
    assert seen == [None]  # read from the machine (here: the patched reader), not assumed


def test_the_cpu_flags_that_count_as_native_bf16() -> None:
    assert transformers_backend.cpu_has_native_bf16("flags : fpu sse avx2 avx512f avx512_bf16 avx512_vnni") is True
    assert transformers_backend.cpu_has_native_bf16("flags : fpu avx2 amx_bf16 amx_tile") is True
    assert transformers_backend.cpu_has_native_bf16("flags : fpu sse avx2 fma avx512f avx512bw") is False  # AVX2/512


@pytest.mark.parametrize(("native", "expected"), [(False, "float32"), (True, "bfloat16")])
def test_an_auto_policy_and_its_trained_copy_load_in_the_detected_dtype(
    monkeypatch: pytest.MonkeyPatch, policy_dir: Path, native: bool, expected: str
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(transformers_backend, "cpu_has_native_bf16", lambda cpuinfo=None: native)
    config = PolicyConfig(model=str(policy_dir), dtype="auto")
    model, _ = load_policy(config)
    assert next(model.parameters()).dtype == getattr(torch, expected)
    model, _ = load_trained_policy(str(policy_dir), config)
    assert next(model.parameters()).dtype == getattr(torch, expected)
