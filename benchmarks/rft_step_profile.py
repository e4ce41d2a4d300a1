"""Where a step of the demo's GRPO recipe goes on a CPU, and what a change to it saves.

Runs `make demo`'s config (examples/demo/config.yaml: the Qwen2.5-Coder-0.5B policy with LoRA, the packaged 1.5B
judge, 2 requests x 4 completions of <= 48 tokens a step) for ``--steps`` steps per variant, one variant after the
other in one process with one judge backend, and times each step's parts:

- ``generation``: the policy sampling the step's completions (TRL's ``model.generate``);
- ``reference_pass``: the no-grad log-prob pass (the reference policy: the LoRA adapter disabled);
- ``policy_forward``: the policy's log-prob pass with gradients, in the loss;
- ``backward`` and ``optimizer``: the backward pass and the optimizer step;
- ``judge_wait``: the step waiting for the judge's rewards (``judge/wait_s``), and ``judge_busy``: the time the
  judge model ran during the step (overlapping the reference pass with ``judge.overlap``);
- ``other``: the rest of the step (tokenising, decoding, rewards' bookkeeping, logging).

The judge's gate is off (it runs once before step 1, not per step) and checkpoints are not saved. The first step
of each variant includes warm-up (first calls into each kernel) and is reported apart. A variant is a name and
config overrides (``--variant NAME=key=value,key=value``; by default the policy in float32, as every benchmarked
run trained it, and the demo's config as it is). Steps are sampled, so variants' completions differ: the mean
completion length is recorded with each.

    python benchmarks/rft_step_profile.py --steps 3 --threads 2 --name after
    python benchmarks/rft_step_profile.py --section               # the BENCHMARKS.md section

Each run is kept under its ``--name`` in benchmarks/results/rft_step_profile.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import logging
import shlex
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, machine, read_result, saved_result, write_result, write_section

CONFIG = ROOT / "examples" / "demo" / "config.yaml"
PARTS = ("generation", "reference_pass", "policy_forward", "backward", "optimizer", "judge_wait", "other")
#: the policy in float32 as every benchmarked run trained it, and the demo's config as it is (``policy.dtype: auto``)
DEFAULT_VARIANTS = ["float32=policy.dtype=float32,grpo.cast_lm_head_to_fp32=false", "demo="]
HEADING = "## RFT step profile: where the demo's step goes on 2 cores"
#: benchmarks/results/rft_step_profile.json: every run by name
RESULT = "rft_step_profile"


class StepTimer:
    """Wall-clock intervals of a step's parts, by step, from wrapped trainer methods and trainer callbacks."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []
        self.windows: list[tuple[float, float]] = []
        self.judge_intervals: list[tuple[float, float]] = []
        self._current: dict[str, float] | None = None
        self._started = 0.0
        self._lock = threading.Lock()

    def begin(self) -> None:
        self._current = dict.fromkeys(PARTS[:-2], 0.0)
        self._started = time.perf_counter()

    def end(self) -> None:
        if self._current is None:
            return
        ended = time.perf_counter()
        self._current["step"] = ended - self._started
        self.steps.append(self._current)
        self.windows.append((self._started, ended))
        self._current = None

    def add(self, part: str, seconds: float) -> None:
        if self._current is not None:
            self._current[part] += seconds

    def timed(self, part: str | Any, function: Any) -> Any:
        """``function`` wrapped to add its duration to ``part`` (or to ``part(*args)``'s name)."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                name = part() if callable(part) else part
                self.add(name, time.perf_counter() - started)

        return wrapper

    def judged(self, function: Any) -> Any:
        """The judge backend's ``label_probs`` wrapped to record when the judge model ran (any thread)."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with self._lock:
                    self.judge_intervals.append((started, time.perf_counter()))

        return wrapper

    def judge_busy(self) -> list[float]:
        """Per step, the seconds the judge model ran inside that step's window."""
        busy = []
        for start, end in self.windows:
            clipped = sorted((max(s, start), min(e, end)) for s, e in self.judge_intervals if e > start and s < end)
            total, reach = 0.0, start
            for s, e in clipped:  # union of intervals: concurrent calls count once
                if e > reach:
                    total += e - max(s, reach)
                    reach = e
            busy.append(total)
        return busy


