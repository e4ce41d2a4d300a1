"""Shared fixtures. Keep additions small and independent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Reproducible judge prompts in tests (the nonce key is otherwise random per process).
os.environ.setdefault("JUDGERL_NONCE_KEY", "tests")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No JUDGERL_* settings from the outside (but the tests' nonce key), and a fresh Lambda handler before and
    after: the serving doors read their configuration from the environment once per process."""
    from judgerl.serve import lambda_handler

    for name in list(os.environ):
        if name.startswith("JUDGERL_") and name != "JUDGERL_NONCE_KEY":
            monkeypatch.delenv(name)
    lambda_handler.reset()
    yield
    lambda_handler.reset()


@pytest.fixture(scope="session")
def tiny_judge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random chat model with a real tokenizer, built once per session (offline, deterministic)."""
    from support.tiny_models import build_tiny_judge

    return build_tiny_judge(tmp_path_factory.mktemp("tiny_judge"))


@pytest.fixture(scope="module")
def one_torch_thread() -> None:
    """Tiny matrices: threads only add overhead (modules that train ask for it with ``usefixtures``)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama policy with a word-level tokenizer, built once per session; tests only read it."""
    from support.tiny_models import build_tiny_policy

    return build_tiny_policy(tmp_path_factory.mktemp("policy"))


@pytest.fixture(scope="session")
def training_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A constructed 12-step GRPO run where reward tracks length, with anchors and one hostile sample."""
    from support.report_runs import add_hostile_sample, anchor_set, build_run

    run_dir = tmp_path_factory.mktemp("reports") / "grpo"
    build_run(run_dir, length_hacking=True, anchors=anchor_set(), steps=12)
    add_hostile_sample(run_dir, step=11)
    return run_dir


@pytest.fixture(scope="session")
def training_report(training_run: Path) -> str:
    from judgerl.report import build_report

    return build_report(training_run).read_text(encoding="utf-8")
