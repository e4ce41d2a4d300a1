"""Shared fixtures. Keep additions small and independent."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_judge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random chat model with a real tokenizer, built once per session (offline, deterministic)."""
    from tiny_models import build_tiny_judge

    return build_tiny_judge(tmp_path_factory.mktemp("tiny_judge"))
