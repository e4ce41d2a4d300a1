"""`python -m judgerl.demo` (`make demo`): judged RFT end to end on CPU with the packaged models.

Qwen2.5-Coder-0.5B-Instruct (policy, LoRA) is trained with GRPO to refuse harmful requests and still answer benign
ones, rewarded by the packaged Qwen2.5-Coder-1.5B judging each request's own criterion (examples/demo/). Before
step 1 the judge is validated on the policy's own replies, and training stops if it cannot rank them; before and
after training the policy answers 64 held-out requests, and a program check that the reward never sees (refusal
phrases against the request's label, judgerl.checks.refusal) measures the change independently, with a paired
bootstrap interval. Every number printed is measured in this run.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see cli/train_cmd.py: before torch is imported

import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from judgerl.errors import JudgerlError


def find_demo_dir() -> Path:
    """examples/demo in the current directory or in the source checkout this module comes from."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / "examples" / "demo" / "config.yaml"
        if candidate.exists():
            return candidate.parent
    raise JudgerlError("examples/demo/config.yaml not found: run the demo from a judgerl checkout")


#: where this recipe's pre-registered rounds are reported, for a demo that cannot show a gain in its budget
BENCHMARK = "BENCHMARKS.md, 'RFT for safety: every pre-registered round at a glance'"
#: what those rounds measured, said when this run's own change is not a significant gain or harm (a test holds it
#: to benchmarks/results/rft_rounds.json)
BENCHMARK_RESULT = (
    "Across 9 rounds with seeds fixed beforehand, 13 of 39 runs were significantly better on 128 held-out requests "
    "at the checkpoint their rule chose, 10 at their last checkpoint and 18 at some checkpoint measured, and 2 were "
    "significantly worse at the chosen or the last checkpoint, 3 at some checkpoint measured; runs swing, most "
    "often toward refusing benign requests, so the recipe is not yet reliable"
)


@click.command()
@click.option("--steps", type=click.IntRange(min=1), default=None, help="GRPO steps (default: the demo config's).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/demo"))
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch CPU threads (default: all cores).")
def demo(steps: int | None, output_dir: Path, threads: int | None) -> None:
    """Train Qwen2.5-Coder-0.5B to refuse harmful requests with the 1.5B judge; measure the change independently."""
    console = Console()
    started = time.perf_counter()
    from judgerl.cli.eval_cmd import report_table
    from judgerl.train.config import load_config
    from judgerl.train.evaluate import compare, evaluate
    from judgerl.train.runner import train

    demo_dir = find_demo_dir()
    overrides = [f"output_dir={output_dir.resolve()}"]
    if steps is not None:
        overrides.append(f"grpo.max_steps={steps}")
    if threads is not None:
        overrides.append(f"threads={threads}")
    config = load_config(demo_dir / "config.yaml", overrides)
    if output_dir.exists():
        console.print(f"[dim]removing the previous demo run in {output_dir}[/dim]")
        shutil.rmtree(output_dir)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("judgerl.train").setLevel(logging.INFO)
    console.rule("judgerl demo")
    console.print(
        f"policy {config.policy.model} (LoRA), judge {config.judge.model} ({config.judge.backend}, "
        f"{config.judge.mode}); task: refuse harmful requests, answer benign ones ({demo_dir / 'prompts.jsonl'})"
    )
    backend = config.judge.build_backend()
    try:
        console.rule("1/3 held-out requests, base policy")
        before = evaluate(config, "base", label="before", backend=backend, judged=False)
        console.print(report_table([before]))
        console.rule(f"2/3 judge validation on the policy's own replies, then GRPO ({config.grpo.max_steps} steps)")
        try:
            result = train(config, backend=backend)
        except JudgerlError as exc:
            if "judge validation" not in str(exc):
                raise
            # the gate did its job: a judge that cannot rank this policy's replies must not train it
            console.print(f"[yellow]training stopped before step 1: {exc}[/yellow]")
            console.print(f"judge gate: {config.run_dir / 'judge_gate.json'}")
            return
        console.rule("3/3 held-out requests, trained policy")
        after = evaluate(config, str(result.final_dir), label="after", backend=backend, judged=False)
    finally:
        backend.close()
    console.print(report_table([before, after]))
    gate_file = result.run_dir / "judge_gate.json"
    if gate_file.exists():
        from judgerl.train.gate import GateResult

        console.print(GateResult.model_validate_json(gate_file.read_text()).line())
    change = compare(before.items, after.items)
    for name, difference, p_value in (
        (
            f"independent ({before.checker} checker, not in the reward)",
            change.checker_difference,
            change.checker_mcnemar_p,
        ),
        ("judge (the reward's own view)", change.judge_difference, change.judge_mcnemar_p),
    ):
        if difference:
            console.print(
                f"{name} pass-rate change: {difference['rate']:+.1%} "
                f"[{difference['low']:+.1%}, {difference['high']:+.1%}] on {change.prompts} paired prompts "
                f"(McNemar p={p_value:.3f})"
            )
    for label, evaluated in (("before", before), ("after", after)):
        harmful = _rate(evaluated.items, "harmful")
        benign = _rate(evaluated.items, "benign")
        console.print(f"  {label:6}: harmful requests refused {harmful}, benign requests answered {benign}")
    from judgerl.monitors.summary import monitor_lines

    for line in monitor_lines(result.store_path, result.run_id):  # what the live monitors saw during training
        console.print(f"  {line}", markup=False)
    style, verdict = conclusion(
        change.checker_difference,
        change.checker_mcnemar_p,
        changed=_changed(before.items, after.items),
        steps=max(config.grpo.max_steps, 0),
        prompts=change.prompts,
    )
    console.print(f"[{style}]{verdict}[/{style}]")
    from judgerl.report import build_report

    report_path = build_report(result.run_dir, run=result.run_id)  # the training run, not the evaluations after it
    minutes = (time.perf_counter() - started) / 60
    console.rule(f"done in {minutes:.1f} min")
    console.print(f"run folder     : {result.run_dir}")
    console.print(f"trained policy : {result.final_dir}")
    console.print(f"judge gate     : {gate_file}")
    console.print(f"metrics        : {result.run_dir / 'metrics.jsonl'}")
    console.print(f"every verdict  : {result.store_path} (run id {result.run_id})")
    console.print(f"evaluations    : {result.run_dir / 'eval'}/before|after.jsonl (responses, verdicts, checks)")
    console.print(f"report         : {report_path} (plots, rationales, samples; rebuilt by `judgerl report`)")


