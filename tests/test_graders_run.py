"""Grading: string_check, multi, python (sandboxed), model graders (scripted and openai-over-loopback), the CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from judgerl.backends import JudgePrompt, build_backend, register_backend
from judgerl.graders import Grader, PythonLimits, load_grader, parse_spec
from judgerl.testing.stub_server import StubChatServer
from support.fakes import ScriptedBackend

DATA = Path(__file__).parent / "data" / "graders"


def _check(operation: str, reference: str) -> Grader:
    return Grader(
        parse_spec(
            {
                "type": "string_check",
                "name": "c",
                "input": "{{ sample.output_text }}",
                "reference": reference,
                "operation": operation,
            }
        )
    )


@pytest.mark.parametrize(
    ("operation", "reference", "sample", "reward"),
    [
        ("eq", "Paris", "Paris", 1.0),
        ("eq", "Paris", "paris", 0.0),
        ("ne", "Paris", "Lyon", 1.0),
        ("ne", "Paris", "Paris", 0.0),
        ("like", "Paris", "It is Paris.", 1.0),
        ("like", "Paris", "It is PARIS.", 0.0),
        ("ilike", "Paris", "It is PARIS.", 1.0),
        ("ilike", "Paris", "It is Lyon.", 0.0),
    ],
)
def test_string_check_operations(operation: str, reference: str, sample: str, reward: float) -> None:
    assert _check(operation, reference).grade({}, sample).reward == reward


def test_example_string_check_and_missing_variable_is_unscored() -> None:
    grader = load_grader(DATA / "string_check.json")
    assert grader.grade({"reference_answer": "Paris"}, "Paris").reward == 1.0
    unscored = grader.grade({"answer": "Paris"}, "Paris")
    assert unscored.reward is None and "item has no 'reference_answer'" in (unscored.unscored_reason or "")


def test_multi_formula_sub_rewards_and_unscored_sub_grader() -> None:
    grader = load_grader(DATA / "multi.json")
    item = {"name": "Ada Lovelace", "email": "ada@example.com"}
    both = grader.grade(item, json.dumps({"name": "Ada Lovelace", "email": "ada@example.com"}))
    assert both.reward == 1.0 and both.sub_rewards == {"name": 1.0, "email": 1.0}
    half = grader.grade(item, json.dumps({"name": "Ada Lovelace", "email": "ada@example.org"}))
    assert half.reward == 0.5 and half.sub_rewards == {"name": 1.0, "email": 0.0}
    partial = grader.grade(item, json.dumps({"name": "Ada"}))
    assert partial.reward is None and partial.sub_rewards == {"name": 0.0, "email": None}
    assert "email" in (partial.unscored_reason or "")


def test_multi_with_functions_and_an_unused_unscored_sub_grader() -> None:
    spec = {
        "type": "multi",
        "name": "weighted",
        "graders": {
            "exact": {
                "type": "string_check",
                "name": "exact",
                "input": "{{ sample.output_text }}",
                "reference": "{{ item.answer }}",
                "operation": "eq",
            },
            "close": {
                "type": "text_similarity",
                "name": "close",
                "input": "{{ sample.output_text }}",
                "reference": "{{ item.answer }}",
                "evaluation_metric": "rouge_1",
            },
            "unused": {
                "type": "string_check",
                "name": "unused",
                "input": "{{ item.nothing }}",
                "reference": "x",
                "operation": "eq",
            },
        },
        "calculate_output": "max(exact, 0.5 * close ^ 2) - 0.1 * floor(exact)",
    }
    grader = Grader(parse_spec(spec))
    exact = grader.grade({"answer": "the cat sat"}, "the cat sat")
    assert exact.reward == pytest.approx(0.9)
    near = grader.grade({"answer": "the cat sat"}, "the cat")  # rouge_1 F = 0.8
    assert near.reward == pytest.approx(0.5 * 0.8**2) and near.sub_rewards["unused"] is None
    dividing = Grader(parse_spec({**spec, "calculate_output": "close / exact"}))
    result = dividing.grade({"answer": "the cat sat"}, "the cat")
    assert result.reward is None and "division by zero" in (result.unscored_reason or "")


def _python(source: str, **limits: float) -> Grader:
    spec = parse_spec({"type": "python", "name": "p", "source": source})
    return Grader(spec, python_limits=PythonLimits(**limits))  # type: ignore[arg-type]


def test_python_graders_from_the_guide() -> None:
    assert load_grader(DATA / "python.json").grade({}, "anything").reward == 1.0
    from rapidfuzz import fuzz, utils

    expected = fuzz.WRatio("fuzzy wuzzy was a bear", "fuzzy wuzzy was a bare", processor=utils.default_process) / 100
    reward = (
        load_grader(DATA / "python_rapidfuzz.json")
        .grade({"reference_answer": "fuzzy wuzzy was a bare"}, "fuzzy wuzzy was a bear")
        .reward
    )
    assert reward == pytest.approx(expected) and 0.5 < expected < 1.0


def test_python_grader_reads_sample_and_item_and_may_print() -> None:
    source = (
        "def grade(sample, item):\n"
        "    print('debugging output')\n"
        "    return float(sample['output_json']['n'] == item['n']) + len(sample['output_text']) / 100\n"
    )
    assert _python(source).grade({"n": 3}, '{"n": 3}').reward == pytest.approx(1.08)


def test_python_grader_that_loops_forever_is_stopped_and_unscored() -> None:
    result = _python("def grade(sample, item):\n    while True:\n        pass\n", timeout_s=1.5).grade({}, "x")
    assert result.reward is None
    assert "1.5 s" in (result.unscored_reason or "") or "CPU time" in (result.unscored_reason or "")


def test_python_grader_that_allocates_too_much_is_stopped_and_unscored() -> None:
    source = "def grade(sample, item):\n    block = bytearray(2 * 1024 ** 3)\n    return 1.0\n"
    result = _python(source, memory_mb=256, timeout_s=30).grade({}, "x")
    assert result.reward is None and "memory" in (result.unscored_reason or "").lower()


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("def grade(sample, item):\n    raise ValueError('bad row')\n", "ValueError: bad row"),
        ("def grade(sample, item):\n    return 'high'\n", "not a number"),
        ("def grade(sample, item):\n    return float('nan')\n", "not a finite number"),
        ("import os\ndef grade(sample, item):\n    os._exit(3)\n", "exited with code 3"),
    ],
)
def test_python_grader_errors_are_unscored(source: str, reason: str) -> None:
    result = _python(source, timeout_s=30).grade({}, "x")
    assert result.reward is None and reason in (result.unscored_reason or "")


def test_python_grader_sees_no_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    source = "import os\ndef grade(sample, item):\n    return float(len(os.environ.get('OPENAI_API_KEY', '')))\n"
    assert _python(source, timeout_s=30).grade({}, "x").reward == 0.0


def _score_reply(prompt: JudgePrompt) -> str:
    if "Model answer: Paris" in prompt.user:
        return 'Sure.\n```json\n{"steps": [{"description": "compare", "conclusion": "same city"}], "result": 0.8}\n```'
    if "Model answer: half" in prompt.user:
        return "0.5"
    if "Model answer: big" in prompt.user:
        return '{"steps": [], "result": 1.5}'
    if "Model answer: fail" in prompt.user:
        return None  # type: ignore[return-value]
    return "I cannot say."


def test_score_model_example_through_a_scripted_backend() -> None:
    backend = ScriptedBackend(reply=_score_reply)
    grader = load_grader(DATA / "score_model.json", backend=backend)
    result = grader.grade({"reference_answer": "Paris"}, "Paris")
    assert result.reward == 0.8 and result.rationale == "compare: same city"
    prompt = backend.generate_calls[0]
    assert "Reference answer: Paris\n\nModel answer: Paris" in prompt.user
    assert '"result": <a number from 0 to 1>' in prompt.user and prompt.system == ""
    assert grader.grade({"reference_answer": "Paris"}, "half").reward == 0.5
    clamped = grader.grade({"reference_answer": "Paris"}, "big")  # OpenAI's guide: clamped to the range
    assert clamped.reward == 1.0 and "score 1.5 clamped to range [0, 1]" in (clamped.rationale or "")
    for sample, reason in (("fail", "server error 500"), ("other", "no JSON 'result'")):
        result = grader.grade({"reference_answer": "Paris"}, sample)
        assert result.reward is None and reason in (result.unscored_reason or ""), sample
    no_backend = load_grader(DATA / "score_model.json").grade({"reference_answer": "Paris"}, "Paris")
    assert no_backend.reward is None and "backend" in (no_backend.unscored_reason or "")


def test_score_model_range_and_pass_threshold() -> None:
    spec = json.loads((DATA / "score_model_api_reference.json").read_text())
    grader_json = {**spec["grader"], "range": [0, 10], "pass_threshold": 7}
    backend = ScriptedBackend(reply=lambda prompt: '{"steps": [{"description": "d", "conclusion": "c"}], "result": 6}')
    result = Grader(parse_spec(grader_json), backend=backend).grade(spec["item"], spec["model_sample"])
    assert result.reward == 6.0 and result.passed is False
    assert "Model answer: fuzzy wuzzy was a bear" in backend.generate_calls[0].user
    assert '"result": <a number from 0 to 10>' in backend.generate_calls[0].user


def test_label_model_example_through_a_scripted_backend() -> None:
    replies = {
        "great": '{"steps": [{"description": "tone", "conclusion": "upbeat"}], "result": "positive"}',
        "fine": "neutral",
        "odd": '{"result": "angry"}',
    }
    backend = ScriptedBackend(
        reply=lambda prompt: next(v for k, v in replies.items() if f"Statement: {k}" in prompt.user)
    )
    grader = load_grader(DATA / "label_model.json", backend=backend)
    great = grader.grade({"response": "great"}, "")
    assert (great.reward, great.passed, great.rationale) == (1.0, True, "tone: upbeat")
    assert "Classify the sentiment" in backend.generate_calls[0].system
    assert grader.grade({"response": "fine"}, "").reward == 0.0
    odd = grader.grade({"response": "odd"}, "")
    assert odd.reward is None and "'angry' is not among" in (odd.unscored_reason or "")


@pytest.fixture()
def stub() -> Iterator[StubChatServer]:
    with StubChatServer(models=["o4-mini-2025-04-16"]) as server:
        yield server


def test_score_model_through_the_openai_backend_and_loopback_stub(stub: StubChatServer) -> None:
    backend = build_backend("openai", model="o4-mini-2025-04-16", base_urls=[stub.base_url])
    try:
        grader = load_grader(DATA / "score_model.json", backend=backend, max_new_tokens=64)
        result = grader.grade({"reference_answer": "Paris"}, "Paris")
    finally:
        backend.close()
    # the stub answers prose, not the JSON asked for: unscored with the reply quoted (OpenAI would score 0)
    assert result.reward is None and "no JSON 'result'" in (result.unscored_reason or "")
    assert "meets the criterion" in (result.unscored_reason or "")
    assert stub.stats.requests["/v1/chat/completions"] == 1


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    from judgerl.cli.main import main

    monkeypatch.setattr(sys, "argv", ["judgerl", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_run_multi_over_both_row_shapes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    code = _main(
        monkeypatch,
        "graders",
        "run",
        "--grader",
        str(DATA / "multi.json"),
        "--input",
        str(DATA / "rows.jsonl"),
        "--output",
        str(out),
    )
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"]
    assert [r["reward"] for r in rows] == [1.0, 0.5, None, 1.0]
    assert rows[1]["sub_rewards"] == {"name": 1.0, "email": 0.0}
    assert "unscored_reason" in rows[2] and "unscored_reason" not in rows[0]


def test_cli_run_model_grader_with_backend_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    built: list[dict[str, object]] = []

    def factory(**options: object) -> ScriptedBackend:
        built.append(options)
        return ScriptedBackend(reply=_score_reply)

    register_backend("graders-scripted", factory)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "\n".join(
            json.dumps(r)
            for r in (
                {"item": {"reference_answer": "Paris"}, "model_sample": "Paris"},
                {
                    "id": "s1",
                    "prompt": "Capital of France?",
                    "response": "other",
                    "reference": "Paris",
                    "metadata": {"reference_answer": "Paris"},
                },
            )
        )
    )
    out = tmp_path / "out.jsonl"
    code = _main(
        monkeypatch,
        "graders",
        "run",
        "--grader",
        str(DATA / "score_model.json"),
        "--input",
        str(rows),
        "--output",
        str(out),
        "--backend",
        "graders-scripted",
    )
    assert code == 0
    results = [json.loads(line) for line in out.read_text().splitlines()]
    first, second = results
    assert {k: first[k] for k in ("id", "reward", "rationale")} == {
        "id": "1",
        "reward": 0.8,
        "rationale": "compare: same city",
    }
    # /graders/run's response shape: metadata with every error flag, execution_time and token usage
    assert first["metadata"]["errors"]["model_grader_parse_error"] is False
    assert first["metadata"]["type"] == "score_model" and first["metadata"]["execution_time"] >= 0
    assert first["model_grader_token_usage_per_model"] == {
        "scripted-judge": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    }
    assert first["metadata"]["token_usage"] == 15 and first["metadata"]["sampled_model_name"] == "scripted-judge"
    assert second["id"] == "s1" and second["reward"] is None
    flagged = [flag for flag, value in second["metadata"]["errors"].items() if value is True]
    assert len(flagged) == 1 and flagged[0].startswith("model_grader_")
    assert built[0]["model"] == "o4-mini-2025-04-16"  # no --model: the grader's own model


def test_cli_run_bad_rows_and_bad_grader_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"foo": 1}\n')
    code = _main(monkeypatch, "graders", "run", "--grader", str(DATA / "multi.json"), "--input", str(rows))
    assert code == 2 and "rows.jsonl:1: expected" in capsys.readouterr().err
    bad = tmp_path / "g.json"
    bad.write_text(json.dumps({"type": "multi", "graders": {}, "calculate_output": "1"}))
    code = _main(monkeypatch, "graders", "run", "--grader", str(bad), "--input", str(DATA / "rows.jsonl"))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "field 'graders'" in err
