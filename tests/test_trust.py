"""Trust records and the trust line at every door: shown when a judge was measured on the rubric, a warning (once)
when it was not, and the packaged 0.5B called weak unless a passing record vouches for it."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgerl.backends import _FACTORIES, register_backend
from judgerl.backends.base import JudgePrompt
from judgerl.cli.main import cli
from judgerl.errors import JudgerlError
from judgerl.judges import trust
from judgerl.judges.trust import (
    NOT_VALIDATED,
    TrustRecord,
    announce_trust,
    load_trust,
    save_trust,
    trust_line,
    trust_path,
)
from judgerl.report import build_report
from judgerl.stats import Estimate
from support.fakes import ScriptedBackend, response_of
from support.serve import RUBRIC_PATH

RUBRIC = "criteria:\n  - name: polite\n    text: The response is polite.\n"


def probs(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
    p = 0.9 if "yes" in response_of(prompt) else 0.1
    return {"PASS": p, "FAIL": 1 - p}


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("JUDGERL_HOME", str(tmp_path / "home"))
    register_backend("scripted", lambda model="scripted-judge", **_: ScriptedBackend(probs, model_id=model))
    trust.forget_warnings()
    yield
    trust.forget_warnings()
    _FACTORIES.pop("scripted", None)


def record(value: float = 0.93, low: float | None = 0.88, source: str = "tune", heldout: bool = True) -> TrustRecord:
    estimate = Estimate(value=value, low=low, high=None if low is None else min(1.0, value + 0.04), n=120)
    made = TrustRecord.measured(source, "auc", estimate, "/somewhere/labelled.jsonl", heldout=heldout)  # type: ignore[arg-type]
    assert made is not None
    return made


def rubric_file(tmp_path: Path) -> Path:
    path = tmp_path / "support.yaml"
    path.write_text(RUBRIC)
    return path


def test_records_round_trip_beside_the_rubric_keyed_by_judge(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    assert trust_path(rubric) == tmp_path / "support.trust.json"
    assert trust_path(None) == tmp_path / "home" / "trust" / "pairwise.trust.json"
    save_trust(rubric, "judge-a", record())
    save_trust(rubric, "judge-b", record(0.6, 0.5))
    stored = json.loads((tmp_path / "support.trust.json").read_text())
    assert set(stored) == {"judge-a", "judge-b"}
    assert stored["judge-a"]["data"] == "labelled.jsonl" and stored["judge-a"]["passed"] is True
    assert stored["judge-b"]["passed"] is False  # the interval's low end is under the bar 0.8
    assert load_trust(rubric, "judge-a") == record().model_copy(update={"at": stored["judge-a"]["at"]})
    assert load_trust(rubric, "judge-c") is None
    save_trust(None, "judge-a", record())
    assert load_trust(None, "judge-a") is not None


def test_the_shared_format_written_by_hand_loads(tmp_path: Path) -> None:
    """The JSON shape tune writes (docs/validation.md): every field as the interface names it."""
    rubric = rubric_file(tmp_path)
    trust_path(rubric).write_text(
        json.dumps(
            {
                "qwen2.5-coder-1.5b": {
                    "source": "tune",
                    "metric": "auc",
                    "value": 0.93,
                    "low": 0.88,
                    "high": 0.97,
                    "n": 120,
                    "data": "labelled.jsonl",
                    "heldout": True,
                    "strategy": "plain-question",
                    "passed": True,
                    "at": "2026-12-04T22:00:00Z",
                }
            }
        )
    )
    line = trust_line(rubric, "qwen2.5-coder-1.5b")
    assert "validated, auc 0.930 [0.880, 0.970] on 120 labelled items" in line
    assert "held out, strategy plain-question" in line


def test_a_broken_trust_file_is_a_one_line_error_naming_it(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    trust_path(rubric).write_text("{not json")
    with pytest.raises(JudgerlError, match=r"support\.trust\.json: unreadable trust file"):
        load_trust(rubric, "j")
    trust_path(rubric).write_text(json.dumps({"j": {"source": "tune"}}))
    with pytest.raises(JudgerlError, match="invalid record for 'j'"):
        load_trust(rubric, "j")
    # a door still starts: the broken file is reported as its trust line
    assert "invalid record for 'j'" in announce_trust(rubric, "j").line


def test_the_line_warns_without_a_record_and_shows_the_figure_with_one(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    assert trust_line(rubric, "judge-a") == f"judge judge-a on rubric support.yaml: {NOT_VALIDATED}"
    save_trust(rubric, "judge-a", record(0.7, 0.6))
    assert "below the bar 0.8" in trust_line(rubric, "judge-a")
    save_trust(rubric, "judge-a", record())
    line = trust_line(rubric, "judge-a")
    assert "validated, auc 0.930 [0.880, 0.970]" in line and NOT_VALIDATED not in line


def test_the_packaged_half_billion_judge_says_it_is_weak_until_a_passing_record(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    assert "qwen2.5-coder-0.5b is a weak judge" in trust_line(rubric, "qwen2.5-coder-0.5b")
    save_trust(rubric, "qwen2.5-coder-0.5b", record(0.7, 0.6))
    assert "is a weak judge" in trust_line(rubric, "qwen2.5-coder-0.5b")
    save_trust(rubric, "qwen2.5-coder-0.5b", record())
    assert "weak" not in trust_line(rubric, "qwen2.5-coder-0.5b")
    assert "weak" not in trust_line(rubric, "qwen2.5-coder-1.5b")


def test_the_warning_is_shown_once_per_rubric_and_judge(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    shown: list[str] = []
    for _ in range(3):
        announce_trust(rubric, "judge-a", shown.append)
    announce_trust(rubric, "judge-b", shown.append)
    assert len(shown) == 2 and all(NOT_VALIDATED in line for line in shown)


# ---- the doors ----------------------------------------------------------------------------------------------


def judge_args(tmp_path: Path, rubric: Path, *extra: str) -> list[str]:
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"id": "a", "prompt": "Hi", "response": "yes"}) + "\n")
    return ["judge", "--rubric", str(rubric), "--input", str(samples), "--output", str(tmp_path / "v.jsonl"),
            "--backend", "scripted", "--model", "scripted-judge", "--no-cache", *extra]  # fmt: skip


def test_cli_judge_warns_and_the_report_header_shows_it(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    store = tmp_path / "run"
    result = CliRunner().invoke(cli, judge_args(tmp_path, rubric, "--store", str(store)))
    assert result.exit_code == 0, result.output
    assert NOT_VALIDATED in result.stderr
    html = build_report(store).read_text(encoding="utf-8")
    assert 'id="judge-trust" class="warn"' in html and NOT_VALIDATED in html


def test_cli_judge_prints_the_validation_figure_when_there_is_one(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    save_trust(rubric, "scripted-judge", record())
    result = CliRunner().invoke(cli, judge_args(tmp_path, rubric, "--store", str(tmp_path / "run")))
    assert result.exit_code == 0, result.output
    assert "validated, auc 0.930" in result.stderr and NOT_VALIDATED not in result.stderr
    html = build_report(tmp_path / "run").read_text(encoding="utf-8")
    assert 'id="judge-trust" class="muted"' in html and "validated, auc 0.930" in html


def labelled(tmp_path: Path) -> Path:
    path = tmp_path / "labelled.jsonl"
    rows = [
        {"id": f"r{i}", "prompt": "Reply.", "response": "yes" if i % 2 else "no", "labels": {"polite": bool(i % 2)}}
        for i in range(24)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_validate_prints_the_line_then_saves_a_record(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    args = ["validate", "--rubric", str(rubric), "--labels", str(labelled(tmp_path)), "--output", str(tmp_path / "o")]
    args += ["--backend", "scripted", "--model", "scripted-judge", "--bootstrap", "200", "--calibration-examples", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert NOT_VALIDATED in result.stderr
    saved = load_trust(rubric, "scripted-judge")
    assert saved is not None and saved.source == "validate" and saved.metric == "auc"
    assert saved.value == 1.0 and saved.n == 24 and saved.heldout and saved.passed
    assert "trust record for scripted-judge" in result.stdout


def test_calibrate_saves_an_in_sample_record_but_never_over_a_held_out_one(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    args = ["calibrate", "--rubric", str(rubric), "--labels", str(labelled(tmp_path)), "--no-cache"]
    args += ["--backend", "scripted", "--model", "scripted-judge"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert NOT_VALIDATED in result.stderr
    saved = load_trust(rubric, "scripted-judge")
    assert saved is not None and saved.source == "calibrate" and saved.metric == "balanced_accuracy"
    assert not saved.heldout and saved.low is None and saved.value == 1.0
    save_trust(rubric, "scripted-judge", record())
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    kept = load_trust(rubric, "scripted-judge")
    assert kept is not None and kept.source == "tune"


def test_serve_prints_the_line_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **options: None)
    rubric = tmp_path / "serve_rubric.yaml"
    shutil.copy(RUBRIC_PATH, rubric)
    args = ["serve", "--rubric", str(rubric), "--backend", "support.serve:ServeBackend"]
    args += ["--model", "qwen2.5-coder-0.5b"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"judgerl serve: judge qwen2.5-coder-0.5b on rubric serve_rubric.yaml: {NOT_VALIDATED}" in result.stderr
    assert "qwen2.5-coder-0.5b is a weak judge" in result.stderr


def test_the_lambda_logs_the_line_at_cold_start_only(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from judgerl.serve.lambda_handler import LocalContext, handler

    rubric = tmp_path / "serve_rubric.yaml"
    shutil.copy(RUBRIC_PATH, rubric)
    monkeypatch.setenv("JUDGERL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JUDGERL_RUBRIC", str(rubric))
    monkeypatch.setenv("JUDGERL_BACKEND", "support.serve:ServeBackend")
    event = [{"id": "1", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "good"}]}]
    with caplog.at_level(logging.INFO, logger="judgerl"):
        handler(event, LocalContext())
        handler(event, LocalContext())
    warnings = [r for r in caplog.records if NOT_VALIDATED in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_an_s3_rubric_brings_its_trust_record(tmp_path: Path) -> None:
    from judgerl.serve.config import fetch_s3_rubric
    from test_judge_config import _body, _s3_stub

    client, stub = _s3_stub()
    stub.add_response("get_object", {"Body": _body(RUBRIC_PATH.read_bytes())}, {"Bucket": "b", "Key": "r/rubric.yaml"})
    stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)  # no calibration
    saved = {"judge-x": record().model_dump()}
    stub.add_response(
        "get_object", {"Body": _body(json.dumps(saved).encode())}, {"Bucket": "b", "Key": "r/rubric.trust.json"}
    )
    with stub:
        local = fetch_s3_rubric("s3://b/r/rubric.yaml", client=client, cache_dir=tmp_path)
    stub.assert_no_pending_responses()
    assert load_trust(local, "judge-x") == record().model_copy(update={"at": saved["judge-x"]["at"]})
