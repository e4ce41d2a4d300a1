"""Input rows for ``judgerl graders run``: /graders/run's shape, or judgerl sample rows.

- ``{"item": {...}, "model_sample": "..."}`` (optionally ``"id"``): as OpenAI's /fine_tuning/alpha/graders/run.
- ``{"id", "prompt", "response", "reference"?, "metadata"?}``: a judgerl sample row. ``response`` is the model
  sample; the item is the row's metadata with ``id``, ``prompt`` (as text) and ``reference`` (when the row has
  one) added, so ``{{ item.reference }}`` and ``{{ item.<metadata field> }}`` work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from judgerl.graders.seams import JudgerlError, Sample, prompt_text, read_jsonl_objects


class RowError(JudgerlError):
    """An input row the grader cannot read."""


@dataclass(frozen=True)
class GradeRow:
    id: str
    item: dict[str, Any]
    sample: str | dict[str, Any]


def item_from_sample(sample: Sample) -> dict[str, Any]:
    """A judgerl sample's ``item`` namespace: its metadata, with ``id``, ``prompt`` (as text) and ``reference``
    (when it has one) added. Every door that grades judgerl samples (``graders run``, ``judge``, the server, the
    Lambda) builds the item this way."""
    item = {**sample.metadata, "id": sample.id, "prompt": prompt_text(sample.prompt)}
    if sample.reference is not None:
        item["reference"] = sample.reference
    return item


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
        return GradeRow(parsed.id, item_from_sample(parsed), parsed.response)
    raise RowError(
        f"{where}: expected {{'item', 'model_sample'}} (as /graders/run) or a judgerl sample row "
        "{'id', 'prompt', 'response'}"
    )


def read_rows(path: str | Path) -> Iterator[GradeRow]:
    for number, row in read_jsonl_objects(path, RowError, "input file"):
        yield row_from_json(row, f"{path}:{number}", number)
