"""Loaders for human-labelled validation data.

Pairwise (JSON list or JSONL), one row per pair, in the LLMBar shape or this project's own:
    {"input": ..., "output_1": ..., "output_2": ..., "label": 1 | 2}                    (LLMBar, FairEval)
    {"id"?, "prompt": ..., "response_a": ..., "response_b": ..., "label": "A" | "B" | "tie"}
Multi-annotator rows carry every annotator's label instead; the majority is the label and an even split
between the two leading labels is a tie (kept, never dropped):
    {"input": ..., "output_1": ..., "output_2": ..., "labels": [1, 2, 1, "tie"]}
A label is 1 / "A" (the first response is better), 2 / "B" (the second), or 0 / "tie".

Rubric-labelled (JSONL), one response per row, labelled per criterion of a rubric:
    {"id": ..., "prompt": ..., "response": ..., "reference"?: ..., "labels": {"criterion": true | false}}
A row may label only some of the rubric's criteria; it is judged on those only.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judgerl.errors import SampleError
from judgerl.rubric import Rubric
from judgerl.samples import LabelledSample, PairSample, read_jsonl_objects

HumanLabel = Literal["A", "B", "tie"]
_LABELS: dict[Any, HumanLabel] = {1: "A", 2: "B", 0: "tie", "1": "A", "2": "B", "0": "tie", "a": "A", "b": "B"}
_LABELS.update({"tie": "tie", "output_1": "A", "output_2": "B", "response_a": "A", "response_b": "B"})


class LabelledPair(BaseModel):
    """A pair with its human label; ``annotators`` holds each annotator's label when there were several."""

    model_config = ConfigDict(frozen=True)

    pair: PairSample
    human: HumanLabel
    annotators: list[HumanLabel] = Field(default_factory=list)

    @property
    def annotator_agreement(self) -> float | None:
        """Share of annotators who gave the majority label (None with fewer than two annotators)."""
        if len(self.annotators) < 2:
            return None
        return sum(a == self.human for a in self.annotators) / len(self.annotators)


def _read_records(path: Path) -> list[tuple[str, Any]]:
    """(location, record) for a JSON list or a JSONL file; location names the file and row for errors."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise SampleError(f"{path}: file not found") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise SampleError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return [(f"{path}: item {index}", row) for index, row in enumerate(data, start=1)]
    return [(f"{path}:{number}", row) for number, row in read_jsonl_objects(path, SampleError)]


def _human_label(value: Any, where: str, field: str) -> HumanLabel:
    key = value.strip().lower() if isinstance(value, str) else value
    if isinstance(key, bool) or key not in _LABELS:
        raise SampleError(
            f"{where}: field '{field}': {value!r} is not a pairwise label (1 or 'A', 2 or 'B', 0 or 'tie')"
        )
    return _LABELS[key]


def majority_label(labels: list[HumanLabel]) -> HumanLabel:
    """The most common label; an even split between the two leading labels is a tie."""
    ranked = Counter(labels).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return "tie"
    return ranked[0][0]


def _field(row: dict[str, Any], where: str, *names: str) -> Any:
    for name in names:
        if name in row:
            return row[name]
    raise SampleError(f"{where}: field '{names[0]}' is missing (expected one of: {', '.join(names)})")


def load_labelled_pairs(path: str | Path) -> list[LabelledPair]:
    """Human-labelled pairs from LLMBar-shaped or project-shaped rows, single- or multi-annotator."""
    path = Path(path)
    pairs: list[LabelledPair] = []
    seen: set[str] = set()
    for index, (where, row) in enumerate(_read_records(path), start=1):
        if not isinstance(row, dict):
            raise SampleError(f"{where}: each pair must be a JSON object, got {type(row).__name__}")
        annotators: list[HumanLabel] = []
        if "labels" in row or "annotations" in row:
            raw = row.get("labels", row.get("annotations"))
            if not isinstance(raw, list) or not raw:
                raise SampleError(f"{where}: field 'labels' must be a non-empty list of annotator labels")
            annotators = [_human_label(value, where, "labels") for value in raw]
            human = majority_label(annotators)
        else:
            human = _human_label(_field(row, where, "label", "winner", "preference"), where, "label")
        pair_id = str(row.get("id", index))
        if pair_id in seen:
            raise SampleError(f"{where}: duplicate id '{pair_id}'")
        seen.add(pair_id)
        try:
            pair = PairSample(
                id=pair_id,
                prompt=_field(row, where, "input", "prompt", "question", "instruction"),
                response_a=_field(row, where, "output_1", "response_a"),
                response_b=_field(row, where, "output_2", "response_b"),
                reference=row.get("reference"),
                metadata=row["metadata"] if isinstance(row.get("metadata"), dict) else {},
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            raise SampleError(f"{where}: field '{'.'.join(map(str, error['loc']))}': {error['msg']}") from None
        pairs.append(LabelledPair(pair=pair, human=human, annotators=annotators))
    if not pairs:
        raise SampleError(f"{path}: no labelled pairs in the file")
    return pairs


def load_labelled_samples(path: str | Path, rubric: Rubric) -> list[LabelledSample]:
    """Rubric-labelled rows; every label must name a criterion of ``rubric`` and be true or false."""
    path = Path(path)
    known = set(rubric.names)
    out: list[LabelledSample] = []
    seen: set[str] = set()
    for index, (where, row) in enumerate(_read_records(path), start=1):
        if not isinstance(row, dict):
            raise SampleError(f"{where}: each row must be a JSON object, got {type(row).__name__}")
        labels = row.get("labels")
        if not isinstance(labels, dict) or not labels:
            raise SampleError(f"{where}: field 'labels' must be a non-empty object {{\"criterion\": true | false}}")
        for name, value in labels.items():
            if name not in known:
                raise SampleError(
                    f"{where}: label '{name}' is not a criterion of rubric '{rubric.name}' "
                    f"(criteria: {', '.join(rubric.names)})"
                )
            if not isinstance(value, bool):
                raise SampleError(f"{where}: label '{name}' must be true or false, got {value!r}")
        row.setdefault("id", str(index))
        try:
            sample = LabelledSample.model_validate(row)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(map(str, error["loc"])) or "row"
            message = "is missing" if error["type"] == "missing" else error["msg"]
            raise SampleError(f"{where}: field '{field}' {message}") from None
        if sample.id in seen:
            raise SampleError(f"{where}: duplicate id '{sample.id}'")
        seen.add(sample.id)
        out.append(sample)
    if not out:
        raise SampleError(f"{path}: no labelled rows in the file")
    return out


def restrict(rubric: Rubric, names: list[str] | tuple[str, ...]) -> Rubric:
    """The rubric with only the named criteria (same instructions and source, so calibration still loads)."""
    wanted = set(names)
    criteria = [c for c in rubric.criteria if c.name in wanted]
    return Rubric(
        name=rubric.name,
        instructions=rubric.instructions,
        use_reference=rubric.use_reference,
        criteria=tuple(criteria),
        source=rubric.source,
    )
