"""Verdict store write throughput and `judgerl report` cost, side by side in one run.

    PYTHONPATH=src python benchmarks/store_report.py [--quick]

Writes benchmarks/results/store_report.json and prints a Markdown table for BENCHMARKS.md. Variants:
- store writes: one transaction per GRPO batch (what VerdictStore.record_samples does) against one
  transaction per sample, and WAL synchronous=NORMAL (the store's setting) against FULL;
- report: building the HTML for runs of growing size (load, cluster rationales, plot, render), and TF-IDF
  clustering alone on growing numbers of rationales.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path

from common import RESULTS
from judgerl import CriterionVerdict, Sample, SampleVerdict
from judgerl.report import build_report
from judgerl.report.clusters import cluster_rationales
from judgerl.store import VerdictStore, store_path

CRITERIA = ("safe", "correct", "units", "polite")
REASONS = [
    "The arithmetic is wrong: the area is miscalculated.",
    "No units are given for the final area.",
    "The tone is rude and blames the user.",
    "An arithmetic error in the multiplication gives a wrong area.",
    "The final answer omits the units (square metres).",
    "It is impolite and mocks the user for asking.",
]


def batch(rng: random.Random, step: int, size: int) -> tuple[list[Sample], list[SampleVerdict]]:
    samples, verdicts = [], []
    for i in range(size):
        response = "The area is 12 square metres. " + "Let me explain. " * rng.randint(0, 30)
        samples.append(Sample(id=f"{step}-{i}", prompt=f"Question {i // 8} of step {step}", response=response))
        criteria = []
        for name in CRITERIA:
            p = rng.random()
            criteria.append(
                CriterionVerdict(
                    name=name, passed=p >= 0.5, p_pass=p, rationale=None if p >= 0.5 else rng.choice(REASONS)
                )
            )
        verdicts.append(SampleVerdict(id=f"{step}-{i}", score=rng.random(), criteria=criteria, latency_s=rng.random()))
    return samples, verdicts


def write_throughput(directory: Path, steps: int, size: int, per_sample: bool, synchronous: str) -> float:
    rng = random.Random(0)
    batches = [batch(rng, step, size) for step in range(steps)]
    path = directory / f"write-{per_sample}-{synchronous}.sqlite"
    with VerdictStore(path) as store:
        store._db.execute(f"PRAGMA synchronous = {synchronous}")
        run = store.start_run("bench", "train")
        started = time.perf_counter()
        for step, (samples, verdicts) in enumerate(batches):
            if per_sample:
                for sample, verdict in zip(samples, verdicts, strict=True):
                    store.record_samples(run, step, [sample], [verdict])
            else:
                store.record_samples(run, step, samples, verdicts)
        elapsed = time.perf_counter() - started
    return steps * size / elapsed


def report_cost(directory: Path, steps: int, size: int) -> dict[str, float]:
    """Wall and CPU seconds of each stage of `judgerl report` (CPU time is less disturbed by a shared machine)."""
    from judgerl.report.data import load_report_data
    from judgerl.report.html import render_html
    from judgerl.report.plots import all_plots

    run_dir = directory / f"run-{steps}x{size}"
    rng = random.Random(1)
    with VerdictStore(store_path(run_dir)) as store:
        run = store.start_run("bench", "train")
        for step in range(steps):
            store.record_samples(run, step, *batch(rng, step, size))
    stages: dict[str, float] = {}

    def timed(name: str, work):  # type: ignore[no-untyped-def]
        wall, cpu = time.perf_counter(), time.process_time()
        value = work()
        stages[f"{name}_wall_s"] = time.perf_counter() - wall
        stages[f"{name}_cpu_s"] = time.process_time() - cpu
        return value

    with VerdictStore(store_path(run_dir), readonly=True) as store:
        data = timed("load_and_cluster", lambda: load_report_data(store))
    plots = timed("plots", lambda: all_plots(data))
    html = timed("html", lambda: render_html(data, plots))
    total = timed("build_report", lambda: build_report(run_dir))
    return {"steps": steps, "samples": steps * size, "verdicts": steps * size * len(CRITERIA),
            "html_mb": len(html.encode()) / 1e6, "report_bytes": total.stat().st_size, **stages}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="judgerl-bench-"))
    steps, size = (10, 32) if args.quick else (40, 64)
    try:
        writes = {
            "batch, NORMAL": write_throughput(directory, steps, size, per_sample=False, synchronous="NORMAL"),
            "batch, FULL": write_throughput(directory, steps, size, per_sample=False, synchronous="FULL"),
            "per sample, NORMAL": write_throughput(directory, steps, size, per_sample=True, synchronous="NORMAL"),
            "per sample, FULL": write_throughput(directory, steps, size, per_sample=True, synchronous="FULL"),
        }
        sizes = [(10, 32), (50, 64)] if args.quick else [(20, 64), (100, 64), (400, 64)]
        reports = [report_cost(directory, s, n) for s, n in sizes]
        clustering = {}
        for n in [500, 5000] if args.quick else [1000, 10000, 50000]:
            rng = random.Random(2)
            texts = [f"{rng.choice(REASONS)} (case {rng.randint(0, n)})" for _ in range(n)]
            started = time.perf_counter()
            cpu = time.process_time()
            cluster_rationales(texts)
            clustering[n] = {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu}
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    result = {"machine": machine, "batch_size": size, "writes_samples_per_s": writes, "reports": reports,
              "clustering_s": clustering}  # fmt: skip
    out = RESULTS / ("store_report_quick.json" if args.quick else "store_report.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    base = writes["batch, NORMAL"]
    print(f"Machine: {machine}. Batches of {size} samples x {len(CRITERIA)} criteria.\n")
    print("| store write variant | samples/s | vs batch, NORMAL |\n|---|---:|---:|")
    for name, rate in writes.items():
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x |")
    print(
        "\n| run (steps x batch) | verdict rows | report wall s | report CPU s | of which plots CPU s | HTML MB |"
        "\n|---|---:|---:|---:|---:|---:|"
    )
    for r in reports:
        print(
            f"| {r['steps']} x {r['samples'] // r['steps']} | {r['verdicts']:,} | {r['build_report_wall_s']:.1f} "
            f"| {r['build_report_cpu_s']:.1f} | {r['plots_cpu_s']:.1f} | {r['html_mb']:.1f} |"
        )
    print("\n| rationales clustered | wall s | CPU s |\n|---:|---:|---:|")
    for n, seconds in clustering.items():
        print(f"| {n:,} | {seconds['wall_s']:.1f} | {seconds['cpu_s']:.1f} |")


if __name__ == "__main__":
    main()