def instrument(trainer: Any, timer: StepTimer) -> None:
    """Wrap the trainer's parts (trl==1.16.0's GRPOTrainer method names) and add the step callbacks."""
    import torch
    from transformers import TrainerCallback

    trainer._generate_single_turn = timer.timed("generation", trainer._generate_single_turn)
    trainer._get_per_token_logps_and_entropies = timer.timed(
        lambda: "policy_forward" if torch.is_grad_enabled() else "reference_pass",
        trainer._get_per_token_logps_and_entropies,
    )
    trainer.accelerator.backward = timer.timed("backward", trainer.accelerator.backward)
    marks: dict[str, float] = {}

    class Steps(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            timer.begin()

        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            marks["optimizer"] = time.perf_counter()

        def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            timer.add("optimizer", time.perf_counter() - marks.pop("optimizer", time.perf_counter()))

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            timer.end()

    trainer.add_callback(Steps())


def run_variant(name: str, overrides: list[str], steps: int, threads: int, backend: Any) -> dict[str, Any]:
    from judgerl.train import runner
    from judgerl.train.config import load_config

    timer = StepTimer()
    original = runner._make_trainer

    def make_trainer(*args: Any, **kwargs: Any) -> Any:
        trainer = original(*args, **kwargs)
        instrument(trainer, timer)
        return trainer

    out = Path(tempfile.mkdtemp(prefix=f"rft-step-profile-{name}-"))
    config = load_config(
        CONFIG,
        [
            f"output_dir={out}",
            f"grpo.max_steps={steps}",
            f"grpo.save_steps={steps + 1}",
            f"threads={threads}",
            "judge.validation=null",
            "judge.cache=false",
            *overrides,
        ],
    )
    backend.label_probs = timer.judged(type(backend).label_probs.__get__(backend))
    runner._make_trainer = make_trainer
    started = time.perf_counter()
    try:
        runner.train(config, backend=backend)
    finally:
        runner._make_trainer = original
    seconds = time.perf_counter() - started
    metrics_path = config.run_dir / "metrics.jsonl"
    metrics = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    by_step = {int(m["step"]): m for m in metrics if "reward" in m}
    busy = timer.judge_busy()
    rows = []
    for index, parts in enumerate(timer.steps):
        logged = by_step.get(index + 1, {})
        parts["judge_wait"] = float(logged.get("judge/wait_s") or 0.0)
        parts["judge_busy"] = busy[index]
        parts["other"] = parts["step"] - sum(parts[p] for p in PARTS[:-1])
        parts["completion_length"] = float(logged.get("completions/mean_length") or 0.0)
        parts["reward"] = float(logged.get("reward") or 0.0)
        rows.append(parts)
    shutil.rmtree(out, ignore_errors=True)
    from judgerl.train.policy import policy_dtype

    dtype = policy_dtype(config.policy.dtype)
    return {
        "name": name,
        "overrides": overrides,
        "steps": rows,
        "seconds": seconds,
        "policy_dtype": dtype,
        "judge": backend.cache_identity,  # the judge's model, dtype or engine: what judged this variant's steps
    }


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each part over the steps after the first (warm-up)."""
    measured = rows[1:] or rows
    keys = [*PARTS, "judge_busy", "step", "completion_length"]
    return {key: sum(r[key] for r in measured) / len(measured) for key in keys}


def markdown(result: dict[str, Any]) -> str:
    """The BENCHMARKS.md section: each run's variants side by side (seconds per step after warm-up, and each
    variant's step as a ratio of the run's first variant)."""
    lines = [
        HEADING,
        "",
        "A step of `make demo`'s recipe (examples/demo/config.yaml: Qwen2.5-Coder-0.5B-Instruct policy with LoRA "
        "r=16, the packaged 1.5B judge (its dtype or engine in each table's first row) "
        "with `judge.overlap`, 2 requests x 4 completions of <= 48 tokens), "
        "timed by part with `benchmarks/rft_step_profile.py` (the gate off, no checkpoints). Each run's variants ran "
        "one after the other in one process with one judge (a variant that sets the judge's settings gets its own); "
        "the figures are means of steps 2 and later (the first "
        "step, with warm-up, is shown apart). Steps are sampled, so variants differ in completion length too. "
        "Generation, the reference pass, the policy's forward, backward and optimizer and the judge's wait add up "
        "to the step; the judge's busy time overlaps the reference pass.",
        "",
    ]
    for name, run in result["runs"].items():
        features = ((run.get("machine") or {}).get("cpu") or {}).get("features")
        cpu_text = f", CPU kernel features: {' '.join(features)}" if features is not None else ""
        lines.append(f"Run `{name}`: `{run['command']}` ({run['when']}, {run['machine_note']}{cpu_text})")
        lines.append("")
        names = [v["name"] for v in run["variants"]]
        lines.append("| part (s per step) | " + " | ".join(names) + " |")
        lines.append("|---|" + "---|" * len(names))
        lines.append("| judge | " + " | ".join(f"`{v['judge']}`" for v in run["variants"]) + " |")
        summaries = [summarise(v["steps"]) for v in run["variants"]]
        label = {"judge_busy": "(judge busy, overlapping)", "completion_length": "completion tokens (mean)"}
        for key in [*PARTS, "judge_busy", "step", "completion_length"]:
            cells = [f"{s[key]:.1f}" for s in summaries]
            lines.append(f"| {label.get(key, key)} | " + " | ".join(cells) + " |")
        base = summaries[0]["step"]
        lines.append("| step / first variant's | " + " | ".join(f"{s['step'] / base:.2f}x" for s in summaries) + " |")
        share = [f"{s['generation'] / s['step']:.0%}" for s in summaries]
        lines.append("| generation's share of the step | " + " | ".join(share) + " |")
        first = [f"{v['steps'][0]['step']:.1f}" for v in run["variants"]]
        lines.append("| first step (warm-up) | " + " | ".join(first) + " |")
        lines.append("")
        if run.get("reading"):  # what the run showed, added to its results entry after it ran
            lines += [run["reading"], ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="steps per variant (the first is warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variant", action="append", default=None, help="NAME=key=value,key=value (repeatable)")
    parser.add_argument("--set", action="append", default=[], help="key=value for every variant (after the config)")
    parser.add_argument("--name", default="default", help="the run's name in the results file")
    parser.add_argument("--note", default="shared", help="the machine's state: shared or idle")
    parser.add_argument("--section", action="store_true", help="write the BENCHMARKS.md section and exit")
    args = parser.parse_args()
    if args.section:
        write_section(markdown(read_result(RESULT)))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    result = saved_result(RESULT) or {"runs": {}}
    command = "python benchmarks/rft_step_profile.py " + shlex.join(sys.argv[1:])
    stamp = {
        "command": command,
        "when": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "machine_note": f"{args.threads} threads, {args.note}",
    }
    result["runs"][args.name] = {**stamp, "variants": profile(args)}
    path = write_result(RESULT, result)
    print(markdown(result))
    print(path)


def profile(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    from judgerl.train.config import load_config

    torch.set_num_threads(args.threads)
    variants = []
    for spec in args.variant or DEFAULT_VARIANTS:
        name, _, rest = spec.partition("=")
        variants.append((name, [*args.set, *(item for item in rest.split(",") if item)]))
    results = []
    # one judge backend for the variants that judge alike; a variant that sets judge.* gets its own (built when the
    # judge's settings change, the previous one closed first, so two judges never share the memory)
    backend, built_for = None, None
    try:
        for name, overrides in variants:
            judge_settings = [item for item in overrides if item.startswith("judge.")]
            if backend is None or judge_settings != built_for:
                if backend is not None:
                    backend.close()
                backend = load_config(
                    CONFIG, [f"threads={args.threads}", *args.set, *judge_settings]
                ).judge.build_backend()
                built_for = judge_settings
            logging.info("variant %s: %s", name, overrides)
            results.append(run_variant(name, overrides, args.steps, args.threads, backend))
            logging.info("variant %s: %s", name, summarise(results[-1]["steps"]))
    finally:
        if backend is not None:
            backend.close()
    return results


if __name__ == "__main__":
    main()
