"""OpenAI grader behaviours the graders guide and API reference document and issue 29 found missing: tool calls
in rows, image/audio parts, clamping, BLEU's bound, the threshold shown, the reply cap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from judgerl.cli.main import cli
from judgerl.graders import load_grader
from judgerl.graders.grader import Grader
from judgerl.graders.metrics import lexical_similarity
from judgerl.graders.model_graders import DEFAULT_MAX_NEW_TOKENS
from judgerl.graders.rows import row_from_json
from judgerl.graders.spec import GraderSpecError, parse_spec
from support.fakes import ScriptedBackend

# A multi grader that checks the model called the right tool with the right argument: string_checks on
# {{ sample.output_tools[0].function.name }} / .arguments, the sample variables OpenAI's graders guide names
# (output_tools: the tool calls the model made; choices: the completion's choices).
TOOL_GRADER = {
    "type": "multi",
    "name": "tool call",
    "graders": {
        "tool": {
            "type": "string_check",
            "name": "tool",
            "input": "{{ sample.output_tools[0].function.name }}",
            "reference": "{{ item.tool }}",
            "operation": "eq",
        },
        "city": {
            "type": "string_check",
            "name": "city",
            "input": "{{ sample.output_tools[0].function.arguments }}",
            "reference": "{{ item.city }}",
            "operation": "like",
        },
        "finish": {
            "type": "string_check",
            "name": "finish",
            "input": "{{ sample.choices[0].finish_reason }}",
            "reference": "tool_calls",
            "operation": "eq",
        },
    },
    "calculate_output": "(tool + city + finish) / 3",
}
ITEM = {"tool": "get_weather", "city": "Paris"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
# Chat Completions: an assistant message with tool_calls; a whole completion; a Responses API response
CHAT_MESSAGE = {"role": "assistant", "content": None, "tool_calls": [CALL]}
COMPLETION = {"choices": [{"index": 0, "message": CHAT_MESSAGE, "finish_reason": "tool_calls"}]}
RESPONSE = {
    "output": [{"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}]
}


@pytest.mark.parametrize(
    "model_sample", [CHAT_MESSAGE, COMPLETION, RESPONSE], ids=["message", "completion", "response"]
)
def test_tool_calls_in_a_row_fill_output_tools_and_choices(model_sample: dict[str, Any]) -> None:
    row = row_from_json({"item": ITEM, "model_sample": model_sample}, "rows.jsonl:1", 1)
    result = Grader(parse_spec(TOOL_GRADER)).grade(row.item, row.sample)
    assert result.unscored_reason is None
    assert result.sub_rewards == {"tool": 1.0, "city": 1.0, "finish": 1.0} and result.reward == 1.0
    wrong = Grader(parse_spec(TOOL_GRADER)).grade({**ITEM, "tool": "get_time"}, model_sample)
    assert wrong.sub_rewards["tool"] == 0.0


def test_a_text_sample_has_no_tool_calls() -> None:
    result = Grader(parse_spec(TOOL_GRADER)).grade(ITEM, "It is sunny in Paris.")
    assert result.reward is None and "output_tools" in (result.unscored_reason or "")


@pytest.mark.parametrize(("part", "kind"), [
    ({"type": "input_image", "image_url": "{{ item.image_url }}"}, "input_image"),
    ({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}, "input_audio"),
])  # fmt: skip
def test_image_and_audio_parts_fail_in_one_line_naming_the_part(part: dict[str, Any], kind: str) -> None:
    # the graders guide's score_model input takes input_text, input_image and input_audio parts
    grader = {
        "type": "score_model",
        "name": "picture",
        "model": "gpt-4o-2024-08-06",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Rate the caption."}, part]}],
    }
    with pytest.raises(GraderSpecError) as raised:
        parse_spec(grader, "grader.json")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"grader.json: field 'input.0': content part type '{kind}' is not supported")
    assert "multimodal judge" in message


def test_bleu_of_identical_text_is_exactly_one() -> None:
    pytest.importorskip("sacrebleu")
    text = "The quick brown fox jumps over the lazy dog near the river bank today."
    assert lexical_similarity("bleu", text, text) == 1.0


def _reply(score: float) -> ScriptedBackend:
    return ScriptedBackend(reply=lambda prompt: json.dumps({"steps": [], "result": score}))


def test_a_score_model_result_outside_range_is_clamped_as_openai_documents() -> None:
    spec = {
        "type": "score_model",
        "name": "s",
        "model": "m",
        "range": [1, 7],
        "input": [{"role": "user", "content": "x"}],
    }
    assert Grader(parse_spec(spec), backend=_reply(9)).grade({}, "a").reward == 7.0
    assert Grader(parse_spec(spec), backend=_reply(-3)).grade({}, "a").reward == 1.0
    assert Grader(parse_spec(spec), backend=_reply(4)).grade({}, "a").reward == 4.0


def test_model_graders_ask_for_a_short_reply() -> None:
    backend = _reply(0.5)
    spec = {"type": "score_model", "name": "s", "model": "m", "input": [{"role": "user", "content": "x"}]}
    Grader(parse_spec(spec), backend=backend).grade({}, "a")
    assert DEFAULT_MAX_NEW_TOKENS <= 256 and backend.generate_limits == [DEFAULT_MAX_NEW_TOKENS]


def test_judge_shows_the_threshold_a_sub_grader_passed_at(tmp_path: Path) -> None:
    grader = {
        "type": "multi",
        "name": "similar",
        "graders": {
            "close": {
                "type": "text_similarity",
                "name": "close",
                "input": "{{ sample.output_text }}",
                "reference": "{{ item.reference }}",
                "evaluation_metric": "fuzzy_match",
                "pass_threshold": 0.9,
            }
        },
        "calculate_output": "close",
    }
    pytest.importorskip("rapidfuzz")
    (tmp_path / "g.json").write_text(json.dumps(grader))
    row = {"id": "a", "prompt": "Capital?", "response": "Paris is the capital", "reference": "Paris"}
    (tmp_path / "in.jsonl").write_text(json.dumps(row) + "\n")
    arguments = ["judge", "--grader", str(tmp_path / "g.json"), "--input", str(tmp_path / "in.jsonl")]
    result = CliRunner().invoke(cli, [*arguments, "--output", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    (verdict,) = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    (criterion,) = verdict["criteria"]
    assert criterion["threshold"] == 0.9
    assert criterion["passed"] == (criterion["p_pass"] >= 0.9)


def test_load_grader_keeps_its_documented_python_api(tmp_path: Path) -> None:
    (tmp_path / "g.json").write_text(json.dumps(TOOL_GRADER))
    assert load_grader(tmp_path / "g.json").grade(ITEM, CHAT_MESSAGE).reward == 1.0
