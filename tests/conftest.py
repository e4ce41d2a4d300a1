"""Shared fixtures. Keep additions small and independent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Reproducible judge prompts in tests (the nonce key is otherwise random per process).
os.environ.setdefault("JUDGERL_NONCE_KEY", "tests")
# Test helpers (fakes, tiny_models, real_models) import as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def tiny_judge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random chat model with a real tokenizer, built once per session (offline, deterministic)."""
    from tiny_models import build_tiny_judge

    return build_tiny_judge(tmp_path_factory.mktemp("tiny_judge"))
