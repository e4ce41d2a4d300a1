"""OpenAI grader templates: ``{{ item.x }}``, ``{{ sample.output_text }}``, ``{{ sample.output_json.a.b[0] }}``.

Only the ``item`` and ``sample`` namespaces exist. Nested fields are reached with dots; list elements with
``[n]`` or ``.n``. A string value is inserted as is, anything else as JSON. A variable that the row does not
have is an error of that row (the grade is unscored), not of the grader.
"""

from __future__ import annotations

import json
import re
from typing import Any

NAMESPACES = ("item", "sample")
_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
_SEGMENT = re.compile(r"\.([^.\[\]\s]+)|\[\s*(\d+)\s*\]|\[\s*[\"']([^\"']*)[\"']\s*\]")


class TemplateError(ValueError):
    """A template that cannot be parsed (grader mistake) or a variable a row lacks (row problem)."""


def parse_path(expression: str) -> tuple[str, list[str | int]]:
    """``item.a.b[0]`` -> ("item", ["a", "b", 0]); raises TemplateError naming the expression."""
    namespace, _, rest = expression.partition(".")
    bracket = namespace.find("[")
    if bracket >= 0:  # item["x"] without a dot
        namespace, rest = namespace[:bracket], namespace[bracket:] + ("." + rest if rest else "")
    else:
        rest = "." + rest if rest else ""
    if namespace not in NAMESPACES:
        raise TemplateError(f"'{{{{ {expression} }}}}': the namespace must be 'item' or 'sample'")
    segments: list[str | int] = []
    position = 0
    while position < len(rest):
        match = _SEGMENT.match(rest, position)
        if not match:
            raise TemplateError(
                f"'{{{{ {expression} }}}}': cannot read the path after '{rest[:position] or namespace}'"
            )
        name, index, quoted = match.groups()
        segments.append(int(index) if index is not None else quoted if quoted is not None else name)
        position = match.end()
    if not segments:
        raise TemplateError(f"'{{{{ {expression} }}}}': name a variable, e.g. {{{{ {namespace}.field }}}}")
    return namespace, segments


def check_templates(text: str) -> None:
    """Raise TemplateError for the first template in ``text`` that does not parse."""
    for match in _TEMPLATE.finditer(text):
        parse_path(match.group(1))


def has_templates(text: str) -> bool:
    return _TEMPLATE.search(text) is not None


def lookup(context: dict[str, Any], expression: str) -> Any:
    namespace, segments = parse_path(expression)
    value: Any = context.get(namespace)
    walked = namespace
    for segment in segments:
        if value is None:
            raise TemplateError(f"'{{{{ {expression} }}}}': {walked} is empty (null)")
        if isinstance(value, dict) and not isinstance(segment, int) and segment in value:
            value = value[segment]
        elif isinstance(value, dict) and isinstance(segment, int) and str(segment) in value:
            value = value[str(segment)]
        elif isinstance(value, list) and (isinstance(segment, int) or str(segment).isdigit()):
            position = int(segment)
            if position >= len(value):
                raise TemplateError(f"'{{{{ {expression} }}}}': {walked} has {len(value)} elements")
            value = value[position]
        else:
            raise TemplateError(f"'{{{{ {expression} }}}}': {walked} has no '{segment}'")
        walked += f"[{segment}]" if isinstance(segment, int) else f".{segment}"
    if value is None:
        raise TemplateError(f"'{{{{ {expression} }}}}': {walked} is empty (null)")
    return value


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(text: str, context: dict[str, Any]) -> str:
    """Substitute every template in ``text``; raises TemplateError for a variable the context lacks."""
    return _TEMPLATE.sub(lambda match: as_text(lookup(context, match.group(1))), text)


#: the placeholders of a SageMaker reward prompt (graders/reward_prompt.py)
REWARD_PROMPT_VARIABLES = ("prompt", "ground_truth", "response")


def check_reward_template(template: str) -> None:
    """Raise ValueError naming a placeholder other than the three, or a template without ``{{ response }}``."""
    names = [match.group(1) for match in _TEMPLATE.finditer(template)]
    unknown = [name for name in names if name not in REWARD_PROMPT_VARIABLES]
    if unknown:
        raise ValueError(
            f"placeholder '{{{{ {unknown[0]} }}}}' is not one a reward prompt has: use "
            + ", ".join(f"{{{{ {name} }}}}" for name in REWARD_PROMPT_VARIABLES)
        )
    if "response" not in names:
        raise ValueError("has no {{ response }}: the judge would never see the reply it scores")
