"""Errors a user can fix: each carries a one-line message naming the file, row or field and the fix."""

from __future__ import annotations

from pydantic import ValidationError


class JudgerlError(Exception):
    """A mistake in the user's input or set-up. The CLI prints it as one line, without a traceback."""


class RubricError(JudgerlError):
    """An invalid rubric file or rubric field."""


class SampleError(JudgerlError):
    """An invalid samples file or row."""


class BackendUnavailable(JudgerlError):
    """A backend's optional dependency is missing, or its model or server cannot be reached."""


class ModelNotFound(JudgerlError):
    """A judge or policy model is not installed locally."""


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "null"}


def _clean_loc(loc: tuple[int | str, ...]) -> str:
    """'messages.1.content' from a pydantic loc, without the union-member tags ('str', 'list[...]')."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and (p in _TYPE_TAGS or "[" in p))]
    return ".".join(parts) or "value"


def describe_validation_error(exc: ValidationError) -> str:
    """'field 'a.b': message' for the first problem, the way every judgerl boundary reports a bad field."""
    errors = exc.errors()
    first = errors[0]
    where = _clean_loc(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "required field is missing"
    elif first["type"] == "extra_forbidden":
        message = "unknown field"
    else:  # a union reports one error per member type: say them all
        same_place = [e["msg"] for e in errors if _clean_loc(e["loc"]) == where]
        if len(same_place) > 1:
            message = " or ".join(dict.fromkeys(m.removeprefix("Input should be ") for m in same_place))
            message = f"has the wrong type (should be {message})"
    return f"field '{where}': {message}"
