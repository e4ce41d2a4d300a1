"""The tuned-strategy file: the way of asking `judgerl tune` chose, saved beside the rubric as
``<rubric stem>.tuned.json`` (pairs, which have no rubric file: ``$JUDGERL_HOME/tuned/pairwise.tuned.json``), keyed by
the judge's model, as calibration files are: a strategy belongs to one judge.

    {"qwen2.5-coder-1.5b": {"strategy": {...}, "cv": 0.91, "heldout": 0.93, "n": 120, "data": "labelled.jsonl",
                            "at": "2026-12-04T22:00:00Z"}}
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from judgerl.errors import JudgerlError
from judgerl.judges.strategies import Strategy
from judgerl.settings import home


class TunedChoice(BaseModel):
    """One judge's chosen strategy and the figures that chose and confirmed it."""

    model_config = ConfigDict(extra="forbid")

    strategy: Strategy
    metric: str
    cv: float | None = None
    heldout: float | None = None
    plain_heldout: float | None = None
    n: int = 0
    data: str = ""
    at: str = ""


def tuned_path(rubric_source: str | Path | None) -> Path:
    """Beside the rubric; for pairs (no rubric), under JUDGERL_HOME."""
    if rubric_source is None:
        return home() / "tuned" / "pairwise.tuned.json"
    path = Path(rubric_source)
    return path.with_name(f"{path.stem}.tuned.json")


def load_tuned(rubric_source: str | Path | None, judge_model: str) -> TunedChoice | None:
    """This judge's tuned choice, or None when there is none (or the rubric is remote)."""
    if rubric_source is not None and str(rubric_source).startswith("s3://"):
        return None
    path = tuned_path(rubric_source)
    if not path.exists():
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8")).get(judge_model)
        return None if entry is None else TunedChoice.model_validate(entry)
    except (json.JSONDecodeError, ValidationError, AttributeError) as exc:
        raise JudgerlError(
            f"{path}: invalid tuned-strategy file ({str(exc).splitlines()[0]}); delete it and re-run `judgerl tune`"
        ) from None


def save_tuned(rubric_source: str | Path | None, judge_model: str, choice: TunedChoice) -> Path:
    """Merge this judge's choice into the tuned file (one latest choice per judge model)."""
    path = tuned_path(rubric_source)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data[judge_model] = choice.model_dump(mode="json")
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
