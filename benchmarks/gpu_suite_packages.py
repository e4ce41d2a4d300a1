"""Packages for benchmarks/gpu_suite.py on a bare GPU machine (torch, transformers, peft and accelerate only, no
network): carried wheels unpacked where a package does not import, stand-ins for the data packages trl imports but
the suite's GRPO steps do not use, and a counter of the backend's fall-back warnings. Standard library only at
import time: it runs before torch, transformers or judgerl are imported."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import sys
import tempfile
import types
import zipfile
from pathlib import Path
from typing import Any


def _top_levels(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = {n.split("/", 1)[0] for n in archive.namelist()}
    return {n.removesuffix(".py") for n in names if not n.endswith((".dist-info", ".data")) and "." not in n[:-3]}


def add_carried_wheels(folder: Path) -> list[str]:
    """Unpack the carried wheels whose packages do not import here (and that fit this interpreter) into a
    temporary folder put first on sys.path; returns their file names."""
    if not folder.is_dir():
        return []
    from packaging.tags import sys_tags
    from packaging.utils import parse_wheel_filename

    rank = {tag: k for k, tag in enumerate(sys_tags())}  # best match first
    best: dict[str, tuple[int, Path]] = {}
    for wheel in sorted(folder.glob("*.whl")):
        project, _, _, tags = parse_wheel_filename(wheel.name)
        fit = min((rank[t] for t in tags if t in rank), default=None)
        if fit is not None and (project not in best or fit < best[project][0]):
            best[project] = (fit, wheel)
    chosen = [
        wheel
        for _, wheel in sorted(best.values(), key=lambda item: item[1].name)
        if not all(importlib.util.find_spec(name) is not None for name in _top_levels(wheel))
    ]
    if chosen:
        site = Path(tempfile.mkdtemp(prefix="gpu-suite-site-"))
        for wheel in chosen:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(site)
        sys.path.insert(0, str(site))
        importlib.invalidate_caches()
    return [w.name for w in chosen]


class FallbackCounter(logging.Handler):
    """Counts the backend's "shared-prefix pass failed" warnings (a fall-back to one prompt at a time would make
    (a) measure (b) plus a failed pass) and its "batched prefill failed" ones (batched (a) would measure grouped
    (a) plus a failed pass): any is reported as a problem of the run, not a figure."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: str | None = None
        self.logger = logging.getLogger("judgerl.backends.transformers_backend")
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if any(text in record.getMessage() for text in ("shared-prefix pass failed", "batched prefill failed")):
            self.count += 1
            self.first = self.first or record.getMessage()

    def close(self) -> None:
        self.logger.removeHandler(self)
        super().close()


class _RowsDataset(list[dict[str, Any]]):
    """The in-memory rows dataset GRPOTrainer is given where the ``datasets`` package is missing."""

    cache_files: list[dict[str, str]] = []  # noqa: RUF012 - read by trl's telemetry: "in memory"

    @classmethod
    def from_list(cls, rows: list[dict[str, Any]]) -> _RowsDataset:
        return cls(rows)

    @property
    def column_names(self) -> list[str]:
        return list(self[0]) if self else []


class _StandIn(types.ModuleType):
    """An empty module whose every public attribute is a placeholder class (enough for annotations and
    isinstance checks evaluated at import time)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        placeholder = type(name, (), {"__module__": self.__name__})
        setattr(self, name, placeholder)
        return placeholder


def stand_in_data_packages() -> list[str]:
    """trl imports pandas, pyarrow and datasets at module level; this suite's GRPO steps use none of them (no
    completions table, an in-memory dataset). Where they are missing and not carried (pyarrow alone is about
    40 MiB per Python version), stand-ins let trl import; the GRPO dataset is then a list of rows (transformers
    treats it as a plain torch dataset). Returns the names stood in for."""
    missing = [n for n in ("pandas", "pyarrow", "datasets") if importlib.util.find_spec(n) is None]
    if not missing:
        return []
    if "datasets" not in missing:  # datasets imports both: it cannot import without them
        missing.append("datasets")
    for name in missing:
        for full in (name, *(f"{name}.{sub}" for sub in ("compute", "types") if name == "pyarrow")):
            module = sys.modules[full] = _StandIn(full)
            module.__spec__ = importlib.machinery.ModuleSpec(full, None)
    if "datasets" in missing:
        sys.modules["datasets"].Dataset = _RowsDataset  # type: ignore[attr-defined]
    return missing
