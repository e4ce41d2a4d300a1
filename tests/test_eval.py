"""`judgerl eval` on a tiny policy: judged scores beside IFEval's program checkers, files, paired comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from judgerl.backends import register_backend
from judgerl.checks import ifeval
from judgerl.stats import detectable_change, mcnemar_exact, paired_difference, wilson
from judgerl.train.config import load_config
from judgerl.train.evaluate import EvalItem, compare, evaluate, load_items, power_line
from support.fakes import ScriptedBackend, criterion_of, response_of
from support.stored import run_finished, stored_samples
from support.tiny_models import build_tiny_policy

pytest.importorskip("trl")


def comma_judge(prompt: Any, labels: Any) -> dict[str, float]:
    """Passes 'no comma' criteria when there is no comma; everything else at 0.6."""
    p = (0.1 if "," in response_of(prompt) else 0.9) if "comma" in criterion_of(prompt) else 0.6
    return {"PASS": p, "FAIL": 1 - p}


@pytest.fixture(scope="module")
def run_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("eval")
    policy = build_tiny_policy(root / "policy")
    rows = []
    for i in range(6):
        ids = ["punctuation:no_comma"] if i % 2 else ["punctuation:no_comma", "change_case:english_lowercase"]
        kwargs: list[dict[str, Any]] = [{} for _ in ids]
        rows.append(
            {
                "id": f"k{i}",
                "prompt": f"write a short poem about dogs {i}",
                "instruction_id_list": ids,
                "kwargs": kwargs,
                "criteria": [{"name": i.replace(":", "."), "text": ifeval.describe(i, {})} for i in ids],
            }
        )
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "name": "tiny-eval",
        "output_dir": str(root / "run"),
        "policy": {"model": str(policy)},
        "data": {
            "path": "data.jsonl",
            "reference_column": None,
            "metadata_columns": ["instruction_id_list", "kwargs", "criteria"],
            "eval": {"holdout": 4},
        },
        "judge": {"backend": "scripted-eval", "model": "scripted"},
        "reward": {"row_criteria": "criteria"},
        "grpo": {"max_completion_length": 6},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root / "config.yaml"


def test_eval_reports_judge_and_checker_side_by_side(run_config: Path) -> None:
    config = load_config(run_config)
    report = evaluate(config, "base", label="base", backend=ScriptedBackend(probs=comma_judge))
    assert report.prompts == 4 and report.checker == "ifeval"
    items = report.items
    expected = [ifeval.all_followed(list(i.checker_instructions.values())) for i in items]
    assert [i.checker_passed for i in items] == expected
    assert report.checker_pass is not None and report.checker_pass["n"] == 4
    assert report.checker_pass["rate"] == sum(bool(e) for e in expected) / 4
    for item in items:  # the scripted judge and the checker agree on no_comma by construction
        assert item.judge_criteria["punctuation.no_comma"] == item.checker_instructions["punctuation:no_comma"]
    assert report.judge_by_instruction["punctuation:no_comma"] == report.checker_by_instruction["punctuation:no_comma"]
    saved = config.run_dir / "eval"
    assert (saved / "base.json").exists() and len(load_items(saved / "base.jsonl")) == 4
    run = f"{config.name}/eval/base"  # in the verdict store too, finished, beside (not instead of) training runs
    assert len(stored_samples(config.store_path, run)) == 4 and run_finished(config.store_path, run)


def test_eval_command_compares_with_an_earlier_label(run_config: Path) -> None:
    register_backend("scripted-eval", lambda model, **_: ScriptedBackend(probs=comma_judge, model_id=model))
    from judgerl.cli.main import cli

    runner = CliRunner(env={"COLUMNS": "200"})
    first = runner.invoke(cli, ["eval", str(run_config), "--policy", "base", "--label", "a"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    second = runner.invoke(
        cli, ["eval", str(run_config), "--policy", "base", "--label", "b", "--compare", "a"], catch_exceptions=False
    )
    assert second.exit_code == 0, second.output
    assert "checker (ifeval): prompt pass" in second.output
    assert "checker pass change +0.0%" in second.output  # same greedy policy twice: no change
    # what "not significant" could have seen: with nothing changed, no gain could have shown
    assert "not a significant gain: at this share of changed replies (0 of 4 held out), the test finds no true" in (
        " ".join(second.output.split())
    )


def test_paired_statistics() -> None:
    interval = wilson(8, 10)
    assert interval.low < 0.8 < interval.high and interval.low >= 0 and interval.high <= 1
    assert wilson(0, 10).low == 0.0
    difference = paired_difference([0, 0, 1, 1], [1, 1, 1, 1])
    assert difference.value == 0.5 and difference.low <= 0.5 <= difference.high
    assert mcnemar_exact([False] * 10, [True] * 10) == pytest.approx(2 / 2**10)
    assert mcnemar_exact([True, False], [False, True]) == 1.0
    same = compare([], [])
    assert same.prompts == 0 and same.checker_difference is None and same.checker_changed == 0


def test_compare_counts_the_pairs_whose_checker_verdict_changed_either_way() -> None:
    def item(prompt_id: str, passed: bool | None) -> EvalItem:
        return EvalItem(
            prompt_id=prompt_id, prompt="p", response="r", judge_score=None, judge_passed=None, checker_passed=passed
        )

    before = [item("a", False), item("b", True), item("c", True), item("d", None), item("e", False)]
    after = [item("a", True), item("b", False), item("c", True), item("d", True), item("e", False)]
    assert compare(before, after).checker_changed == 2  # a gained, b lost; d has no verdict before
    line = power_line(12, 64)
    assert f"only from {detectable_change(64, 12 / 64):+.1%} up" in line and "(12 of 64 held out)" in line
