"""The one /proc/cpuinfo parser: the policy's bf16 choice and the benchmarks' CPU fingerprint both read it."""

from __future__ import annotations

from judgerl.backends import transformers_backend
from judgerl.backends.cpu_features import read_cpu_features

EPYC = "processor : 0\nmodel name : AMD EPYC\nflags : fpu avx2 avx512f avx512_bf16\nprocessor : 1\n"
XEON = "model name\t: Intel(R) Xeon(R) Platinum\nflags\t: fpu amx_tile avx512f amx_bf16 avx2\n"
AVX2 = "model name : AMD EPYC 7B12\nflags : fpu avx2\n"
AVX512 = "model name : Intel(R) Xeon(R) Gold 6148\nflags : fpu avx2 avx512f avx512bw\n"  # no bf16 unit


def test_model_and_kernel_features_in_a_fixed_order() -> None:
    assert read_cpu_features(EPYC).model == "AMD EPYC"
    assert read_cpu_features(XEON).model == "Intel(R) Xeon(R) Platinum"
    # the listed order, not the file's: a fingerprint must not change with how the kernel prints flags
    assert read_cpu_features(XEON).kernel_features == ["avx2", "avx512f", "amx_bf16", "amx_tile"]
    assert read_cpu_features(AVX2).kernel_features == ["avx2"]


def test_native_bf16_needs_avx512_bf16_or_amx() -> None:
    assert read_cpu_features(EPYC).native_bf16 and read_cpu_features(XEON).native_bf16
    assert not read_cpu_features(AVX2).native_bf16
    assert not read_cpu_features(AVX512).native_bf16
    assert not read_cpu_features("").native_bf16
    # the backend's question is answered by the same parser
    assert transformers_backend.cpu_has_native_bf16(EPYC) and not transformers_backend.cpu_has_native_bf16(AVX2)


def test_this_machine_reads_without_error() -> None:
    features = read_cpu_features()
    assert set(features.kernel_features) <= features.flags
