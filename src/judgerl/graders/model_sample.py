"""The ``sample`` namespace of a grader, from what a row gives as the model's output.

OpenAI's graders guide names four sample variables: ``output_text``, ``output_json`` (the text parsed, when it
is JSON), ``output_tools`` (the tool calls the model made) and ``choices`` (the chat completion's choices). A row
gives the model's output as

- text: ``output_text`` is the text, ``output_json`` its JSON (no tools, no choices);
- a chat message ``{"role": "assistant", "content", "tool_calls": [...]}`` (Chat Completions);
- a chat completion ``{"choices": [{"message": {...}}, ...]}``: its first choice's message;
- a Responses API response ``{"output": [{"type": "message", ...}, {"type": "function_call", ...}]}``: its
  output_text parts, and its function calls as Chat Completions tool calls;
- an already built namespace ``{"output_text": ...}``;
- any other JSON object: that object as ``output_json`` (and as JSON text).
"""

from __future__ import annotations

import json
from typing import Any


def sample_namespace(model_sample: str | dict[str, Any]) -> dict[str, Any]:
    """``output_text``, ``output_json``, ``output_tools`` and ``choices`` for a row's model output."""
    if isinstance(model_sample, str):
        return _namespace(model_sample, [], [])
    if "output_text" in model_sample:
        namespace = dict(model_sample)
        namespace.setdefault("output_json", _json_or_none(str(namespace["output_text"])))
        namespace.setdefault("output_tools", [])
        namespace.setdefault("choices", [])
        return namespace
    if isinstance(model_sample.get("choices"), list) and model_sample["choices"]:
        choices = [c for c in model_sample["choices"] if isinstance(c, dict)]
        message = choices[0].get("message") if choices else None
        message = message if isinstance(message, dict) else {}
        return _namespace(_content_text(message.get("content")), _tool_calls(message), choices)
    if isinstance(model_sample.get("output"), list):
        return _from_response(model_sample["output"])
    if "role" in model_sample or "tool_calls" in model_sample:
        tools = _tool_calls(model_sample)
        choice = {"index": 0, "message": model_sample, "finish_reason": "tool_calls" if tools else "stop"}
        return _namespace(_content_text(model_sample.get("content")), tools, [choice])
    return {"output_text": json.dumps(model_sample, ensure_ascii=False), "output_json": model_sample}


def _namespace(text: str, tools: list[dict[str, Any]], choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"output_text": text, "output_json": _json_or_none(text), "output_tools": tools, "choices": choices}


def _from_response(output: list[Any]) -> dict[str, Any]:
    texts: list[str] = []
    tools: list[dict[str, Any]] = []
    for entry in (e for e in output if isinstance(e, dict)):
        if entry.get("type") == "message":
            texts.append(_content_text(entry.get("content")))
        elif entry.get("type") == "function_call":
            function = {"name": entry.get("name", ""), "arguments": entry.get("arguments", "")}
            tools.append({"id": entry.get("call_id", entry.get("id", "")), "type": "function", "function": function})
    text = "\n".join(t for t in texts if t)
    message = {"role": "assistant", "content": text or None, "tool_calls": tools or None}
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if tools else "stop"}
    return _namespace(text, tools, [choice])


def _tool_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    calls = message.get("tool_calls")
    return [call for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []


def _content_text(content: Any) -> str:
    """A message's text: the string, or its text parts (``text``, ``output_text``, ``input_text``) joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "\n".join(str(part) for part in parts)
    return ""


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return None
