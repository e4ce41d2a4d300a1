"""Trust records: how well one judge was measured on one rubric (or on pairs), and the line every door shows.

A record is written by `judgerl tune`, `validate` and `calibrate` beside the rubric as
``<rubric stem>.trust.json`` (pairwise judging, which has no rubric file: ``$JUDGERL_HOME/trust/pairwise.trust.json``),
keyed by the judge's ``backend.model_id``, one latest record per judge::

    {"qwen2.5-coder-1.5b": {"source": "tune", "metric": "auc", "value": 0.93, "low": 0.88, "high": 0.97, "n": 120,
      "data": "labelled.jsonl", "heldout": true, "strategy": "plain-question", "passed": true,
      "at": "2026-12-04T22:00:00Z"}}

Every door (CLI, serve, the Lambda, train, the report) shows :func:`trust_line` for the judge it uses; where no
record exists it warns, once per process, that the judge is not validated on this rubric. A judge known to be weak
(the packaged 0.5B) says so unless a passing record vouches for it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judgerl.errors import JudgerlError
from judgerl.settings import home
from judgerl.stats import Estimate

logger = logging.getLogger(__name__)

#: the bar a figure (its interval's low end, when there is one) must reach for a record to pass
DEFAULT_BAR = 0.8
NOT_VALIDATED = "this judge is not validated on this rubric: run judgerl tune"

#: packaged judges measured too weak to reward with unvalidated (docs/validation.md): model id -> why
WEAK_JUDGES = {
    "qwen2.5-coder-0.5b": "measured on labelled safety and math replies in docs/validation.md; "
    "prefer qwen2.5-coder-1.5b",
}

Source = Literal["tune", "validate", "calibrate"]
Metric = Literal["auc", "balanced_accuracy", "order_averaged_accuracy"]


class TrustRecord(BaseModel):
    """One judge's latest measured figure on one rubric (or on pairs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Source
    metric: Metric
    value: float = Field(ge=0.0, le=1.0)
    low: float | None = Field(default=None, ge=0.0, le=1.0)
    high: float | None = Field(default=None, ge=0.0, le=1.0)
    n: int = Field(ge=0)
    data: str
    heldout: bool
    strategy: str | None = None
    passed: bool
    at: str

    @classmethod
    def measured(
        cls,
        source: Source,
        metric: Metric,
        estimate: Estimate,
        data: str | Path,
        *,
        heldout: bool,
        strategy: str | None = None,
        bar: float = DEFAULT_BAR,
    ) -> TrustRecord | None:
        """A record of ``estimate`` (None when it has no value); ``passed`` when its low end (else value) >= bar."""
        if estimate.value is None:
            return None
        floor = estimate.low if estimate.low is not None else estimate.value
        return cls(
            source=source,
            metric=metric,
            value=round(estimate.value, 4),
            low=None if estimate.low is None else round(estimate.low, 4),
            high=None if estimate.high is None else round(estimate.high, 4),
            n=estimate.n,
            data=Path(data).name,
            heldout=heldout,
            strategy=strategy,
            passed=floor >= bar,
            at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )


def trust_path(rubric_source: str | Path | None) -> Path:
    """``<rubric stem>.trust.json`` beside the rubric; for pairwise judging (None) the one under JUDGERL_HOME."""
    if rubric_source is None:
        return home() / "trust" / "pairwise.trust.json"
    path = Path(rubric_source)
    return path.with_name(f"{path.stem}.trust.json")


def _read(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise JudgerlError(f"{path}: unreadable trust file ({exc}); delete it and re-run `judgerl tune`") from None
    if not isinstance(data, dict):
        raise JudgerlError(f"{path}: a trust file maps judge models to records; delete it and re-run `judgerl tune`")
    return data


def load_trust(rubric_source: str | Path | None, judge_model: str) -> TrustRecord | None:
    """This judge's record for the rubric (pairs when None); None when it was never measured."""
    path = trust_path(rubric_source)
    entry = _read(path).get(judge_model)
    if entry is None:
        return None
    try:
        return TrustRecord.model_validate(entry)
    except ValidationError as exc:
        raise JudgerlError(
            f"{path}: invalid record for '{judge_model}' ({str(exc).splitlines()[0]}); re-run `judgerl tune`"
        ) from None


def save_trust(rubric_source: str | Path | None, judge_model: str, record: TrustRecord) -> Path:
    """Replace this judge's record in the trust file (other judges' records are kept)."""
    path = trust_path(rubric_source)
    data = _read(path)
    data[judge_model] = record.model_dump()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _scope(rubric_source: str | Path | None) -> str:
    return "pairs" if rubric_source is None else f"rubric {Path(rubric_source).name}"


def _figure(record: TrustRecord) -> str:
    interval = f" [{record.low:.3f}, {record.high:.3f}]" if record.low is not None and record.high is not None else ""
    held = "held out" if record.heldout else "not held out"
    strategy = f", strategy {record.strategy}" if record.strategy else ""
    return (
        f"{record.metric} {record.value:.3f}{interval} on {record.n} labelled items ({record.data}, {held}{strategy}; "
        f"judgerl {record.source}, {record.at[:10]})"
    )


class TrustNotice(BaseModel):
    """What a door shows about its judge: the line, and whether it is a warning."""

    model_config = ConfigDict(frozen=True)

    line: str
    warning: bool
    record: TrustRecord | None = None

    def stored(self) -> dict[str, object]:
        """What a run's store keeps (its report shows it in the header)."""
        return {"line": self.line, "warning": self.warning}


def trust_notice(rubric_source: str | Path | None, judge_model: str) -> TrustNotice:
    """The trust line of this judge on this rubric (pairs when None), from its record or the lack of one."""
    record = load_trust(rubric_source, judge_model)
    head = f"judge {judge_model} on {_scope(rubric_source)}"
    if record is None:
        line, warning = f"{head}: {NOT_VALIDATED}", True
    elif record.passed:
        line, warning = f"{head}: validated, {_figure(record)}", False
    else:
        line, warning = f"{head}: below the bar {DEFAULT_BAR} ({_figure(record)}); run judgerl tune", True
    weak = WEAK_JUDGES.get(judge_model)
    if weak is not None and (record is None or not record.passed):
        line += f"; {judge_model} is a weak judge: {weak}"
    return TrustNotice(line=line, warning=warning, record=record)


def trust_line(rubric_source: str | Path | None, judge_model: str) -> str:
    return trust_notice(rubric_source, judge_model).line


_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def announce_trust(
    rubric_source: str | Path | None, judge_model: str, emit: Callable[[str], None] | None = None
) -> TrustNotice:
    """Show this judge's trust line through ``emit`` (default: the log, a warning when unearned).

    A warning is shown once per process for each (rubric, judge); a validated figure every time a door starts.
    A broken trust file is logged and treated as no record: it must not stop a door that serves rewards."""
    try:
        notice = trust_notice(rubric_source, judge_model)
    except JudgerlError as exc:
        notice = TrustNotice(line=f"judge {judge_model} on {_scope(rubric_source)}: {exc}", warning=True)
    if notice.warning:
        key = (str(trust_path(rubric_source)), judge_model)
        with _warned_lock:
            if key in _warned:
                return notice
            _warned.add(key)
    if emit is not None:
        emit(notice.line)
    elif notice.warning:
        logger.warning("%s", notice.line)
    else:
        logger.info("%s", notice.line)
    return notice


def forget_warnings() -> None:
    """Let the next door warn again (tests; a long-lived process that reloads its judge)."""
    with _warned_lock:
        _warned.clear()
