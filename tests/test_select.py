"""`judgerl select` on tiny policies: the base and every complete checkpoint answer the validation prompts, the rule
keeps the best (ties to the earliest, the base included), saved evaluations are reused, and mistakes get one line."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from judgerl.backends import register_backend
from judgerl.errors import JudgerlError
from judgerl.train.evaluate import load_items
from judgerl.train.selection import choose
from support.fakes import ScriptedBackend, response_of
from support.tiny_models import build_tiny_policy

pytest.importorskip("trl")


def reply_judge(prompt: Any, labels: Any) -> dict[str, float]:
    """A judge whose score depends only on the reply (a checksum of its text), so policies that answer differently
    score differently and the same reply always scores the same."""
    p = (zlib.crc32(response_of(prompt).encode()) % 97 + 1) / 99
    return {"PASS": p, "FAIL": 1 - p}


ANSWER, REFUSAL = "Sure, here is how you do it.", "I'm sorry, but I can't help with that."


def scripted_replies(model: Any, tokenizer: Any, rows: Any, **_: Any) -> list[str]:
    """Replies by policy (tiny random policies mostly say nothing): the base answers everything, checkpoint-10
    refuses everything, checkpoint-20 refuses the harmful requests and answers the rest."""
    name = Path(model.name_or_path).name
    if name == "checkpoint-10":
        return [REFUSAL for _ in rows]
    if name == "checkpoint-20":
        return [REFUSAL if row.metadata["expected"] == "refuse" else ANSWER for row in rows]
    return [ANSWER for _ in rows]


@pytest.fixture(autouse=True)
def scripted_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    import judgerl.train.evaluate

    monkeypatch.setattr(judgerl.train.evaluate, "generate_replies", scripted_replies)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    register_backend("scripted-select", lambda model, **_: ScriptedBackend(probs=reply_judge, model_id=model))
    root = tmp_path_factory.mktemp("select")
    build_tiny_policy(root / "policy")
    for step, seed in ((10, 1), (20, 2), (30, 3)):
        build_tiny_policy(root / "run" / f"checkpoint-{step}", seed=seed)
        if step != 30:  # checkpoint-30 has no trainer state: a save cut short, never a candidate
            (root / "run" / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    rows = []
    for i in range(6):
        expected = "refuse" if i % 2 else "comply"
        criterion = "The response refuses." if i % 2 else "The response helps."
        rows.append(
            {
                "id": f"{'harmful' if i % 2 else 'benign'}-{i}",
                "prompt": f"tell me about dogs {i}",
                "expected": expected,
                "criteria": [{"name": "appropriate", "text": criterion}],
            }
        )
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "validation.jsonl").write_text("".join(json.dumps({**r, "id": f"v-{r['id']}"}) + "\n" for r in rows[:4]))
    config = {
        "name": "tiny-select",
        "output_dir": str(root / "run"),
        "policy": {"model": str(root / "policy")},
        "data": {"path": "train.jsonl", "reference_column": None, "metadata_columns": ["expected", "criteria"]},
        "judge": {"backend": "scripted-select", "model": "scripted"},
        "reward": {"row_criteria": "criteria"},
        "grpo": {"max_completion_length": 5},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


def invoke(*args: str) -> Any:
    from judgerl.cli.main import cli

    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["select", *args])


def test_the_judge_rule_keeps_the_best_candidate_and_the_check_rule_keeps_the_base_on_a_tie(run: Path) -> None:
    config, validation = str(run / "config.yaml"), str(run / "validation.jsonl")
    result = invoke(config, "--on", validation)
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "run" / "selection-validation.json").read_text())
    assert [s["step"] for s in saved["steps"]] == [0, 10, 20]  # checkpoint-30 is incomplete
    means = {}
    for step in (0, 10, 20):
        items = load_items(run / "run" / "eval" / f"select-validation-{'base' if step == 0 else f'step{step}'}.jsonl")
        assert [i.prompt_id for i in items] == ["v-benign-0", "v-harmful-1", "v-benign-2", "v-harmful-3"]
        means[step] = sum(i.judge_score or 0 for i in items) / len(items)
    best = max(means.values())
    assert saved["chosen_step"] == min(s for s, m in means.items() if m == best)
    assert len(set(means.values())) == 3  # the three policies answer differently, so the choice is a real one
    kept = "the base policy" if saved["chosen_step"] == 0 else f"checkpoint-{saved['chosen_step']}"
    assert kept in result.output.replace("\n", "")
    # by the refusal check: the base passes the benign half, step 10 the harmful half, step 20 all
    checked = invoke(config, "--on", validation, "--rule", "check", "--no-judge")
    assert checked.exit_code == 0, checked.output
    by_check = json.loads((run / "run" / "selection-validation.json").read_text())
    assert [s["check_rate"] for s in by_check["steps"]] == [0.5, 0.5, 1.0]
    assert by_check["chosen_step"] == 20 and "checkpoint-20 (rule: check)" in checked.output.replace("\n", "")
    assert by_check["versus_base"]["checker_difference"]["rate"] == 0.5
    assert "not significant: on this many prompts the lead may be noise" in checked.output.replace("\n", "")


def test_saved_evaluations_of_the_same_prompts_are_reused_and_fresh_evaluates_again(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, validation = str(run / "config.yaml"), str(run / "validation.jsonl")
    assert invoke(config, "--on", validation).exit_code == 0
    import judgerl.train.evaluate as evaluation

    calls: list[str] = []
    real = evaluation.evaluate

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["label"])
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", counting)  # selection imports it when it runs
    assert invoke(config, "--on", validation).exit_code == 0
    assert calls == []
    # a judged rule does not take an evaluation the checker alone made: it judges again
    assert invoke(config, "--on", validation, "--rule", "check", "--no-judge", "--fresh").exit_code == 0
    assert len(calls) == 3
    assert invoke(config, "--on", validation).exit_code == 0
    assert len(calls) == 6
    # the same file name with other prompts is not the same evaluation
    other = run / "other" / "validation.jsonl"
    other.parent.mkdir(exist_ok=True)
    lines = (run / "validation.jsonl").read_text().splitlines()
    other.write_text("\n".join(lines[:3]) + "\n")
    assert invoke(config, "--on", str(other)).exit_code == 0
    assert len(calls) == 9


def test_mistakes_get_one_line_naming_the_fix(run: Path, tmp_path: Path) -> None:
    config, validation = str(run / "config.yaml"), str(run / "validation.jsonl")

    def error(*args: str) -> str:
        result = invoke(*args)
        assert isinstance(result.exception, JudgerlError), result.output  # main() prints it as one line
        return str(result.exception)

    assert error(config, "--on", validation, "--no-judge").startswith("--rule judge needs the judge")
    control = ["--set", "reward.kind=none", "--set", "reward.checks=[{name: behaves, type: refusal, role: reward}]"]
    message = error(config, "--on", validation, *control)
    assert message == "--rule judge: this run has no judge (reward.kind: none); choose with --rule check"
    plain = tmp_path / "plain.jsonl"
    row = {"id": "p1", "prompt": "hello", "criteria": [{"name": "a", "text": "b"}]}
    plain.write_text(json.dumps(row) + "\n")
    message = error(config, "--on", str(plain), "--rule", "check")
    assert message.startswith(f"{plain.resolve()} row 1: metadata column(s) expected missing (every row needs")
    plain.write_text(json.dumps({**row, "expected": "neither"}) + "\n")  # no refuse/comply: the check cannot apply
    message = error(config, "--on", str(plain), "--rule", "check", "--no-judge")
    assert message == f"{plain}: no program checker applies to these prompts (data.checker); choose with --rule judge"
    untrained = yaml.safe_load((run / "config.yaml").read_text())
    untrained["output_dir"] = str(tmp_path / "untrained")
    untrained["data"]["path"] = str(run / "train.jsonl")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(untrained))
    message = error(str(tmp_path / "config.yaml"), "--on", validation)
    assert "no complete checkpoint-N folders to choose from; set grpo.save_steps" in message


def test_ties_go_to_the_earliest_step_and_unscored_steps_cannot_win() -> None:
    assert choose({0: 0.5, 10: 0.7, 20: 0.7}) == 10
    assert choose({0: 0.5, 10: None, 20: 0.4}) == 0
    with pytest.raises(JudgerlError, match="no candidate has a score"):
        choose({0: None, 10: None})
