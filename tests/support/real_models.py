"""Access to the real packaged models for integration tests; they skip only when a model is not pulled."""

from __future__ import annotations

from pathlib import Path

import pytest


def _find_shared_data() -> Path:
    """``shared/data`` beside the checkout or beside any folder above it (worktrees sit one level deeper)."""
    for parent in Path(__file__).resolve().parents[1:]:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


SHARED_DATA = _find_shared_data()


def pulled_model_dir(name: str) -> str:
    from judgerl.errors import ModelNotFound
    from judgerl.models.catalog import resolve_model

    try:
        return resolve_model(name)
    except ModelNotFound as exc:
        pytest.skip(f"{exc} (make test pulls it)")
    raise AssertionError("unreachable")


def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
