"""``judgerl graders convert``: the judgerl configuration equivalent to a grader, where one exists.

Only a ``string_check`` on the model's whole output against a fixed reference has an exact equivalent: a
``regex`` check in a training config's ``reward.checks`` (``like``/``ilike``: the escaped reference found
anywhere, case-insensitively for ``ilike``; ``eq``/``ne``: the whole output equal / not equal to it).
Everything else has none: judgerl's rubric judge asks pass/fail questions per criterion and weights them,
which is not what a score_model's number or a label_model's label means, and metrics, python graders and
multi formulas have no judgerl config. Those run as they are with ``judgerl graders run`` (and, once phase 2
lands, from a training config's ``reward.grader``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from judgerl.graders.spec import GraderSpec, MultiSpec, StringCheckSpec
from judgerl.graders.templates import has_templates

_WHOLE_OUTPUT = re.compile(r"^\{\{\s*sample\.output_text\s*\}\}$")
_CHECK_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class Conversion:
    equivalent: dict[str, Any] | None
    explanation: str


def _check_name(spec: StringCheckSpec) -> str:
    name = _CHECK_NAME.sub("_", spec.name or "string_check").strip("_.-") or "string_check"
    return name if name[0].isalnum() else f"g{name}"


def convert(spec: GraderSpec) -> Conversion:
    if isinstance(spec, StringCheckSpec):
        if not _WHOLE_OUTPUT.match(spec.input.strip()) or has_templates(spec.reference):
            return Conversion(
                None,
                "no judgerl equivalent: judgerl's regex check reads the whole response against a fixed pattern, "
                "and this string_check reads a field or a per-row reference; run it with `judgerl graders run`",
            )
        escaped = re.escape(spec.reference)
        pattern = escaped if spec.operation in ("like", "ilike") else rf"\A{escaped}\Z"
        check = {
            "name": _check_name(spec),
            "type": "regex",
            "role": "reward",
            "pattern": pattern,
            "must_match": spec.operation != "ne",
            "ignore_case": spec.operation == "ilike",
            "multiline": False,
        }
        return Conversion(
            {"reward": {"checks": [check]}},
            "equivalent: a regex check for a training config's reward.checks (1 when it holds, else 0)",
        )
    if isinstance(spec, MultiSpec):
        return Conversion(None, "no judgerl equivalent for a multi grader's formula; run it with `judgerl graders run`")
    return Conversion(
        None,
        f"no judgerl equivalent for a {spec.type} grader (judgerl's rubric judge scores pass/fail criteria, not "
        "this grader's semantics); run it as it is with `judgerl graders run`",
    )
