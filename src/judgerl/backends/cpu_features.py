"""What this CPU can do, read from /proc/cpuinfo: the one place that parses it.

Two readers: the policy and the in-process judge pick bf16 only where the CPU computes it natively, and the benchmarks
fingerprint results by the CPU (bf16 results differ in the last bits between CPUs whose kernels differ)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

#: the CPU features that decide which kernels torch runs (bf16 natively, matrix units)
KERNEL_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
#: any one of these and torch computes bf16 natively; without them it emulates bf16, several times slower than fp32
NATIVE_BF16 = frozenset({"avx512_bf16", "amx_bf16"})


class CpuFeatures(BaseModel):
    model: str
    """the ``model name`` line; empty where /proc/cpuinfo cannot be read"""
    flags: frozenset[str]

    @property
    def kernel_features(self) -> list[str]:
        """Which of KERNEL_FEATURES it has, in that order."""
        return [feature for feature in KERNEL_FEATURES if feature in self.flags]

    @property
    def native_bf16(self) -> bool:
        return bool(self.flags & NATIVE_BF16)


def read_cpu_features(cpuinfo: str | None = None) -> CpuFeatures:
    """Parse ``cpuinfo`` (this machine's /proc/cpuinfo when None; no flags where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    lines = cpuinfo.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return CpuFeatures(model=model, flags=frozenset(cpuinfo.split()))
