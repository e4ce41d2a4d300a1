from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgerl.backends import _FACTORIES, register_backend
from judgerl.backends.base import JudgePrompt
from judgerl.cli.main import cli
from judgerl.models import catalog as models
from support.fakes import ScriptedBackend, response_of

ROOT = Path(__file__).resolve().parents[1]


def probs(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
    if list(labels) == ["A", "B"]:  # pairwise: prefers whichever shown answer mentions "detail"
        first = prompt.user.split("## Response A\n", 1)[1].split("## Response B", 1)[0]
        p = 0.7 if "detail" in first else 0.4
        return {"A": p, "B": 1 - p}
    p = 0.8 if "yes" in response_of(prompt) else 0.3
    return {"PASS": p, "FAIL": 1 - p}


def reply(prompt: JudgePrompt) -> str:
    verdict = "PASS" if "yes" in prompt.user else "FAIL"
    return json.dumps({"criteria": [{"name": "polite", "reason": "r", "verdict": verdict}]})


@pytest.fixture(autouse=True)
def scripted_backend() -> Iterator[None]:
    register_backend("scripted", lambda model, **options: ScriptedBackend(probs, reply, model_id=model))
    yield
    _FACTORIES.pop("scripted", None)


def write_pairs(path: Path) -> None:
    rows = [
        {
            "input": f"q{i}",
            "output_1": "more detail here" if i % 2 else "short",
            "output_2": "short" if i % 2 else "detail",
            "label": 1 if i % 2 else 2,
        }
        for i in range(12)
    ]
    path.write_text(json.dumps(rows))


def write_labels(path: Path) -> Path:
    rubric = path.parent / "rubric.yaml"
    rubric.write_text("criteria:\n  - name: polite\n    text: The response is polite.\n")
    rows = [
        {
            "id": f"r{i}",
            "prompt": "Reply.",
            "response": f"reply {i} {'yes' if i % 3 else 'no'}",
            "labels": {"polite": i % 3 != 0 or i == 3},
        }
        for i in range(24)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return rubric


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_pairwise_command_writes_summary_page_and_verdicts(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.json"
    write_pairs(pairs)
    code, output = invoke(
        "validate",
        "--pairs",
        str(pairs),
        "--output",
        str(tmp_path / "out"),
        "--backend",
        "scripted",
        "--bootstrap",
        "100",
    )
    assert code == 0, output
    assert "accuracy_order_averaged: 1.000" in output and "position_consistency: 1.000" in output
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["kind"] == "pairwise" and summary["configs"][0]["model"] == models.DEFAULT_JUDGE
    assert summary["reports"][0]["headline"]["kappa"]["value"] == pytest.approx(1.0)
    page = (tmp_path / "out/index.html").read_text()
    assert "<table>" in page and "data:image/png;base64," in page and "judgerl validate" in page
    assert len((tmp_path / "out/verdicts-1.jsonl").read_text().splitlines()) == 12


def test_the_old_spelling_pairwise_file_still_works_with_a_deprecation_line(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.json"
    write_pairs(pairs)
    result = CliRunner().invoke(
        cli,
        ["validate", "--pairwise", str(pairs), "--output", str(tmp_path / "out"), "--backend", "scripted"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "warning: `validate --pairwise FILE` is deprecated; use `--pairs FILE`" in result.output
    assert json.loads((tmp_path / "out/summary.json").read_text())["kind"] == "pairwise"


def test_rubric_command_with_compare_and_repeats(tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    rubric = write_labels(labels)
    code, output = invoke(
        "validate", "--rubric", str(rubric), "--labels", str(labels), "--output", str(tmp_path / "out"),
        "--backend", "scripted", "--bootstrap", "50", "--calibration-examples", "6",
        "--compare", "mode=generate", "--repeats", "2", "--repeat-samples", "5",
    )  # fmt: skip
    assert code == 0, output
    assert "held-apart balanced accuracy, threshold fitted" in output and "difference (second minus first" in output
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    first, second = summary["reports"]
    assert first["mode"] == "logprob" and second["mode"] == "generate"
    assert [c["criterion"] for c in first["calibration"]] == ["polite", "all"]
    # generate mode reads its verdicts from label probabilities too, so its thresholds calibrate alike
    assert [c["criterion"] for c in second["calibration"]] == ["polite", "all"]
    assert first["self_consistency"]["repeats"] == 2 and summary["comparison"]["agreement"]["n"] == 24
    assert "Comparison" in (tmp_path / "out/index.html").read_text()


def test_injection_command(tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    rubric = write_labels(labels)
    code, output = invoke(
        "validate", "--injection", "--rubric", str(rubric), "--labels", str(labels), "--output", str(tmp_path / "out"),
        "--backend", "scripted", "--bootstrap", "50", "--injection-samples", "3",
        "--attacks", "judge_instruction,fake_verdict,master_key_step_by_step",
    )  # fmt: skip
    assert code == 0, output
    assert "success_rate[none]" in output and "success_rate[delimiters+detector]: 0.000" in output
    assert "success_rate[delimiters+content_free]" in output and "correct_pass_rate[delimiters+content_free]" in output
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["reports"][0]["n_items"] == 3 and summary["reports"][0]["attacks"] == [
        "judge_instruction",
        "fake_verdict",
        "master_key_step_by_step",
    ]


def test_injection_command_without_the_undefended_template(tmp_path: Path) -> None:
    """--no-undefended: only the defended settings are judged and reported (half the judge calls)."""
    labels = tmp_path / "labels.jsonl"
    rubric = write_labels(labels)
    code, output = invoke(
        "validate", "--injection", "--rubric", str(rubric), "--labels", str(labels), "--output", str(tmp_path / "out"),
        "--backend", "scripted", "--bootstrap", "50", "--injection-samples", "3", "--no-undefended",
        "--attacks", "judge_instruction,master_key_colon",
    )  # fmt: skip
    assert code == 0, output
    assert "success_rate[none" not in output and "success_rate[delimiters+detector]: 0.000" in output
    report = json.loads((tmp_path / "out/summary.json").read_text())["reports"][0]
    assert {r["setting"] for r in report["results"]} == {"delimiters", "delimiters+detector", "delimiters+content_free"}
    assert "none" not in report["fitted_thresholds"]
    assert (tmp_path / "out/index.html").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "choose one of"),
        (["--rubric", "r.yaml"], "choose one of"),
        (["--injection", "--rubric", "r.yaml"], "need both --rubric"),
        (["--pairs", "p.json", "--compare", "temperature=1"], "--compare: 'temperature=1' is not KEY=VALUE"),
        (["--pairs", "p.json", "--compare", "mode=generate"], "only the logprob mode"),
        (["--pairs", "missing.json"], "missing.json: file not found"),
        (["--pairwise", "p.json", "--pairs", "p.json"], "old spelling of --pairs FILE: give --pairs alone"),
    ],
)
def test_user_mistakes_are_one_line_errors(tmp_path: Path, args: list[str], message: str, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_pairs(tmp_path / "p.json")
    from judgerl.errors import JudgerlError

    with pytest.raises(JudgerlError, match=message):
        CliRunner().invoke(cli, ["validate", *args, "--output", "out", "--backend", "scripted"], catch_exceptions=False)
