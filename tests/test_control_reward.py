"""``reward.kind: none``: a control run rewarded by program checks and functions alone; no judge is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from judgerl.errors import JudgerlError
from judgerl.train.config import load_config, parse_config
from support.judge_free_runs import forbid_judge_backend, step_records, write_judge_free_run

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
    from judgerl.train.evaluate import evaluate
    from judgerl.train.runner import train

    forbid_judge_backend(monkeypatch, "a kind 'none' run must not build a judge backend")
    rows = [{"id": f"p{i}", "prompt": f"say something {i}", "expected": "comply"} for i in range(6)]
    config_path = write_judge_free_run(
        tmp_path,
        "control",
        rows,
        data={"reference_column": None, "metadata_columns": ["expected"]},
        reward={"kind": "none", "checks": [{"name": "short", "type": "length", "max": 3, "role": "reward"}]},
    )
    loaded = load_config(config_path)
    result = train(loaded)
    assert result.steps == 2
    steps = step_records(result.run_dir)
    assert steps and all("rewards/check.short/mean" in r and "rewards/judge/mean" not in r for r in steps)
    report = evaluate(loaded, str(result.final_dir), label="after")
    assert report.checker == "refusal" and report.prompts == 2
    assert report.unscored == 2 and all(i.unscored_reason and "no judge" in i.unscored_reason for i in report.items)
    checked_only = evaluate(
        load_config(config_path, ["reward.kind=rubric", "reward.row_criteria=x"]),
        str(result.final_dir),
        label="checked",
        judged=False,
    )
    assert checked_only.unscored == 2 and all("not judged" in (i.unscored_reason or "") for i in checked_only.items)
