"""Training data: JSONL, parquet or a Hugging Face dataset, turned into the columns the trainer and the
reward functions read.

Every row becomes ``prompt`` (chat messages), ``prompt_id`` (text), ``reference`` (text or None) and
``metadata_json`` (the metadata columns as one JSON object, so rows with differently shaped metadata, such as
IFEval's per-instruction kwargs, share one Arrow schema). With ``reward.kind: grader`` the metadata is every
column but the prompt, so a grader's ``{{ item.<column> }}`` reads the row as OpenAI's RFT did.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgerl.errors import JudgerlError
from judgerl.samples import read_jsonl_objects
from judgerl.train.config import DataConfig, TrainConfig


class DataError(JudgerlError):
    """A dataset that cannot be used for training."""


@dataclass(frozen=True)
class PromptRow:
    prompt: list[dict[str, str]]
    prompt_id: str
    reference: str | None
    metadata: dict[str, Any]

    def as_record(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "prompt_id": self.prompt_id,
            "reference": self.reference,
            # default=str: a parquet date or decimal column still fits in the one JSON column
            "metadata_json": json.dumps(self.metadata, ensure_ascii=False, sort_keys=True, default=str),
        }

    @property
    def user_text(self) -> str:
        return next((m["content"] for m in reversed(self.prompt) if m["role"] == "user"), "")


def _read_raw(path_text: str, data: DataConfig, base_dir: Path) -> list[dict[str, Any]]:
    if path_text.startswith("hf:"):
        return _read_hub(path_text[3:], data)
    path = Path(path_text).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.exists():
        raise DataError(f"{path}: data file not found")
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".json"}:
        text = path.read_text(encoding="utf-8", errors="replace") if suffix == ".json" else ""
        if text.lstrip().startswith("["):
            loaded = json.loads(text)
            return [row for row in loaded if isinstance(row, dict)]
        return [row for _, row in read_jsonl_objects(path, DataError, "data file")]
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table: list[dict[str, Any]] = pq.read_table(path).to_pylist()
        return table
    raise DataError(f"{path}: unsupported data file type '{suffix}'; use .jsonl, .json, .parquet or hf:<dataset>")


def _read_hub(name: str, data: DataConfig) -> list[dict[str, Any]]:
    import datasets

    try:
        loaded = datasets.load_dataset(name, data.subset, split=data.split)
    except Exception as exc:  # datasets raises many types for a missing or unreachable dataset
        raise DataError(f"data.path: cannot load hf:{name} (split {data.split}): {exc}") from None
    return [dict(row) for row in loaded]


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: the prompt is empty")
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        messages = []
        for message in value:
            role, content = message.get("role"), message.get("content")
            if role not in {"system", "user", "assistant", "developer", "tool"} or not isinstance(content, str):
                raise DataError(f"{where}: each chat message needs a 'role' and a text 'content'")
            messages.append({"role": str(role), "content": content})
        return messages
    raise DataError(f"{where}: the prompt must be text or a list of chat messages, got {type(value).__name__}")


def _to_rows(
    raw: list[dict[str, Any]], data: DataConfig, system_prompt: str | None, label: str, all_columns: bool = False
) -> list[PromptRow]:
    """``all_columns``: the metadata is every column but the prompt (a grader's ``item``), not metadata_columns."""
    rows: list[PromptRow] = []
    seen: dict[str, int] = {}
    for number, record in enumerate(raw, start=1):
        where = f"{label} row {number}"
        if data.prompt_column not in record:
            raise DataError(f"{where}: no '{data.prompt_column}' column (set data.prompt_column)")
        prompt = _messages(record[data.prompt_column], f"{where}, column '{data.prompt_column}'")
        if system_prompt and prompt[0]["role"] != "system":
            prompt = [{"role": "system", "content": system_prompt}, *prompt]
        identifier = str(record.get(data.id_column, number)) if data.id_column else str(number)
        if identifier in seen:
            raise DataError(f"{where}: duplicate id '{identifier}' (first in row {seen[identifier]})")
        seen[identifier] = number
        reference = record.get(data.reference_column) if data.reference_column else None
        if reference is not None and not isinstance(reference, str):
            reference = json.dumps(reference) if isinstance(reference, dict | list) else str(reference)
        missing = [c for c in data.metadata_columns if c not in record]
        if missing:
            raise DataError(
                f"{where}: metadata column(s) {', '.join(missing)} missing (every row needs the columns named in "
                "data.metadata_columns)"
            )
        columns = [c for c in record if c != data.prompt_column] if all_columns else data.metadata_columns
        metadata = {c: record[c] for c in columns}
        rows.append(PromptRow(prompt=prompt, prompt_id=identifier, reference=reference, metadata=metadata))
    return rows


def load_prompt_rows(config: TrainConfig) -> tuple[list[PromptRow], list[PromptRow]]:
    """(train rows, held-out rows) as the config describes them."""
    data = config.data
    raw = _read_raw(data.path, data, config.base_dir)
    if data.shuffle_seed is not None:
        random.Random(data.shuffle_seed).shuffle(raw)
    whole_rows = config.reward.kind == "grader"  # a grader's item is the dataset row
    rows = _to_rows(raw, data, config.policy.system_prompt, data.path, whole_rows)
    held: list[PromptRow] = []
    if data.eval.path is not None:
        eval_raw = _read_raw(data.eval.path, data, config.base_dir)
        held = _to_rows(eval_raw, data, config.policy.system_prompt, data.eval.path, whole_rows)
    elif data.eval.holdout:
        count = int(data.eval.holdout * len(rows)) if data.eval.holdout < 1 else int(data.eval.holdout)
        if count >= len(rows):
            raise DataError(f"data.eval.holdout: {data.eval.holdout} leaves no training rows out of {len(rows)}")
        rows, held = rows[: len(rows) - count], rows[len(rows) - count :]
    if data.limit is not None:
        rows = rows[: data.limit]
    if data.eval.limit is not None:
        held = held[: data.eval.limit]
    if not rows:
        raise DataError(f"{data.path}: no training rows")
    return rows, held


def to_dataset(rows: list[PromptRow]) -> Any:
    """A ``datasets.Dataset`` with the columns GRPOTrainer and the reward functions read."""
    import datasets

    return datasets.Dataset.from_list([row.as_record() for row in rows])
