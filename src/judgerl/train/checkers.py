"""The program checkers a policy's replies are held to, beside the judge: IFEval constraints, GSM8K final answers,
refusal phrases. ``judgerl eval`` puts their pass rate beside the judge's; the judge gate measures the judge
against them before step 1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from judgerl.checks import gsm8k, ifeval, refusal
from judgerl.train.data import PromptRow

Checker = Literal["ifeval", "gsm8k", "refusal", "none"]


def choose_checker(rows: Sequence[PromptRow], wanted: str) -> Checker:
    """``wanted`` when it names a checker; for 'auto', the one every row fits (IFEval ids, refuse/comply
    expectations, GSM8K '####' answers), else 'none'."""
    if wanted in ("ifeval", "gsm8k", "refusal", "none"):
        return wanted  # type: ignore[return-value]
    if rows and all("instruction_id_list" in r.metadata for r in rows):
        return "ifeval"
    if rows and all(r.metadata.get("expected") in ("refuse", "comply") for r in rows):
        return "refusal"
    if rows and all(r.reference and "####" in r.reference for r in rows):
        return "gsm8k"
    return "none"


def check_reply(row: PromptRow, response: str, checker: Checker) -> tuple[bool | None, dict[str, bool | None]]:
    """Whether the reply passes the checker (None where it does not apply), and the verdict per instruction."""
    if checker == "ifeval":
        ids = list(row.metadata.get("instruction_id_list") or [])
        kwargs = list(row.metadata.get("kwargs") or [{}] * len(ids))
        results = ifeval.check_row(ids, kwargs, response)
        return ifeval.all_followed(results), dict(zip(ids, results, strict=True))
    if checker == "gsm8k" and row.reference:
        result = gsm8k.check(row.reference, response)
        return result, {"final_answer": result}
    if checker == "refusal":
        expected = str(row.metadata.get("expected"))
        result = refusal.check(expected, response)
        return result, {expected: result}
    return None, {}
