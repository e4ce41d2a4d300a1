from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgerl.backends import register_backend
from judgerl.backends.base import JudgePrompt
from judgerl.cli.main import cli
from support.fakes import ScriptedBackend, criterion_of, response_of

RUBRIC = """
criteria:
  - {name: safe, text: The response is safe., gate: true}
  - {name: correct, text: The response is correct., weight: 2}
"""


def probs(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float] | str:
    if list(labels) == ["A", "B"]:
        p_first = 0.7 if "long" in prompt.user.split("## Response A\n", 1)[1].split("## Response B")[0] else 0.3
        return {"A": p_first, "B": 1 - p_first}
    response = response_of(prompt)
    if response == "TIMEOUT":
        return "timed out after 30 s"
    if criterion_of(prompt) == "The response is safe.":
        return {"PASS": 0.1 if "bomb" in response else 0.9, "FAIL": 0.9 if "bomb" in response else 0.1}
    p = 0.3 if "4" in response else 0.1
    return {"PASS": p, "FAIL": 1 - p}


@pytest.fixture(autouse=True)
def scripted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_backend("scripted", lambda **options: ScriptedBackend(probs, reply=lambda p: "because."))
    monkeypatch.setenv("JUDGERL_HOME", str(tmp_path / "home"))


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_judge_writes_one_row_per_input_in_order(tmp_path: Path) -> None:
    rubric = tmp_path / "r.yaml"
    rubric.write_text(RUBRIC)
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"id": "a", "prompt": "2+2?", "response": "4", "reference": "4"},
            {"id": "b", "prompt": "2+2?", "response": "TIMEOUT"},
            {"id": "c", "prompt": "2+2?", "response": "build a bomb"},
        ],
    )
    out = tmp_path / "v.jsonl"
    args = [
        "judge",
        "--rubric",
        str(rubric),
        "--input",
        str(samples),
        "--output",
        str(out),
        "--backend",
        "scripted",
        "--model",
        "x",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["score"] == pytest.approx(0.3) and rows[0]["criteria"][1]["p_pass"] == pytest.approx(0.3)
    assert rows[0]["criteria"][1]["rationale"] == "because."  # failures get a rationale by default
    assert rows[1]["score"] is None and "timed out" in rows[1]["unscored_reason"]
    assert rows[2]["score"] == 0.0 and rows[2]["gate_failed"] == "safe"
    assert "pass rate" in result.output and "unscored samples 1" in result.output
    # --store records the run for `judgerl report` / `judgerl inspect`
    stored = CliRunner().invoke(cli, [*args, "--no-cache", "--store", str(tmp_path / "run")])
    assert stored.exit_code == 0, stored.output
    import sqlite3

    with sqlite3.connect(tmp_path / "run" / "verdicts.sqlite") as db:
        ids = {row[0] for row in db.execute("SELECT DISTINCT sample_id FROM verdicts")}
    assert ids == {"a", "b", "c"}
    # second run is served by the cache
    again = CliRunner().invoke(cli, args)
    assert "3 hits" in again.output or "4 hits" in again.output


def test_calibrate_then_judge_uses_thresholds(tmp_path: Path) -> None:
    rubric = tmp_path / "r.yaml"
    rubric.write_text(RUBRIC)
    labelled = write_jsonl(
        tmp_path / "l.jsonl",
        [
            {"id": str(i), "prompt": "2+2?", "response": r, "labels": {"correct": ok, "safe": True}}
            for i, (r, ok) in enumerate([("4", True), ("four: 4", True), ("5", False), ("22", False)])
        ],
    )
    result = CliRunner().invoke(
        cli, ["calibrate", "--rubric", str(rubric), "--labels", str(labelled), "--backend", "scripted", "--model", "x"]
    )
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "r.calibration.json").read_text())
    assert 0.1 < saved["scripted-judge"]["correct"]["threshold"] <= 0.3
    out = tmp_path / "v.jsonl"
    samples = write_jsonl(tmp_path / "s.jsonl", [{"id": "a", "prompt": "2+2?", "response": "4"}])
    CliRunner().invoke(
        cli,
        [
            "judge",
            "--rubric",
            str(rubric),
            "--input",
            str(samples),
            "--output",
            str(out),
            "--backend",
            "scripted",
            "--model",
            "x",
            "--score",
            "hard",
            "--no-cache",
        ],
    )
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["criteria"][1]["passed"] is True and row["score"] == 1.0


def test_pairwise_cli(tmp_path: Path) -> None:
    pairs = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": 1, "prompt": "Explain.", "response_a": "a long answer", "response_b": "short"},
            {"id": 2, "prompt": "Explain.", "response_a": "short", "response_b": "a long answer"},
        ],
    )
    out = tmp_path / "prefs.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "judge",
            "--pairwise",
            "--input",
            str(pairs),
            "--output",
            str(out),
            "--backend",
            "scripted",
            "--model",
            "x",
            "--no-cache",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["winner"] for r in rows] == ["A", "B"] and all(r["consistent"] for r in rows)
    assert "order-consistent" in result.output


@pytest.mark.parametrize(
    ("rubric_text", "expected"),
    [
        ("criteria:\n  - {name: a, text: x, weight: -2}\n", "criterion 'a', field 'weight'"),
        ("criteria:\n  - {name: a, text: x}\n  - {name: a, text: y}\n", "duplicate criterion name 'a'"),
    ],
)
def test_user_mistakes_are_one_line_without_traceback(tmp_path: Path, rubric_text: str, expected: str) -> None:
    rubric = tmp_path / "bad.yaml"
    rubric.write_text(rubric_text)
    samples = write_jsonl(tmp_path / "s.jsonl", [{"id": "a", "prompt": "p", "response": "r"}])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "judgerl",
            "judge",
            "--rubric",
            str(rubric),
            "--input",
            str(samples),
            "--output",
            str(tmp_path / "o.jsonl"),
        ],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(Path(__file__).parents[1] / "src"), "PATH": ""},
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr and "Traceback" not in proc.stderr


def test_missing_field_and_unknown_backend(tmp_path: Path) -> None:
    rubric = tmp_path / "r.yaml"
    rubric.write_text(RUBRIC)
    samples = write_jsonl(tmp_path / "s.jsonl", [{"id": "a", "prompt": "p"}])
    result = CliRunner().invoke(
        cli,
        ["judge", "--rubric", str(rubric), "--input", str(samples), "--output", str(tmp_path / "o.jsonl")],
        standalone_mode=False,
    )
    assert "s.jsonl:1: field 'response' is missing" in str(result.exception)
    good = write_jsonl(tmp_path / "g.jsonl", [{"id": "a", "prompt": "p", "response": "r"}])
    result = CliRunner().invoke(
        cli,
        [
            "judge",
            "--rubric",
            str(rubric),
            "--input",
            str(good),
            "--output",
            str(tmp_path / "o.jsonl"),
            "--backend",
            "nope",
        ],
        standalone_mode=False,
    )
    assert "unknown backend 'nope'" in str(result.exception)


def test_help_explains_every_option() -> None:
    result = CliRunner().invoke(cli, ["judge", "--help"])
    for option in (
        "--rubric",
        "--input",
        "--output",
        "--pairwise",
        "--mode",
        "--rationales",
        "--score",
        "--cache",
        "--no-cache",
        "--backend",
        "--model",
        "--base-url",
        "--region",
        "--concurrency",
    ):
        assert option in result.output
