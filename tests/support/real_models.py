"""Access to the real packaged models for integration tests; they skip only when a model is not pulled."""

from __future__ import annotations

from pathlib import Path

import pytest

# The public data sets copied into the repository with their licenses (data/public/README.md).
PUBLIC_DATA = Path(__file__).resolve().parents[2] / "data" / "public"


def pulled_model_dir(name: str) -> str:
    from judgerl.errors import ModelNotFound
    from judgerl.models.catalog import resolve_model

    try:
        return resolve_model(name)
    except ModelNotFound as exc:
        pytest.skip(f"{exc} (make test pulls it)")
    raise AssertionError("unreachable")


def public_data() -> Path:
    return PUBLIC_DATA
