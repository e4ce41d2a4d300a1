"""Input rows for ``judgerl graders run``: /graders/run's shape, or judgerl sample rows.

- ``{"item": {...}, "model_sample": "..."}`` (optionally ``"id"``): as OpenAI's /fine_tuning/alpha/graders/run.
- ``{"id", "prompt", "response", "reference"?, "metadata"?}``: a judgerl sample row. ``response`` is the model
  sample; the item is the row's metadata with ``id``, ``prompt`` (as text) and ``reference`` (when the row has
  one) added, so ``{{ item.reference }}`` and ``{{ item.<metadata field> }}`` work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from judgerl.graders.seams import JudgerlError, Sample, prompt_text


class RowError(JudgerlError):
    """An input row the grader cannot read."""


@dataclass(frozen=True)
class GradeRow:
    id: str
    item: dict[str, Any]
    sample: str | dict[str, Any]


def row_from_json(row: dict[str, Any], where: str, number: int) -> GradeRow:
    if "model_sample" in row:
        item = row.get("item") or {}
        sample = row["model_sample"]
        if not isinstance(item, dict):
            raise RowError(f"{where}: field 'item' must be a JSON object")
        if not isinstance(sample, str | dict):
            raise RowError(f"{where}: field 'model_sample' must be a string")
        return GradeRow(str(row.get("id", number)), item, sample)
    if "response" in row:
        try:
            parsed = Sample.model_validate(row)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"]) or "row"
            raise RowError(f"{where}: field '{field}': {error['msg']}") from None
        item = {**parsed.metadata, "id": parsed.id, "prompt": prompt_text(parsed.prompt)}
        if parsed.reference is not None:
            item["reference"] = parsed.reference
        return GradeRow(parsed.id, item, parsed.response)
    raise RowError(
        f"{where}: expected {{'item', 'model_sample'}} (as /graders/run) or a judgerl sample row "
        "{'id', 'prompt', 'response'}"
    )


def read_rows(path: str | Path) -> Iterator[GradeRow]:
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise RowError(f"{path}: input file not found") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RowError(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise RowError(f"{path}:{number}: each line must be a JSON object")
        yield row_from_json(row, f"{path}:{number}", number)
