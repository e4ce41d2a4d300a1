"""`judgerl train CONFIG.yaml`: GRPO fine-tuning with judge rewards (see docs/training.md)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

# OpenMP threads that sleep instead of spinning: on a CPU shared with other work, spinning threads slow small
# matrix products down many times over. Must be set before torch is imported (it is imported lazily below).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@click.command("train")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--resume", is_flag=True, help="Continue from the newest complete checkpoint in the run folder.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value, e.g. --set grpo.max_steps=20 (repeatable; the value is read as YAML).",
)
def train(config_path: Path, resume: bool, overrides: tuple[str, ...]) -> None:
    """Fine-tune the policy named in CONFIG with GRPO, rewarded by the judge (rubric or preference), an OpenAI
    grader file (reward.kind: grader) or checks alone (reward.kind: none)."""
    from judgerl.train.config import load_config
    from judgerl.train.runner import train as run_training

    config = load_config(config_path, list(overrides))
    train_logger = logging.getLogger("judgerl.train")
    train_logger.setLevel(min(train_logger.getEffectiveLevel(), logging.INFO))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = run_training(config, resume=resume)
    if not result.main_process:  # one summary per run, not one per process
        return
    click.echo(f"run {result.run_id}: {result.steps} steps in {result.seconds / 60:.1f} min")
    if result.stopped is not None:
        click.echo(
            f"  stopped early  : at step {result.stopped.step} (monitors.stop_on_warning): {result.stopped.reason}"
        )
    if config.monitors is not None:  # what the live monitors found, as the store holds it (the report plots it)
        from judgerl.monitors.summary import monitor_lines

        for line in monitor_lines(result.store_path, result.run_id):
            click.echo(f"  {line}")
    click.echo(f"  trained policy : {result.final_dir}")
    click.echo(f"  metrics        : {result.run_dir / 'metrics.jsonl'}")
    click.echo(f"  verdicts       : {result.store_path}")
    click.echo(f"  completions    : {result.run_dir / 'completions'}")
    click.echo(f"evaluate it with: judgerl eval {config_path} --policy {result.final_dir}")
