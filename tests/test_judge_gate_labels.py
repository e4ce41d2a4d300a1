"""The judge gate on a labelled file (``judge.validation.labels``): the run's judge scores rows whose right verdict
is written down; one that agrees with the labels passes, one that answers at random is refused before step 1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from judgerl.errors import JudgerlError, SampleError
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.rubric import Criterion, Rubric
from judgerl.train.config import load_config, parse_config
from judgerl.train.gate_labels import load_label_rows, run_label_gate
from judgerl.train.rubrics import RubricJudges
from support.fakes import ScriptedBackend, criterion_of, response_of

COMMAS = "The response contains no commas."
SHORT = "The response is at most five words long."
RUBRIC = Rubric(name="style", criteria=(Criterion(name="short", text=SHORT),))

REPLIES = ["yes indeed", "well, maybe, yes", "no", "one, two, three", "sure thing here", "a, b"]


def label_rows() -> list[dict[str, Any]]:
    """Both row shapes: 'criterion' + 'label' for commas, 'labels' on the run's rubric criterion 'short'."""
    rows: list[dict[str, Any]] = []
    for k, reply in enumerate(REPLIES):
        rows.append(
            {"id": f"c{k}", "prompt": "Reply.", "response": reply, "criterion": COMMAS, "label": "," not in reply}
        )
        long_reply = reply + " and then some more words to make it long"
        rows.append({"id": f"s{k}", "prompt": "Reply.", "response": reply, "labels": {"short": True}})
        rows.append({"id": f"l{k}", "prompt": "Reply.", "response": long_reply, "labels": {"short": False}})
    return rows


def agreeing(prompt: Any, labels: Any) -> dict[str, float]:
    """Reads the reply as a careful judge would."""
    reply = response_of(prompt)
    good = "," not in reply if criterion_of(prompt) == COMMAS else len(reply.split()) <= 5
    p = 0.85 if good else 0.2
    return {"PASS": p, "FAIL": 1 - p}


def coin(prompt: Any, labels: Any) -> dict[str, float]:
    """P(PASS) from a hash of the judge prompt: unrelated to whether the reply meets the criterion."""
    p = int(hashlib.sha256(prompt.user.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return {"PASS": p, "FAIL": 1 - p}


def judges(backend: ScriptedBackend) -> RubricJudges:
    return RubricJudges(lambda rubric: RubricJudge(rubric, backend, rationales="none"), base=RUBRIC)


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_judge_that_agrees_with_the_labels_passes(tmp_path: Path) -> None:
    labels = write(tmp_path / "labels.jsonl", label_rows())
    result = run_label_gate(
        labels, judges=judges(ScriptedBackend(probs=agreeing)), min_auc=0.8, enforce=True, save_to=tmp_path / "g.json"
    )
    assert result.passed and result.judge_auc == pytest.approx(1.0) and result.source == "labels"
    assert result.replies == 18 and {g.criteria for g in result.groups} == {COMMAS, SHORT}
    assert "18 labelled rows of" in result.line() and "against their labels" in result.line()
    saved = json.loads((tmp_path / "g.json").read_text())
    assert saved["passed"] is True and len(saved["items"]) == 18


def test_a_judge_at_chance_is_refused_before_step_one(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from judgerl.train.runner import train

    write(tmp_path / "labels.jsonl", label_rows())
    (tmp_path / "rubric.yaml").write_text(yaml.safe_dump(RUBRIC.model_dump(mode="json")))
    (tmp_path / "data.jsonl").write_text(json.dumps({"id": "p", "prompt": "Reply."}) + "\n")
    config = {
        "name": "labels",
        "output_dir": str(tmp_path / "run"),
        "policy": {"model": str(tmp_path / "never-loaded")},  # the labels are judged before the policy loads
        "data": {"path": "data.jsonl", "reference_column": None},
        "judge": {"backend": "scripted", "model": "scripted", "validation": {"labels": "labels.jsonl"}},
        "reward": {"rubric": "rubric.yaml"},
        "grpo": {"max_steps": 1, "use_cpu": True},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    loaded = load_config(tmp_path / "config.yaml")
    with pytest.raises(
        JudgerlError,
        match=r"judge validation: AUC 0\.\d\d \(within each criterion\) on 18 labelled rows of .*labels"
        r"\.jsonl is below the bar 0\.80",
    ):
        train(loaded, backend=ScriptedBackend(probs=coin))
    gate = json.loads((loaded.run_dir / "judge_gate_labels.json").read_text())
    assert gate["passed"] is False and gate["judge_auc"] < 0.8
    assert not (loaded.run_dir / "judge_gate.json").exists()  # labels alone: the policy's replies are not sampled
    assert not list(loaded.run_dir.glob("checkpoint-*")) and not (loaded.run_dir / "final").exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "p", "response": "r", "criterion": COMMAS}, r":1: field 'label' is missing"),
        ({"prompt": "p", "response": "r", "label": True}, r":1: field 'criterion' is missing"),
        ({"prompt": "p", "response": "r", "criterion": COMMAS, "label": "maybe"}, r":1: field 'label': "),
        ({"response": "r", "criterion": COMMAS, "label": True}, r":1: field 'prompt' is missing"),
        ({"prompt": "p", "response": "r"}, r":1: needs 'criterion' and 'label'"),
        (
            {"prompt": "p", "response": "r", "labels": {"short": True}, "criterion": COMMAS, "label": True},
            r":1: give either 'criterion' and 'label', or 'labels', not both",
        ),
    ],
)
def test_a_bad_row_is_named_with_its_file_line_and_field(tmp_path: Path, row: dict[str, Any], message: str) -> None:
    path = write(tmp_path / "labels.jsonl", [row])
    with pytest.raises(SampleError, match=f"labels.jsonl{message}"):
        load_label_rows(path)


