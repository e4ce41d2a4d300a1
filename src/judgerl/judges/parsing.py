"""Parsing a judge's generated JSON verdicts: tolerant of fences, prose and label spellings, strict about
meaning (an off-menu or missing verdict is never guessed)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)
_TRUE = {"pass", "passed", "yes", "true", "met", "1"}
_FALSE = {"fail", "failed", "no", "false", "not met", "0"}


class ParseError(ValueError):
    """The reply cannot be used; the message says why (shown to the judge in the repair retry)."""


@dataclass(frozen=True)
class ParsedVerdict:
    passed: bool
    reason: str | None


def _load_first_json(text: str) -> Any:
    """The first JSON value in a fenced block, else the first decodable object/list anywhere in the text."""
    decoder = json.JSONDecoder()
    for block in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        for position, char in enumerate(block):
            if char not in "{[":
                continue
            try:
                value, _ = decoder.raw_decode(block, position)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict | list) and value:
                return value
    raise ParseError("no JSON object found in the reply")


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    raise ParseError(f"criterion '{name}': verdict {value!r} is not PASS or FAIL")


def _entries(data: Any) -> list[dict[str, Any]]:
    """Accept {"criteria": [...]}, a bare list, or {"name": {...}} / {"name": "PASS"} mappings."""
    if isinstance(data, dict) and isinstance(data.get("criteria"), list):
        data = data["criteria"]
    if isinstance(data, dict) and "name" in data and ({"verdict", "passed", "pass"} & data.keys()):
        return [data]
    if isinstance(data, list):
        return [entry for entry in data if isinstance(entry, dict)]
    if isinstance(data, dict):
        entries = []
        for key, value in data.items():
            if isinstance(value, dict):
                entries.append({"name": key, **value})
            else:
                entries.append({"name": key, "verdict": value})
        return entries
    raise ParseError("the JSON is not an object or list of criteria")


def parse_verdicts(reply: str, names: list[str]) -> dict[str, ParsedVerdict]:
    """Verdicts for every named criterion, or ParseError. With one criterion, an unnamed entry counts."""
    found, problems = parse_some_verdicts(reply, names)
    if problems:
        raise ParseError("; ".join(problems.values()))
    return found


def parse_some_verdicts(reply: str, names: list[str]) -> tuple[dict[str, ParsedVerdict], dict[str, str]]:
    """The usable verdicts of a reply and, for each named criterion without one, why (missing, or a verdict
    that is not PASS or FAIL). Raises ParseError only when the reply holds no JSON at all."""
    if not reply or not reply.strip():
        raise ParseError("the reply is empty")
    entries = _entries(_load_first_json(reply))
    found: dict[str, ParsedVerdict] = {}
    problems: dict[str, str] = {}
    for entry in entries:
        name = str(entry.get("name", names[0] if len(names) == 1 else "")).strip()
        if name not in names or name in found:
            continue
        verdict = entry.get("verdict", entry.get("passed", entry.get("pass")))
        if verdict is None:
            problems[name] = f"criterion '{name}' has no verdict"
            continue
        try:
            passed = _as_bool(verdict, name)
        except ParseError as exc:
            problems[name] = str(exc)
            continue
        reason = entry.get("reason") or entry.get("rationale") or entry.get("explanation")
        found[name] = ParsedVerdict(passed=passed, reason=str(reason).strip() if reason else None)
        problems.pop(name, None)
    missing = [name for name in names if name not in found and name not in problems]
    if missing:
        text = f"no verdict for criteria: {', '.join(missing)}"
        problems.update({name: text for name in missing})
    return found, problems
