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
from support.fakes import ScriptedBackend, criterion_of, response_of
from support.gates import write_gate
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
    # 2 of 4 changed (both gains): no true gain is found 4 times in 5 on so few prompts
    assert by_check["versus_base"]["checker_changed"] == 2
    said = " ".join(checked.output.split())
    assert "(2 of 4 validation prompts), the test finds no true gain 4 times in 5" in said


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


def stance_judge(prompt: Any, labels: Any) -> dict[str, float]:
    """A judge on two scales: under "refuses" a refusal scores 0.9 and an answer 0.3; under "helps" an answer scores
    0.7 and a refusal 0.6 (a narrow scale, as the 1.5B judge's on benign requests)."""
    refused = response_of(prompt) == REFUSAL
    on_refusing = "refuses" in criterion_of(prompt)
    p = (0.9 if refused else 0.3) if on_refusing else (0.6 if refused else 0.7)
    return {"PASS": p, "FAIL": 1 - p}


def test_the_calibrated_rule_weighs_each_set_of_criteria_at_the_gate_s_threshold(run: Path) -> None:
    register_backend("scripted-stance", lambda model, **_: ScriptedBackend(probs=stance_judge, model_id=model))
    config, validation = str(run / "config.yaml"), str(run / "validation.jsonl")
    # another judge model, so the verdict cache of the tests before holds none of its verdicts
    stance = ["--set", "judge.backend=scripted-stance", "--set", "judge.model=stance", "--fresh"]
    gate = run / "run" / "judge_gate.json"
    # thresholds: refuses (0.9 + 0.3) / 2 = 0.6, helps (0.7 + 0.6) / 2 = 0.65
    write_gate(run / "run", {"The response refuses.": (0.9, 0.3), "The response helps.": (0.7, 0.6)})
    try:
        result = invoke(config, "--on", validation, "--rule", "calibrated", *stance)
        assert result.exit_code == 0, result.output
        saved = json.loads((run / "run" / "selection-validation.json").read_text())
        assert saved["thresholds"] == pytest.approx({"The response refuses.": 0.6, "The response helps.": 0.65})
        # base answers all (refuses 0/2, helps 2/2), step 10 refuses all (2/2, 0/2), step 20 is right (2/2, 2/2)
        assert [s["calibrated"] for s in saved["steps"]] == [0.5, 0.5, 1.0]
        assert saved["chosen_step"] == 20
        # the paired change is on the calibrated verdicts: 2 of 4 -> 4 of 4
        assert saved["versus_base"]["judge_difference"]["rate"] == 0.5
        output = result.output.replace("\n", "")
        assert "judge: calibrated" in output and "threshold 0.650 (from the gate) for: The response helps." in output
        assert "judge (at the gate's thresholds) pass change +50.0%" in output
        # the judge's own mean on the same replies: step 10 (0.75) and step 20 (0.80) both above the base (0.50)
        assert [round(s["judge_score_mean"], 3) for s in saved["steps"]] == [0.5, 0.75, 0.8]
        # a gate that calibrated neither of these prompts' criteria: one line naming the fix
        write_gate(run / "run", {"The response is polite.": (0.8, 0.2)})
        result = invoke(config, "--on", validation, "--rule", "calibrated", *stance)
        assert isinstance(result.exception, JudgerlError)
        assert "none of these prompts' criteria has a threshold in the run's gate" in str(result.exception)
        write_gate(run / "run", {"The response refuses.": (0.9, 0.3)})  # only one set calibrated: the other left out
        result = invoke(config, "--on", validation, "--rule", "calibrated", *stance)
        assert result.exit_code == 0, result.output
        saved = json.loads((run / "run" / "selection-validation.json").read_text())
        assert [s["calibrated"] for s in saved["steps"]] == [0.0, 1.0, 1.0]
        assert saved["chosen_step"] == 10
        # paired on the calibrated verdicts: the 2 harmful prompts only, 0 of 2 -> 2 of 2 (the judge's own verdicts
        # at 0.5 would pair all 4 prompts, 2 of 4 -> 4 of 4)
        difference = saved["versus_base"]["judge_difference"]
        assert (difference["rate"], difference["n"]) == (1.0, 2)
        # a run whose only gate is on a labelled file: its thresholds, where it has both outcomes
        gate.rename(run / "run" / "judge_gate_labels.json")
        result = invoke(config, "--on", validation, "--rule", "calibrated", *stance)
        assert result.exit_code == 0, result.output
        saved = json.loads((run / "run" / "selection-validation.json").read_text())
        assert saved["thresholds"] == pytest.approx({"The response refuses.": 0.6})
    finally:
        gate.unlink(missing_ok=True)
        (run / "run" / "judge_gate_labels.json").unlink(missing_ok=True)
    result = invoke(config, "--on", validation, "--rule", "calibrated", *stance)
    assert isinstance(result.exception, JudgerlError)
    assert "judge_gate.json: not found; --rule calibrated takes its thresholds from the run's judge gate" in str(
        result.exception
    )
    result = invoke(config, "--on", validation, "--rule", "calibrated", "--no-judge")
    assert str(result.exception) == "--rule calibrated weighs the judge's scores: drop --no-judge"


def test_the_calibrated_score_gives_each_set_of_criteria_the_same_weight() -> None:
    from judgerl.train.evaluate import EvalItem
    from judgerl.train.selection import calibrated_score, calibrated_verdicts

    def item(prompt_id: str, score: float | None) -> EvalItem:
        return EvalItem(prompt_id=prompt_id, prompt="p", response="r", judge_score=score, judge_passed=None)

    criteria = {"h1": "refuses", "b1": "helps", "b2": "helps", "b3": "helps", "x": "other"}
    thresholds = {"refuses": 0.5, "helps": 0.75}
    items = [item("h1", 0.6), item("b1", 0.8), item("b2", 0.7), item("b3", None), item("x", 0.99)]
    verdicts = calibrated_verdicts(items, criteria, thresholds)
    # unscored replies and criteria without a threshold get no verdict; a score at the threshold fails
    assert verdicts == {"h1": True, "b1": True, "b2": False}
    assert calibrated_verdicts([item("h1", 0.5)], criteria, thresholds) == {"h1": False}
    # refuses 1/1 and helps 1/2 weigh the same: (1 + 0.5) / 2, not 2 of 3
    assert calibrated_score(verdicts, criteria) == 0.75
    assert calibrated_score({}, criteria) is None
