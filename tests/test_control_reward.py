"""``reward.kind: none``: a control run rewarded by program checks and functions alone; no judge is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from judgerl.errors import JudgerlError
from judgerl.train.config import load_config, parse_config
from support.tiny_models import build_tiny_policy

pytest.importorskip("trl")


def test_kind_none_needs_a_reward() -> None:
    base = {"name": "x", "policy": {"model": "m"}, "data": {"path": "d.jsonl"}}
    with pytest.raises(JudgerlError, match="kind 'none' needs a reward"):
        parse_config({**base, "reward": {"kind": "none"}})
    parse_config(
        {**base, "reward": {"kind": "none", "checks": [{"name": "n", "type": "length", "min": 1, "role": "reward"}]}}
    )


def test_a_checks_only_run_trains_and_evaluates_without_a_judge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from judgerl.judges.spec import JudgeSpec
    from judgerl.train.evaluate import evaluate
    from judgerl.train.runner import train

    torch.set_num_threads(1)

    def no_backend(self: JudgeSpec) -> None:
        raise AssertionError("a kind 'none' run must not build a judge backend")

    monkeypatch.setattr(JudgeSpec, "build_backend", no_backend)
    policy = build_tiny_policy(tmp_path / "policy")
    rows = [{"id": f"p{i}", "prompt": f"say something {i}", "expected": "comply"} for i in range(6)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "name": "control",
        "output_dir": str(tmp_path / "run"),
        "threads": 1,
        "policy": {"model": str(policy), "lora": {"r": 4, "alpha": 8}},
        "data": {
            "path": "data.jsonl",
            "reference_column": None,
            "metadata_columns": ["expected"],
            "eval": {"holdout": 2},
        },
        "reward": {"kind": "none", "checks": [{"name": "short", "type": "length", "max": 3, "role": "reward"}]},
        "grpo": {
            "max_steps": 2,
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "max_completion_length": 6,
            "use_cpu": True,
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    loaded = load_config(tmp_path / "config.yaml")
    result = train(loaded)
    assert result.steps == 2
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "reward" in r]
    assert steps and all("rewards/check.short/mean" in r and "rewards/judge/mean" not in r for r in steps)
    report = evaluate(loaded, str(result.final_dir), label="after")
    assert report.checker == "refusal" and report.prompts == 2
    assert report.unscored == 2 and all(i.unscored_reason and "no judge" in i.unscored_reason for i in report.items)
    checked_only = evaluate(
        load_config(tmp_path / "config.yaml", ["reward.kind=rubric", "reward.row_criteria=x"]),
        str(result.final_dir),
        label="checked",
        judged=False,
    )
    assert checked_only.unscored == 2 and all("not judged" in (i.unscored_reason or "") for i in checked_only.items)
