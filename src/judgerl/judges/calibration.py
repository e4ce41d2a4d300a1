"""Per-criterion thresholds for hard verdicts. Small judges rank well but sit on the wrong side of 0.5, so a
threshold fitted on a few labelled examples (or read off a content-free response) replaces 0.5.

Thresholds are saved beside the rubric as ``<rubric>.calibration.json``, keyed by judge model, because a
threshold belongs to one judge: ``{"judge-model": {"criterion": {"threshold": 0.31, "method": ..., "n": 12}}}``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judgerl.errors import JudgerlError
from judgerl.stats import balanced_accuracy as _balanced_accuracy

CONTENT_FREE_RESPONSES = ("N/A", "", "[response]")


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(ge=0.0, le=1.0)
    method: str = "labelled"
    n: int = 0
    balanced_accuracy: float | None = None


def calibration_path(rubric_source: str | Path) -> Path:
    path = Path(rubric_source)
    return path.with_name(f"{path.stem}.calibration.json")


def load_thresholds(rubric_source: str | Path | None, judge_model: str) -> dict[str, float]:
    """Thresholds for this judge from the file beside the rubric; empty when there is none."""
    if rubric_source is None:
        return {}
    path = calibration_path(rubric_source)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = {name: Threshold.model_validate(value) for name, value in data.get(judge_model, {}).items()}
    except (json.JSONDecodeError, ValidationError, AttributeError) as exc:
        raise JudgerlError(
            f"{path}: invalid calibration file ({str(exc).splitlines()[0]}); delete it and re-run `judgerl calibrate`"
        ) from None
    return {name: entry.threshold for name, entry in entries.items()}


def save_thresholds(rubric_source: str | Path, judge_model: str, thresholds: dict[str, Threshold]) -> Path:
    """Merge this judge's thresholds into the calibration file beside the rubric."""
    path = calibration_path(rubric_source)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data[judge_model] = {**data.get(judge_model, {}), **{k: v.model_dump() for k, v in thresholds.items()}}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def cascade_key(models: Sequence[str]) -> str:
    """The calibration file's key for a cascade's margins: its stages' models in order."""
    return "cascade: " + " > ".join(models)


class MarginFit(BaseModel):
    """Escalation margins of a cascade, fitted on labelled examples to keep a share of its last stage's agreement."""

    model_config = ConfigDict(extra="forbid")

    margins: list[float]
    target: float = Field(ge=0.0, le=1.0, description="Share of the last stage's agreement the cascade keeps.")
    n: int = 0
    agreement: float | None = None
    last_stage_agreement: float | None = None
    escalated: float | None = Field(default=None, description="Share of items the first stage passed on.")


def load_margins(rubric_source: str | Path | None, models: Sequence[str]) -> list[float] | None:
    """The saved margins of the cascade of these stage models, from the file beside the rubric; None if none."""
    if rubric_source is None:
        return None
    path = calibration_path(rubric_source)
    if not path.exists():
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8")).get(cascade_key(models))
        return None if entry is None else MarginFit.model_validate(entry).margins
    except (json.JSONDecodeError, ValidationError, AttributeError) as exc:
        raise JudgerlError(
            f"{path}: invalid calibration file ({str(exc).splitlines()[0]}); delete it and re-run `judgerl calibrate`"
        ) from None


def save_margins(rubric_source: str | Path, models: Sequence[str], fit: MarginFit) -> Path:
    """Save a cascade's margins into the calibration file beside the rubric (beside the thresholds)."""
    path = calibration_path(rubric_source)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data[cascade_key(models)] = fit.model_dump()
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def balanced_accuracy(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> float | None:
    """Balanced accuracy of the hard verdicts ``score >= threshold`` (``judgerl.stats.balanced_accuracy``: None
    with one class absent)."""
    return _balanced_accuracy([s >= threshold for s in scores], labels)


def fit_threshold(scores: Sequence[float], labels: Sequence[bool]) -> Threshold:
    """The threshold maximising balanced accuracy; among equal ones, the midpoint of the widest gap.

    With one class only, the threshold sits just beyond the observed scores on the side that keeps them."""
    if len(scores) != len(labels) or not scores:
        raise JudgerlError("calibration needs the same number (> 0) of scores and labels")
    if all(labels) or not any(labels):
        value = min(scores) if all(labels) else min(1.0, max(scores) + 1e-6)
        return Threshold(threshold=value, n=len(scores), balanced_accuracy=1.0)
    points = sorted(set(scores))
    cuts = [points[0]] + [(a + b) / 2 for a, b in itertools.pairwise(points)] + [points[-1] + 1e-6]
    accuracies = [balanced_accuracy(scores, labels, cut) or 0.0 for cut in cuts]  # both classes: never None
    best = max(accuracies)
    winners = [cut for cut, value in zip(cuts, accuracies, strict=True) if value == best]
    chosen = winners[len(winners) // 2]
    return Threshold(threshold=min(1.0, max(0.0, chosen)), n=len(scores), balanced_accuracy=best)
