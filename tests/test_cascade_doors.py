"""A judge cascade behind every door: `judgerl judge`, the store and `inspect`, serving and the Lambda, training,
`judgerl validate` and `judgerl calibrate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from judgerl.cli.main import cli
from judgerl.errors import JudgerlError
from judgerl.judges.calibration import load_margins
from judgerl.judges.cascade import RubricCascade
from judgerl.samples import Sample
from judgerl.serve.config import ServeConfig
from judgerl.serve.contract import RewardScorer
from judgerl.serve.lambda_handler import LocalContext, handler
from support.cascade import WEAK_THEN_STRONG, StageBackend
from support.serve import DATA

RUBRIC = {"name": "r", "use_reference": False, "criteria": [{"name": "correct", "text": "The answer is correct."}]}
RESPONSES = ["clear answer", "an answer", "a bad answer", "clear but bad answer"]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "rubric.yaml").write_text(yaml.safe_dump(RUBRIC), encoding="utf-8")
    (tmp_path / "cascade.yaml").write_text(yaml.safe_dump(WEAK_THEN_STRONG), encoding="utf-8")
    rows = [{"id": f"s{i}", "prompt": "q", "response": r} for i, r in enumerate(RESPONSES)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    labelled = [dict(r, labels={"correct": "bad" not in r["response"]}) for r in rows]
    (tmp_path / "labelled.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labelled), encoding="utf-8")
    return {name: tmp_path / f"{name}.{ext}" for name, ext in (("rubric", "yaml"), ("cascade", "yaml"))} | {
        "input": tmp_path / "in.jsonl",
        "labelled": tmp_path / "labelled.jsonl",
        "root": tmp_path,
    }


def test_judge_cli_records_the_deciding_stage_in_output_store_and_inspect(files: dict[str, Path]) -> None:
    out, run = files["root"] / "out.jsonl", files["root"] / "run"
    args = ["judge", "--rubric", str(files["rubric"]), "--cascade", str(files["cascade"])]
    args += ["--input", str(files["input"]), "--output", str(out), "--no-cache", "--store", str(run)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # "clear but bad": the weak judge is sure (and wrong); a cascade trusts a sure first stage
    assert [(r["cascade_stage"], r["judge_model"]) for r in rows] == [
        (1, "weak"),
        (2, "strong"),
        (2, "strong"),
        (1, "weak"),
    ]
    assert "cascade stage 1 (weak): judged 4, decided 2 (50%)" in result.output
    inspected = CliRunner().invoke(cli, ["inspect", str(run)])
    assert inspected.exit_code == 0, inspected.output
    assert "cascade stage 2 (strong) decided 2 samples (50%)" in inspected.output
    one = CliRunner().invoke(cli, ["inspect", str(run), "--sample", "s1"])
    assert "decided by cascade stage 2 (strong)" in one.output
    report = CliRunner().invoke(cli, ["report", str(run), "--out", str(run / "report.html")])
    assert report.exit_code == 0, report.output
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "Judge cascade: the stage that decided each verdict" in html
    assert "<td>2</td><td>strong</td><td>samples</td><td class=num>2</td>" in html


def test_judge_cli_refuses_single_judge_options_beside_a_cascade(files: dict[str, Path]) -> None:
    args = ["judge", "--rubric", str(files["rubric"]), "--cascade", str(files["cascade"]), "--model", "x"]
    args += ["--input", str(files["input"]), "--output", str(files["root"] / "o.jsonl")]
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, JudgerlError)  # the entry point prints it as one line, exit code 2
    assert "--model: set it in the stages of the --cascade file, not beside it" in str(result.exception)


def test_serving_builds_a_cascade_from_a_file_or_a_json_list(files: dict[str, Path], clean_env: None) -> None:
    for value in (str(files["cascade"]), json.dumps(WEAK_THEN_STRONG)):
        config = ServeConfig.from_env({"JUDGERL_RUBRIC": str(files["rubric"]), "JUDGERL_CASCADE": value})
        built = config.build()
        try:
            assert isinstance(built.rubric_judge, RubricCascade) and built.backend.model_id == "weak > strong"
            scorer = RewardScorer(built.rubric_judge)
            (verdict,) = scorer.verdicts([Sample(id="a", prompt="q", response="a bad answer")])
            assert verdict.cascade_stage == 2 and verdict.score == pytest.approx(0.1)
        finally:
            built.close()
    rubric = str(files["rubric"])
    with pytest.raises(Exception, match=r"JUDGERL_CASCADE='nowhere\.yaml': no such cascade file"):
        ServeConfig.from_env({"JUDGERL_RUBRIC": rubric, "JUDGERL_CASCADE": "nowhere.yaml"})
    with pytest.raises(Exception, match="'model' belongs to each stage"):
        ServeConfig.from_env({"JUDGERL_RUBRIC": rubric, "JUDGERL_MODEL": "m", "JUDGERL_CASCADE": str(files["cascade"])})


def test_the_lambda_scores_with_a_cascade(
    files: dict[str, Path], clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.serve import RUBRIC_PATH

    monkeypatch.setenv("JUDGERL_RUBRIC", str(RUBRIC_PATH))
    monkeypatch.setenv("JUDGERL_CASCADE", str(files["cascade"]))
    StageBackend.calls.clear()
    results = handler(json.loads((DATA / "nova_bedrock_event.json").read_text()), LocalContext())
    assert [r["id"] for r in results] == ["123", "124", "125"]
    assert all(0.0 <= r["aggregate_reward_score"] <= 1.0 for r in results)
    assert StageBackend.calls["weak"] > 0 and StageBackend.calls["strong"] > 0


def test_serve_lambda_and_validate_help_document_the_cascade() -> None:
    for command in (["serve"], ["lambda", "package"], ["judge"], ["validate"], ["calibrate"]):
        result = CliRunner().invoke(cli, [*command, "--help"])
        assert "--cascade" in result.output, command


def test_validate_reports_the_curve_and_calibrate_saves_fitted_margins(files: dict[str, Path]) -> None:
    out = files["root"] / "validation"
    args = ["validate", "--cascade", str(files["cascade"]), "--rubric", str(files["rubric"])]
    args += ["--labels", str(files["labelled"]), "--output", str(out), "--bootstrap", "50"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "| judge | margin | escalated |" in result.output
    summary = json.loads((out / "summary.json").read_text())
    curve = {(p["label"], p["margin"]): p for p in summary["curve"]}
    # the weak judge is wrong on "clear but bad", sure of it: no margin below its distance escalates it
    assert curve[("cascade", 0.1)]["escalated"] == 0.5 and curve[("cascade", 0.1)]["agreement"]["value"] == 0.75
    assert curve[("cascade", 1.0)]["agreement"]["value"] == 1.0 and curve[("cascade", 1.0)]["escalated"] == 1.0
    assert curve[("stage 2 alone (strong)", None)]["agreement"]["value"] == 1.0
    assert summary["fitted_margins"]["margins"][0] > 0.45  # only escalating everything keeps the strong agreement
    assert len((out / "verdicts-1.jsonl").read_text().splitlines()) == 4

    calibrate = ["calibrate", "--cascade", str(files["cascade"]), "--rubric", str(files["rubric"])]
    calibrate += ["--labels", str(files["labelled"]), "--no-cache", "--target-agreement", "0.7"]
    result = CliRunner().invoke(cli, calibrate)
    assert result.exit_code == 0, result.output
    margins = load_margins(files["rubric"], ["weak", "strong"])
    assert margins is not None and margins[0] < 0.45  # 75% of the strong judge's agreement is kept at 0.1


def test_validate_costs_the_curve_in_dollars_only_with_a_price_table(files: dict[str, Path]) -> None:
    out = files["root"] / "priced"
    args = ["validate", "--cascade", str(files["cascade"]), "--rubric", str(files["rubric"])]
    args += ["--labels", str(files["labelled"]), "--output", str(out), "--bootstrap", "50"]
    unpriced = CliRunner().invoke(cli, args)
    assert unpriced.exit_code == 0, unpriced.output
    assert "dollars" not in unpriced.output.splitlines()[1] and "give --prices" in unpriced.output
    assert all(p["cost_usd"] is None for p in json.loads((out / "summary.json").read_text())["curve"])

    prices = files["root"] / "prices.yaml"
    prices.write_text(yaml.safe_dump({"weak": {"input": 0, "output": 0}, "strong": {"input": 1e6, "output": 0}}))
    priced = CliRunner().invoke(cli, [*args, "--prices", str(prices)])
    assert priced.exit_code == 0, priced.output
    assert "| seconds | dollars |" in priced.output
    curve = {(p["label"], p["margin"]): p for p in json.loads((out / "summary.json").read_text())["curve"]}
    strong_alone = curve[("stage 2 alone (strong)", None)]
    # a dollar per strong prompt token, nothing for the weak judge: the cascade pays for the rows it escalates
    assert strong_alone["cost_usd"] > 0 and curve[("stage 1 alone (weak)", None)]["cost_usd"] == 0
    assert curve[("cascade", 1.0)]["cost_usd"] == pytest.approx(strong_alone["cost_usd"])
    assert 0 < curve[("cascade", 0.1)]["cost_usd"] < strong_alone["cost_usd"]

    prices.write_text(yaml.safe_dump({"strong": {"input": 1, "output": 1}}))
    missing = CliRunner().invoke(cli, [*args, "--prices", str(prices)]).exception
    assert isinstance(missing, JudgerlError) and "no price for weak" in str(missing)
    alone = ["validate", "--rubric", str(files["rubric"]), "--labels", str(files["labelled"]), "--output", str(out)]
    refused = CliRunner().invoke(cli, [*alone, "--prices", str(prices)]).exception
    assert isinstance(refused, JudgerlError) and "--prices costs a cascade" in str(refused)
