"""`judgerl inspect RUN_DIR`: query a run's verdict store from the terminal.

judgerl inspect runs/grpo                      # summary: pass rates first vs last step, warnings
judgerl inspect runs/grpo -c units -s 120 -w 5 # the worst 'units' verdicts in steps 115..125, with rationales
judgerl inspect runs/grpo --failures -c units  # the most common failure rationales for 'units'
judgerl inspect runs/grpo --sample s120-3-1    # one sample in full
judgerl inspect runs/grpo --warnings           # reward-hacking monitor warnings
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from judgerl.errors import JudgerlError
from judgerl.store import STORE_FILENAME, RunInfo, StoredSample, VerdictStore


def _open(run_dir: Path) -> VerdictStore:
    store_file = run_dir if run_dir.is_file() else run_dir / STORE_FILENAME
    if not store_file.is_file():
        raise JudgerlError(
            f"{run_dir}: no {STORE_FILENAME} here; point at a run directory written by training or judge"
        )
    return VerdictStore(store_file, readonly=True)


def _emit(payload: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str) if as_json else text.rstrip())


def _short(text: str | None, width: int) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _sample_text(sample: StoredSample, full: bool, focus: str | None = None) -> str:
    lines = [f"step {sample.step}  id {sample.sample_id}  reward {_fmt(sample.reward)}  score {_fmt(sample.score)}"]
    if sample.cascade_stage is not None:
        lines.append(f"  decided by cascade stage {sample.cascade_stage} ({sample.judge_model})")
    if sample.unscored_reason:
        lines.append(f"  unscored: {sample.unscored_reason}")
    if full:
        lines += [
            "  prompt:",
            textwrap.indent(sample.prompt, "    "),
            "  response:",
            textwrap.indent(sample.response, "    "),
        ]
        if sample.reference:
            lines += ["  reference:", textwrap.indent(sample.reference, "    ")]
    else:
        unit = "chars" if sample.response_tokens is None else "tokens"
        lines.append(f"  response ({sample.length} {unit}): {_short(sample.response, 160)}")
    for verdict in sample.criteria:
        if focus is not None and verdict.criterion != focus and not full:
            continue
        label = "PASS" if verdict.passed else "FAIL" if verdict.passed is False else "UNSCORED"
        lines.append(f"  {verdict.criterion}: {label}  P(pass) {_fmt(verdict.p_pass)}")
        why = verdict.rationale or verdict.unscored_reason
        if why:
            lines.append(textwrap.indent(textwrap.fill(why if full else _short(why, 400), 100), "      "))
    return "\n".join(lines)


def _sample_json(sample: StoredSample) -> dict[str, Any]:
    return asdict(sample)


def _summary(store: VerdictStore, run: RunInfo, as_json: bool) -> None:
    counts = store.counts(run.id)
    steps = store.steps(run.id)
    rates: dict[str, dict[str, float | None]] = {}
    rows = store.criterion_step_counts(run.id)
    for name in store.criteria_names(run):
        own = [r for r in rows if r["criterion"] == name]
        if not own:
            continue

        def rate(row: Any) -> float | None:
            scored = (row["n_pass"] or 0) + (row["n_fail"] or 0)
            return (row["n_pass"] or 0) / scored if scored else None

        rates[name] = {"first_step": rate(own[0]), "last_step": rate(own[-1])}
    cascade = [dict(row) for row in store.cascade_stages(run.id)]
    payload = {
        "run": asdict(run),
        "counts": counts,
        "steps": [steps[0], steps[-1]] if steps else None,
        "pass_rates": rates,
        "cascade_stages": cascade,
    }
    lines = [
        f"run {run.name} (id {run.id}, {run.kind}): {counts['samples']:,} samples, {counts['pairs']:,} pairs, "
        f"{counts['anchors']:,} anchor verdicts, {counts['warnings']} monitor warnings",
        f"steps {steps[0]}..{steps[-1]}" if steps else "no steps recorded",
    ]
    if rates:
        lines.append(f"{'criterion':<24} {'pass rate first step':>22} {'last step':>10}")
        for name, rate_pair in rates.items():
            first, last = (("-" if r is None else f"{r:.0%}") for r in rate_pair.values())
            lines.append(f"{name:<24} {first:>22} {last:>10}")
    for row in cascade:
        total = counts["samples"] if row["kind"] == "sample" else counts["pairs"]
        share = f" ({row['n'] / total:.0%})" if total else ""
        stage = f"cascade stage {row['cascade_stage']} ({row['judge_model']})"
        lines.append(f"{stage} decided {row['n']:,} {row['kind']}s{share}")
    others = [r.name for r in store.runs() if r.id != run.id]
    if others:
        lines.append(f"other runs in this store: {', '.join(others)} (choose with --run)")
    _emit(payload, as_json, "\n".join(lines))


@click.command("inspect")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--run", "run_name", help="Run name or id inside the store (default: the latest training run, else the latest run)."
)
@click.option("-c", "--criterion", help="Show the worst verdicts of this criterion (lowest P(pass) first).")
@click.option("-s", "--step", type=int, help="Around this training step.")
@click.option("-w", "--window", default=0, show_default=True, type=click.IntRange(min=0), help="Steps either side.")
@click.option("-n", "--limit", default=5, show_default=True, type=click.IntRange(min=1), help="How many samples.")
@click.option("--sample", "sample_id", help="Show this sample id in full (every step it was judged at).")
@click.option("--failures", is_flag=True, help="The most common failure rationales, grouped by similarity.")
@click.option("--warnings", "show_warnings", is_flag=True, help="The reward-hacking monitor warnings.")
@click.option("--runs", "list_runs", is_flag=True, help="List the runs in the store.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect(
    run_dir: Path,
    run_name: str | None,
    criterion: str | None,
    step: int | None,
    window: int,
    limit: int,
    sample_id: str | None,
    failures: bool,
    show_warnings: bool,
    list_runs: bool,
    as_json: bool,
) -> None:
    """Query a run's verdicts: a summary, the worst samples for a criterion around a step, failure groups,
    one sample, or the monitor warnings. RUN_DIR holds verdicts.sqlite."""
    with _open(run_dir) as store:
        if list_runs:
            runs = store.runs()
            text = "\n".join(f"{r.id:>3}  {r.name}  ({r.kind}, judgerl {r.judgerl_version})" for r in runs)
            _emit([asdict(r) for r in runs], as_json, text or "no runs")
            return
        run = store.resolve_run(run_name)
        if criterion is not None and criterion not in store.criteria_names(run):
            known = ", ".join(store.criteria_names(run)) or "none"
            raise JudgerlError(f"--criterion: run '{run.name}' has no criterion '{criterion}'; it has: {known}")
        if sample_id is not None:
            found = store.samples_by_id(run.id, sample_id)
            if not found:
                raise JudgerlError(f"--sample: run '{run.name}' has no sample with id '{sample_id}'")
            _emit([_sample_json(s) for s in found], as_json, "\n\n".join(_sample_text(s, full=True) for s in found))
        elif show_warnings:
            _warnings(store, run, as_json)
        elif failures:
            _failures(store, run, criterion, limit, as_json)
        elif criterion is not None or step is not None:
            worst = store.worst_samples(run.id, criterion, step, window, limit)
            where = "all steps" if step is None else f"steps {step - window}..{step + window}"
            what = f"'{criterion}' verdicts" if criterion else "rewards"
            header = f"the {len(worst)} worst {what} in {where} of run {run.name}:"
            body = "\n\n".join(_sample_text(s, full=False, focus=criterion) for s in worst)
            _emit([_sample_json(s) for s in worst], as_json, f"{header}\n\n{body}" if worst else f"{header} none")
        else:
            _summary(store, run, as_json)


def _warnings(store: VerdictStore, run: RunInfo, as_json: bool) -> None:
    from judgerl.report.data import monitor_config_of, replay_monitors

    warnings = store.events(run.id, "warning")
    origin = "recorded during the run"
    if not warnings and not store.events(run.id):
        from judgerl.monitors import HackingMonitor

        warnings = replay_monitors(store, run.id, HackingMonitor(monitor_config_of(run.config))).warnings
        origin = "computed now from the stored verdicts (the run recorded no monitor events)"
    text = "\n".join(f"step {w.step:>6}  {w.name}: {w.message}" for w in warnings)
    stops = store.events(run.id, "stop")  # monitors.stop_on_warning ended the run
    text += "".join(f"\ntraining stopped at step {s.step} ({s.name}): {s.message}" for s in stops)
    _emit([asdict(w) for w in [*warnings, *stops]], as_json, f"monitor warnings {origin}:\n{text or 'none'}")


def _failures(store: VerdictStore, run: RunInfo, criterion: str | None, limit: int, as_json: bool) -> None:
    from judgerl.report.clusters import cluster_rationales

    payload: dict[str, Any] = {}
    lines: list[str] = []
    for name in [criterion] if criterion else store.criteria_names(run):
        rows = store.failure_rationales(run.id, name)
        clusters = cluster_rationales([r["rationale"] for r in rows])[:limit]
        payload[name] = [
            {"label": c.label, "count": c.count, "share": c.share, "representative": c.representative} for c in clusters
        ]
        lines.append(f"{name}: {len(rows):,} failures with a rationale")
        for c in clusters:
            lines.append(f"  {c.count:>6} ({c.share:>4.0%})  [{c.label}]  {_short(c.representative, 140)}")
    _emit(payload, as_json, "\n".join(lines))
