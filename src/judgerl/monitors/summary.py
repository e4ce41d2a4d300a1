"""What a run's live monitors found, in a few lines for the end of ``judgerl train`` and ``make demo``.

Read back from the verdict store (the events ``LiveMonitor`` recorded), so the lines say what the run stored, and
the report shows the same figures over steps.
"""

from __future__ import annotations

from pathlib import Path

from judgerl.store import VerdictStore

SIGNAL = "monitor/signal/"
MIXED = "monitor/signal_mixed/"


def monitor_lines(store_path: Path, run: str | int) -> list[str]:
    """One line per check with a behaviour signal (the last step's pooled push per kind of row, and the share of
    its groups whose replies differed on the check), then one line per warning in the order they fired. Empty for
    a run without monitors."""
    with VerdictStore(store_path, readonly=True) as store:
        info = store.resolve_run(run)
        metrics = store.events(info.id, kind="metric")  # only the monitors store metric events
        warnings = store.events(info.id, kind="warning")
    latest: dict[str, tuple[int, float]] = {}
    for event in metrics:
        if event.value is not None and event.name.startswith((SIGNAL, MIXED)):
            latest[event.name] = (event.step, float(event.value))
    lines = []
    for check in sorted({name.split("/")[2] for name in latest if name.startswith(SIGNAL)}):
        kinds = sorted(name.split("/", 3)[3] for name in latest if name.startswith(f"{SIGNAL}{check}/"))
        step = max(latest[f"{SIGNAL}{check}/{kind}"][0] for kind in kinds)
        parts = []
        for kind in kinds:
            push = latest[f"{SIGNAL}{check}/{kind}"][1]
            mixed = latest.get(f"{MIXED}{check}/{kind}")
            share = f", {mixed[1]:.0%} of its groups differ on it" if mixed is not None else ""
            parts.append(f"{kind} {push:+.2f}{share}")
        by_kind = "; ".join(parts)
        lines.append(f"reward's push toward passing check '{check}' by kind of row (at step {step}): {by_kind}")
    if metrics or warnings:
        if not warnings:
            lines.append("monitor warnings: none")
        for event in warnings:
            lines.append(f"monitor warning at step {event.step} ({event.name}): {event.message}")
    return lines