def test_a_label_on_a_criterion_the_rubric_lacks_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "labels.jsonl", [{"prompt": "p", "response": "r", "labels": {"shrot": True}}])
    with pytest.raises(SampleError, match=r"labels.jsonl:1: field 'labels.shrot': no criterion 'shrot' .*short"):
        run_label_gate(path, judges=judges(ScriptedBackend(probs=agreeing)), min_auc=0.8, enforce=True)


def test_validation_needs_something_to_measure() -> None:
    base: dict[str, Any] = {
        "name": "x",
        "policy": {"model": "m"},
        "data": {"path": "d.jsonl"},
        "reward": {"rubric": "r.yaml"},
        "judge": {"validation": {"checker": "none"}},
    }
    with pytest.raises(JudgerlError, match=r"judge\.validation: checker 'none' needs 'labels: <file>'"):
        parse_config(base, "t.yaml")
    base["judge"]["validation"] = {"labels": "l.jsonl"}
    assert parse_config(base, "t.yaml").judge.validation.policy_checker is None  # type: ignore[union-attr]
    base["judge"]["validation"] = {"labels": "l.jsonl", "checker": "auto"}
    assert parse_config(base, "t.yaml").judge.validation.policy_checker == "auto"  # type: ignore[union-attr]
    base["judge"]["validation"] = {}
    assert parse_config(base, "t.yaml").judge.validation.policy_checker == "auto"  # type: ignore[union-attr]


def test_a_labelled_gate_gives_pass_fail_thresholds_for_one_criterion_not_for_a_mix(tmp_path: Path) -> None:
    """It measures each criterion on its own: a prompt judged under one criterion is covered; a prompt whose score
    mixes two criteria has no threshold there, and the run is stopped with the one-line message."""
    from judgerl.train.data import PromptRow
    from judgerl.train.pass_fail import training_thresholds

    prompt = PromptRow(prompt=[{"role": "user", "content": "Reply."}], prompt_id="p0", reference=None, metadata={})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    one = judges(ScriptedBackend(probs=agreeing))
    run_label_gate(
        write(tmp_path / "one.jsonl", label_rows()),
        judges=one,
        min_auc=0.8,
        enforce=True,
        save_to=run_dir / "judge_gate_labels.json",
    )
    midway = pytest.approx((0.85 + 0.2) / 2)
    assert training_thresholds(run_dir, one, [prompt]) == {SHORT: midway, COMMAS: midway}

    both = Rubric(name="style", criteria=(Criterion(name="short", text=SHORT), Criterion(name="commas", text=COMMAS)))
    two = RubricJudges(
        lambda rubric: RubricJudge(rubric, ScriptedBackend(probs=agreeing), rationales="none"), base=both
    )
    rows = [
        {"id": f"b{k}", "prompt": "Reply.", "response": reply, "labels": {"short": True, "commas": "," not in reply}}
        for k, reply in enumerate(REPLIES)
    ] + [
        {"id": f"x{k}", "prompt": "Reply.", "response": reply + " and many more words", "labels": {"short": False}}
        for k, reply in enumerate(REPLIES)
    ]
    result = run_label_gate(
        write(tmp_path / "two.jsonl", rows),
        judges=two,
        min_auc=0.8,
        enforce=True,
        save_to=run_dir / "judge_gate_labels.json",
    )
    assert {g.criteria for g in result.groups} == {SHORT, COMMAS}
    with pytest.raises(
        JudgerlError,
        match=r"the labelled gate measures each criterion on its own, so it gives no threshold for a score that "
        r"mixes two or more: 'The response is at most five words long\. \| The response cont' \(1 prompts, e\.g\. "
        r"p0\)\. Add judge\.validation\.checker",
    ):
        training_thresholds(run_dir, two, [prompt])
