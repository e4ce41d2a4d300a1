"""The judge gate on a labelled file (``judge.validation.labels``): rows whose right verdict a person (or a program)
has written down, judged with the run's judge before step 1 and held to the same bar as the checker gate.

One JSON object per line (wrapped here), in one of two shapes::

    {"id": "r1", "prompt": "Reply without commas.", "response": "Sure thing",
     "criterion": "The response contains no commas.", "label": true}
    {"id": "r2", "prompt": "What is 2+2?", "response": "5", "reference": "4", "labels": {"correct": false}}

- ``criterion`` + ``label``: the response judged on that one criterion alone (any run: it needs no rubric file);
- ``labels``: ``{criterion name: true/false}``, the row judged exactly as training judges it: the run's rubric
  file plus the row's own criteria when ``reward.row_criteria`` names a ``metadata`` column (the format
  ``judgerl validate`` and ``judgerl calibrate`` read); each name must be a criterion of that rubric.

``prompt`` is text or a list of chat messages; ``id``, ``reference`` and ``metadata`` are optional. The score
compared with a label is the criterion's P(PASS) (its hard verdict when the judge gives no probability); the AUC
is taken within each criterion text, as GRPO compares replies under one set of criteria.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import model_validator

from judgerl.errors import SampleError
from judgerl.rubric import Criterion, Rubric
from judgerl.samples import Sample, load_rows
from judgerl.train.gate import GateResult, decide, summarise
from judgerl.train.rubrics import RubricJudges, judge_in_groups
from judgerl.verdicts import SampleVerdict

#: the criterion name a ``criterion`` row is judged under
SINGLE = "criterion"


class LabelRow(Sample):
    """A labelled row of ``judge.validation.labels``: ``criterion`` + ``label``, or ``labels``."""

    criterion: str | None = None
    label: bool | None = None
    labels: dict[str, bool] | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> LabelRow:
        if self.labels is not None and (self.criterion is not None or self.label is not None):
            raise ValueError("give either 'criterion' and 'label', or 'labels', not both")
        if self.labels is None and self.criterion is None and self.label is None:
            raise ValueError("needs 'criterion' and 'label' (true/false), or 'labels' {criterion name: true/false}")
        if self.labels is not None and not self.labels:
            raise ValueError("'labels' is empty; name at least one criterion")
        if self.criterion is not None and not self.criterion.strip():
            raise ValueError("'criterion' is empty; write the criterion the label is about")
        return self


def load_label_rows(path: Path) -> list[tuple[int, LabelRow]]:
    """(line number, row) for each row; a bad row raises SampleError naming the file, the line and the field."""

    def check(number: int, raw: dict[str, Any]) -> None:
        if "criterion" in raw and "label" not in raw:
            raise SampleError(
                f"{path}:{number}: field 'label' is missing (a 'criterion' row needs 'label': true or false)"
            )
        if "label" in raw and "criterion" not in raw:
            raise SampleError(f"{path}:{number}: field 'criterion' is missing (the text the label is about)")

    rows = load_rows(path, LabelRow, default_id=lambda number: f"label-{number}", check=check)
    if not rows:
        raise SampleError(f"{path}: no labelled rows")
    return rows


class _Judging:
    """Which judge and criteria each row is judged with (judges built once per criterion text)."""

    def __init__(self, judges: RubricJudges, path: Path) -> None:
        self.judges = judges
        self.path = path
        self._single: dict[str, Any] = {}

    def judge_for(self, row: LabelRow, number: int) -> tuple[Any, dict[str, str]]:
        """The row's judge and, per labelled criterion name, the criterion's text."""
        if row.criterion is not None:
            text = row.criterion.strip()
            if text not in self._single:
                rubric = Rubric(
                    name=self.judges.name,
                    instructions=self.judges.instructions,
                    use_reference=self.judges.use_reference,
                    criteria=(Criterion(name=SINGLE, text=text),),
                )
                self._single[text] = self.judges.make_judge(rubric)
            return self._single[text], {SINGLE: text}
        assert row.labels is not None
        try:
            rubric = self.judges.rubric_for(row)
        except Exception as exc:  # a row whose metadata criteria are malformed
            raise SampleError(f"{self.path}:{number}: field 'metadata': {exc}") from None
        texts = {c.name: c.text for c in rubric.criteria}
        for name in row.labels:
            if name not in texts:
                raise SampleError(
                    f"{self.path}:{number}: field 'labels.{name}': no criterion '{name}' in the run's rubric "
                    f"(criteria: {', '.join(texts)}); label one of those or use 'criterion' + 'label'"
                )
        return self.judges.for_sample(row), texts


def criterion_score(verdict: SampleVerdict, name: str) -> float | None:
    for criterion in verdict.criteria:
        if criterion.name == name:
            if criterion.p_pass is not None:
                return criterion.p_pass
            return None if criterion.passed is None else float(criterion.passed)
    return None


def run_label_gate(
    path: Path, *, judges: RubricJudges, min_auc: float, enforce: bool, save_to: Path | None = None
) -> GateResult:
    """Judge the labelled rows, compare with the labels; raises JudgerlError below the bar when ``enforce``."""
    started = time.perf_counter()
    if not path.is_file():
        raise SampleError(f"{path}: judge.validation.labels: file not found")
    numbered = load_label_rows(path)
    rows = [row for _, row in numbered]
    judging = _Judging(judges, path)
    texts: list[dict[str, str]] = []
    row_judges: list[Any] = []
    for number, row in numbered:
        judge, row_texts = judging.judge_for(row, number)
        texts.append(row_texts)
        row_judges.append(judge)
    judge_of = dict(zip((row.id for row in rows), row_judges, strict=True))
    verdicts = judge_in_groups(rows, lambda row: judge_of[row.id])
    judged: list[tuple[str, float | None, bool | None]] = []
    items: list[dict[str, Any]] = []
    for row, verdict, row_texts in zip(rows, verdicts, texts, strict=True):
        labels = row.labels if row.labels is not None else {SINGLE: bool(row.label)}
        for name, label in labels.items():
            score = criterion_score(verdict, name)
            judged.append((row_texts[name], score, label))
            items.append(
                {
                    "id": row.id,
                    "criterion": row_texts[name],
                    "response": row.response,
                    "judge_score": score,
                    "label": label,
                    "unscored_reason": verdict.unscored_reason if score is None else None,
                }
            )
    result = summarise(
        judged,
        checker="labels",
        min_auc=min_auc,
        started=started,
        items=items,
        source="labels",
        labels_file=str(path),
    )
    return decide(result, enforce, save_to)
