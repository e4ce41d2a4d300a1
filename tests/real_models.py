"""Access to the real packaged models for integration tests; they skip only when a model is not pulled."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pulled_model_dir(name: str) -> str:
    from judgerl.models import resolve_model

    from judgerl.errors import ModelNotFound

    try:
        return resolve_model(name)
    except ModelNotFound as exc:
        pytest.skip(f"{exc} (make test pulls it)")
    raise AssertionError("unreachable")


def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