def conclusion(
    independent: dict[str, float] | None, p_value: float | None, changed: int, steps: int, prompts: int = 0
) -> tuple[str, str]:
    """The demo's last word on the independent change: (rich style, sentence). An improvement is claimed only when
    the paired interval is above zero and McNemar's test agrees; an interval above zero carried by a handful of
    changed replies is said to be that; an interval below zero is said as "worse", never as "no improvement"."""
    pointer = f"{BENCHMARK_RESULT}: {BENCHMARK}."
    from judgerl.train.evaluate import power_line

    # what "not significant" could have seen here, said where no significant change is claimed
    power = f"; {power_line(changed, prompts)}" if prompts else ""
    shown = "-" if p_value is None else f"{p_value:.3f}"
    if independent and independent["high"] < 0:
        # a harm is said as a harm, first and plainly, before any pointer to runs that went better
        if p_value is not None and p_value < 0.05:
            return "bold red", (
                f"WORSE: the trained policy is significantly worse on the independent measure "
                f"({independent['rate']:+.1%} [{independent['low']:+.1%}, {independent['high']:+.1%}], McNemar "
                f"p={shown}, {steps} steps). Do not use this checkpoint."
            )
        return "red", (
            f"worse: the paired interval is below zero ({independent['rate']:+.1%}), though McNemar p={shown} "
            f"({changed} held-out replies changed) does not confirm it ({steps} steps). Do not use this checkpoint."
        )
    if not independent or independent["low"] <= 0:
        # a fall the test does not confirm is still named with its figures, so "no improvement" never hides it
        lean = (
            f": the change leans worse ({independent['rate']:+.1%} [{independent['low']:+.1%}, "
            f"{independent['high']:+.1%}], McNemar p={shown}), not significantly"
            if independent and independent["rate"] < 0
            else ""
        )
        return "yellow", (
            f"no significant independent improvement at this budget ({steps} steps, sized for 15 minutes){lean}"
            f"{power}. {pointer}"
        )
    if p_value is not None and p_value < 0.05:
        return "green", (
            f"the independent measure improved: the interval is above zero (McNemar p={p_value:.3f}). One run is one "
            f"draw. {pointer}"
        )
    return "yellow", (
        f"the paired interval is above zero, but only {changed} held-out replies changed (McNemar p={shown}): too "
        f"few to call this run's change significant ({steps} steps, sized for 15 minutes){power}. {pointer}"
    )


def _changed(before: list[Any], after: list[Any]) -> int:
    """Held-out prompts whose checker verdict differs between the two evaluations."""
    old = {i.prompt_id: bool(i.checker_passed) for i in before}
    return sum(1 for i in after if i.prompt_id in old and old[i.prompt_id] != bool(i.checker_passed))


def _rate(items: list[Any], prefix: str) -> str:
    values = [bool(i.checker_passed) for i in items if i.prompt_id.startswith(prefix)]
    return f"{sum(values)}/{len(values)}" if values else "-"


def main() -> None:
    try:
        demo.main(standalone_mode=False)
    except JudgerlError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
