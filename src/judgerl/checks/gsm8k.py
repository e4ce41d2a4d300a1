"""GSM8K: the final number of a response against the reference solution's ``#### <number>``."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_NUMBER = re.compile(r"-?\$?\s?\d[\d,]*(?:\.\d+)?")
_MARKED = re.compile(r"(?:####|answer is|answer:|=)\s*([^\n]*)", re.I)


def _to_decimal(text: str) -> Decimal | None:
    cleaned = text.replace(",", "").replace("$", "").replace(" ", "").rstrip(".")
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def reference_answer(reference: str) -> Decimal | None:
    """The number after the last '####' of a GSM8K solution (or the reference itself when it is a number)."""
    tail = reference.rsplit("####", 1)[-1]
    numbers = _NUMBER.findall(tail)
    return _to_decimal(numbers[-1]) if numbers else None


def final_answer(response: str) -> Decimal | None:
    """The response's final answer: the number after its last '####' / 'answer is' marker, else its last number."""
    marked = [m.group(1) for m in _MARKED.finditer(response)]
    for candidate in reversed(marked):
        numbers = _NUMBER.findall(candidate)
        if numbers:
            return _to_decimal(numbers[0])
    numbers = _NUMBER.findall(response)
    return _to_decimal(numbers[-1]) if numbers else None


def check(reference: str, response: str) -> bool | None:
    """True when the response's final number equals the reference's; None when the reference has no number."""
    expected = reference_answer(reference)
    if expected is None:
        return None
    got = final_answer(response)
    return got is not None and got == expected
