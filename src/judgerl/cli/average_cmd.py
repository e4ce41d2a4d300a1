"""`judgerl average RUN_DIR`: one LoRA adapter whose update is the mean of a run's checkpoints' updates."""

from __future__ import annotations

import re
from pathlib import Path

import click

from judgerl.errors import JudgerlError


def _weights(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise JudgerlError(f"--weights {text!r}: give numbers separated by commas, one per checkpoint") from None


def _step(folder: Path) -> str:
    match = re.search(r"checkpoint-(\d+)$", folder.name)
    return match.group(1) if match else folder.name


@click.command("average")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--from-step", type=click.IntRange(min=0), default=0, show_default=True, help="With a run folder: the first step."
)
@click.option("--to-step", type=click.IntRange(min=0), default=None, help="With a run folder: the last step [last].")
@click.option("--weights", default=None, help="One weight per checkpoint, comma-separated [equal].")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the averaged adapter [RUN_DIR/average-FIRST-LAST with a run folder].",
)
def average(
    paths: tuple[Path, ...], from_step: int, to_step: int | None, weights: str | None, output: Path | None
) -> None:
    """Average a run's LoRA checkpoints into one adapter: merged, it is the base plus the mean of their updates.

    PATHS is a run folder (its checkpoint-N folders, within --from-step/--to-step) or two or more checkpoint folders.
    GRPO on small batches moves a policy by noise as much as by the reward; the average keeps what the checkpoints
    share. The result loads like a checkpoint: `judgerl eval CONFIG --policy OUTPUT`.
    """
    from judgerl.train.averaging import average_adapters, run_checkpoints

    run_dir = paths[0] if len(paths) == 1 else None
    if run_dir is not None:
        folders = run_checkpoints(run_dir, from_step, to_step)
    else:
        if from_step or to_step is not None:
            raise JudgerlError("--from-step/--to-step choose among a run folder's checkpoints; give one run folder")
        folders = list(paths)
    if output is None:
        if run_dir is None:
            raise JudgerlError("--output: required when averaging checkpoint folders given one by one")
        output = run_dir / f"average-{_step(folders[0])}-{_step(folders[-1])}"
    result = average_adapters(folders, output, _weights(weights))
    shares = ", ".join(f"{_step(Path(s))} ({w:.2f})" for s, w in zip(result.sources, result.weights, strict=True))
    click.echo(f"averaged {len(result.sources)} checkpoints (step and weight: {shares})")
    click.echo(f"wrote {output} (LoRA rank {result.rank}, alpha {result.lora_alpha:g})")
    click.echo(f"evaluate it: judgerl eval CONFIG --policy {output}")
