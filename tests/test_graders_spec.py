"""Grader files: the guide's examples parse; mistakes are one line naming the field; templates; conversion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from judgerl.graders import GraderSpecError, load_spec, parse_spec
from judgerl.graders.convert import convert
from judgerl.graders.expression import Formula, FormulaError, FormulaEvaluationError
from judgerl.graders.model_sample import sample_namespace
from judgerl.graders.templates import TemplateError, render

DATA = Path(__file__).parent / "data" / "graders"
EXAMPLES = sorted(DATA.glob("*.json"))
SRC = Path(__file__).parents[1] / "src"


def test_every_example_grader_parses() -> None:
    kinds = {load_spec(path).type for path in EXAMPLES}
    assert len(EXAMPLES) == 8
    assert kinds == {"string_check", "text_similarity", "score_model", "label_model", "python", "multi"}


def _error(data: object) -> str:
    with pytest.raises(GraderSpecError) as caught:
        parse_spec(data, "g.json")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("g.json: ")
    return message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "string_check", "input": "a", "reference": "b", "operation": "contains"}, "field 'operation'"),
        ({"type": "string_check", "input": "a", "operation": "eq"}, "field 'reference' is missing"),
        ({"type": "string_check", "input": "a", "reference": "b", "operation": "eq", "opration": 1}, "'opration'"),
        (
            {"type": "text_similarity", "input": "a", "reference": "b", "evaluation_metric": "rouge_6"},
            "evaluation_metric",
        ),
        ({"type": "string_check", "input": "{{ items.x }}", "reference": "b", "operation": "eq"}, "field 'input'"),
        ({"type": "string_check", "input": "{{ item }}", "reference": "b", "operation": "eq"}, "name a variable"),
        ({"type": "score_model", "input": [], "model": "m"}, "field 'input'"),
        (
            {"type": "score_model", "input": [{"role": "user", "content": "x"}], "model": "m", "range": [1, 0]},
            "'range'",
        ),
        (
            {
                "type": "label_model",
                "input": [{"role": "user", "content": "x"}],
                "model": "m",
                "labels": ["a", "b"],
                "passing_labels": ["c"],
            },
            "passing_labels",
        ),
        ({"type": "python", "source": "def grade(sample, item):\n  return (("}, "field 'source': is not valid Python"),
        ({"type": "python", "source": "x = 1"}, "grade(sample, item)"),
        (
            {
                "type": "multi",
                "graders": {"a": {"type": "string_check", "input": "x", "reference": "y", "operation": "eq"}},
                "calculate_output": "a + b",
            },
            "'b' is not a sub-grader",
        ),
        (
            {
                "type": "multi",
                "graders": {"a": {"type": "string_check", "input": "x", "reference": "y", "operation": "eq"}},
                "calculate_output": "__import__('os')",
            },
            "calculate_output",
        ),
        (
            {
                "type": "multi",
                "graders": {"a": {"type": "multi", "graders": {}, "calculate_output": "1"}},
                "calculate_output": "a",
            },
            "graders.a.type",
        ),
        ({"type": "regex"}, "field 'type'"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_malformed_grader_is_one_line_naming_the_field(data: object, expected: str) -> None:
    assert expected in _error(data)


def test_cli_validate_malformed_file_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "string_check", "input": "{{ sample.output_text }}", "operation": "eq"}))
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "string_check",')
    env_python = [sys.executable, "-m", "judgerl"]
    for path, expected in ((bad, "field 'reference' is missing"), (broken, "not valid JSON")):
        run = subprocess.run(
            [*env_python, "graders", "validate", str(path)],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
        assert run.returncode == 2, run.stderr
        assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
        assert expected in run.stderr and str(path) in run.stderr
    good = subprocess.run(
        [*env_python, "graders", "validate", str(DATA / "multi.json")],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert good.returncode == 0 and "multi grader" in good.stdout


def test_templates_nested_access_and_missing_variables() -> None:
    context = {
        "item": {"a": {"b": [{"c": "deep"}, 7]}, "n": 3},
        "sample": sample_namespace('{"city": "Paris", "tags": ["x", "y"]}'),
    }
    assert render("{{item.a.b[0].c}}/{{ item.a.b.1 }}/{{ item.n }}", context) == "deep/7/3"
    assert render("{{ sample.output_json.city }} {{sample.output_json.tags[1]}}", context) == "Paris y"
    assert render("{{ sample.output_text }}", context) == '{"city": "Paris", "tags": ["x", "y"]}'
    assert render("{{ item.a.b[0] }}", context) == '{"c": "deep"}'
    with pytest.raises(TemplateError, match="has no 'zip'"):
        render("{{ item.a.zip }}", context)
    with pytest.raises(TemplateError, match="null"):  # not JSON: no output_json
        render("{{ sample.output_json.city }}", {"item": {}, "sample": sample_namespace("plain text")})


def test_formula_allow_list_and_operators() -> None:
    formula = Formula(
        "0.5 * a + b ^ 2 - max(a, b) / 4 + sqrt(abs(-4)) + floor(1.7) + ceil(0.2) + log(exp(1))", {"a", "b"}
    )
    assert formula.evaluate({"a": 1.0, "b": 3.0}) == pytest.approx(0.5 + 9 - 0.75 + 2 + 1 + 1 + 1)
    assert Formula("min(a, 1)", {"a"}).evaluate({"a": 0.25}) == 0.25
    for bad in ("a.__class__", "[a]", "a if a else 1", "open('x')", "a < 1", "'x'", "lambda: 1", "a % 2"):
        with pytest.raises(FormulaError):
            Formula(bad, {"a"})
    with pytest.raises(FormulaEvaluationError, match="division by zero"):
        Formula("1 / a", {"a"}).evaluate({"a": 0.0})
    with pytest.raises(FormulaEvaluationError):
        Formula("10 ^ 10 ^ 10", set()).evaluate({})  # a float overflow, not a huge integer
    with pytest.raises(FormulaEvaluationError):
        Formula("log(a)", {"a"}).evaluate({"a": 0.0})


def test_convert_string_check_to_regex_check_and_others_have_none() -> None:
    spec = parse_spec(
        {
            "type": "string_check",
            "name": "says paris",
            "input": "{{ sample.output_text }}",
            "reference": "Paris.",
            "operation": "ilike",
        }
    )
    check = convert(spec).equivalent["reward"]["checks"][0]  # type: ignore[index]
    assert check == {
        "name": "says_paris",
        "type": "regex",
        "role": "reward",
        "pattern": r"Paris\.",
        "must_match": True,
        "ignore_case": True,
        "multiline": False,
    }
    assert convert(load_spec(DATA / "string_check.json")).equivalent is None  # per-row reference
    for name in ("score_model.json", "label_model.json", "python.json", "multi.json", "text_similarity.json"):
        conversion = convert(load_spec(DATA / name))
        assert conversion.equivalent is None and "no judgerl equivalent" in conversion.explanation


@pytest.mark.parametrize("operation", ["eq", "ne", "like", "ilike"])
def test_converted_regex_check_scores_like_the_grader(operation: str) -> None:
    from pydantic import TypeAdapter

    from judgerl.checks.rules import RuleCheck
    from judgerl.graders import Grader

    spec = parse_spec(
        {
            "type": "string_check",
            "name": "n",
            "input": "{{sample.output_text}}",
            "reference": "a.b (c)?",
            "operation": operation,
        }
    )
    equivalent = convert(spec).equivalent
    assert equivalent is not None
    check = TypeAdapter(RuleCheck).validate_python(equivalent["reward"]["checks"][0])
    grader = Grader(spec)
    for response in ("a.b (c)?", "A.B (C)?", "x a.b (c)? y", "axb (c)", "a.b (c)?\n", "line\na.b (c)?"):
        assert check.evaluate(response, {}) == grader.grade({}, response).reward, response
