"""A two-step GRPO run of a tiny policy whose reward needs no judge model (program checks, or a grader of
program graders): the run must not build a judge backend at all, for training or for evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.tiny_models import build_tiny_policy


def forbid_judge_backend(monkeypatch: pytest.MonkeyPatch, why: str) -> None:
    """Make building any judge backend fail the test with ``why``."""
    from judgerl.judges.spec import JudgeSpec

    def no_backend(self: JudgeSpec) -> None:
        raise AssertionError(why)

    monkeypatch.setattr(JudgeSpec, "build_backend", no_backend)


def write_judge_free_run(
    tmp_path: Path, name: str, rows: list[dict[str, Any]], data: dict[str, Any], reward: dict[str, Any]
) -> Path:
    """Write data.jsonl (``rows``) and config.yaml: a tiny LoRA policy, 2 steps of 4 completions of <= 6 tokens,
    the last 2 rows held out. ``data`` adds to the config's data section. Returns the config's path."""
    import torch

    torch.set_num_threads(1)
    policy = build_tiny_policy(tmp_path / "policy")
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "name": name,
        "output_dir": str(tmp_path / "run"),
        "threads": 1,
        "policy": {"model": str(policy), "lora": {"r": 4, "alpha": 8}},
        "data": {"path": "data.jsonl", "eval": {"holdout": 2}, **data},
        "reward": reward,
        "grpo": {
            "max_steps": 2,
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "max_completion_length": 6,
            "use_cpu": True,
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def step_records(run_dir: Path) -> list[dict[str, Any]]:
    """The run's logged training steps (metrics.jsonl rows with a reward)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "reward" in r]
