"""`judgerl report`: one self-contained HTML file from a run's verdict store.

build_report("runs/grpo-math")            # -> runs/grpo-math/report.html
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from judgerl.errors import JudgerlError
from judgerl.store import REPORT_FILENAME, STORE_FILENAME, VerdictStore

if TYPE_CHECKING:
    from judgerl.train.selection import Selection

logger = logging.getLogger(__name__)


def build_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    run: str | None = None,
    max_samples: int = 2000,
    max_clusters: int = 8,
) -> Path:
    """Write the report of ``run`` (name or id; by default the latest training run, else the latest run) in
    RUN_DIR's store; returns its path.

    ``run_dir`` may also be the store file itself. ``max_samples`` caps the samples embedded in the sample
    browser (an even spread over the run, plus examples of every failure group)."""
    from judgerl.report.data import load_report_data
    from judgerl.report.html import render_html
    from judgerl.report.plots import all_plots
    from judgerl.train.pass_fail import CHECKER_GATE, LABELS_GATE, recorded_thresholds

    source = Path(run_dir)
    store_file = source if source.is_file() else source / STORE_FILENAME
    if not source.exists():
        raise JudgerlError(f"{source}: no such run directory")
    if not store_file.is_file():
        raise JudgerlError(
            f"{source}: no {STORE_FILENAME} here; point at a directory written by training or `judgerl judge --store`"
        )
    if max_samples < 1:
        raise JudgerlError(f"max_samples: {max_samples} must be at least 1")
    with VerdictStore(store_file, readonly=True) as store:
        data = load_report_data(store, run, max_samples=max_samples, max_clusters=max_clusters)
    for name in (LABELS_GATE, CHECKER_GATE) if data.run.kind == "train" else ():
        gate_file = store_file.parent / name
        if not gate_file.is_file():
            continue
        try:
            gate = json.loads(gate_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged file: the report goes on without it
        if isinstance(gate, dict):
            data.gates.append({k: v for k, v in gate.items() if k != "items"})
    if data.run.kind == "train":
        data.selections = _selections(store_file.parent)
        data.reward_thresholds = recorded_thresholds(store_file.parent)
    metrics_file = store_file.parent / "metrics.jsonl"
    if data.run.kind == "train" and metrics_file.is_file():
        data.step_times = _step_times(metrics_file)
    html = render_html(data, all_plots(data))
    target = Path(out) if out is not None else store_file.parent / REPORT_FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(html, encoding="utf-8")
    temporary.replace(target)  # a reader never sees half a report
    logger.info("wrote %s (%d bytes)", target, len(html))
    return target


def _step_times(path: Path) -> list[tuple[int, float, float]]:
    """(step, step seconds, share of it spent waiting for the judge) from the trainer's metrics lines."""
    rows: list[tuple[int, float, float]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
            step, seconds, share = record["step"], record["step_time"], record["judge/wait_fraction"]
        except (ValueError, KeyError, TypeError):
            continue  # other metric lines (evaluation, summaries) or a partly written last line
        if all(isinstance(v, (int, float)) for v in (step, seconds, share)):
            rows.append((int(step), float(seconds), float(share)))
    return rows


def _selections(folder: Path) -> list[Selection]:
    """The checkpoint choices `judgerl select` saved beside the store (a damaged file is left out)."""
    from pydantic import ValidationError

    from judgerl.train.selection import Selection

    found = []
    for path in sorted(folder.glob("selection-*.json")):
        try:
            found.append(Selection.model_validate_json(path.read_text(encoding="utf-8")))
        except (OSError, ValidationError):
            logger.warning("%s: not a selection file this version reads; the report goes on without it", path)
    return found
