"""`judgerl select CONFIG --on FILE`: keep the checkpoint that does best on validation prompts, not the last one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import click
from rich.console import Console
from rich.table import Table

from judgerl.train.selection import RULES, Rule  # the models and rules only: no torch

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_cmd


def selection_table(selection: Any) -> Table:
    table = Table(title=f"{selection.prompts} validation prompts ({Path(selection.prompts_file).name})")
    calibrated = selection.thresholds is not None
    columns = ("step", "judge: mean score", *(("judge: calibrated",) if calibrated else ()), "judge: unscored")
    for column in (*columns, "checker: pass"):
        table.add_column(column, justify="right")
    kinds = sorted({kind for step in selection.steps for kind in step.check_by_instruction})
    for kind in kinds:
        table.add_column(f"checker: {kind}", justify="right")
    for step in selection.steps:
        mark = " (kept)" if step.step == selection.chosen_step else ""
        table.add_row(
            ("base" if step.step == 0 else str(step.step)) + mark,
            "-" if step.judge_score_mean is None else f"{step.judge_score_mean:.3f}",
            *((("-" if step.calibrated is None else f"{step.calibrated:.1%}"),) if calibrated else ()),
            str(step.unscored),
            "-" if step.check_rate is None else f"{step.check_rate:.1%}",
            *(f"{step.check_by_instruction[k]:.0%}" if k in step.check_by_instruction else "-" for k in kinds),
        )
    return table


@click.command("select")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--on",
    "prompts_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Validation prompts (JSONL, the data file's columns), never trained on.",
)
@click.option(
    "--rule",
    type=click.Choice(RULES),
    default="judge",
    show_default=True,
    help="judge: the judge's mean score (the run's reward); check: the program checker's pass rate; calibrated: "
    "the judge's scores turned into verdicts at thresholds from the run's gate, each set of criteria weighed the "
    "same (for prompts judged under different criteria).",
)
@click.option("--no-judge", is_flag=True, help="Program checker only (with --rule check): no judge call.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option(
    "--fresh",
    is_flag=True,
    help="Evaluate again even where a saved evaluation of these prompts exists (after changing the judge).",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value.")
def select_command(
    config_path: Path,
    prompts_file: Path,
    rule: str,
    no_judge: bool,
    batch_size: int,
    fresh: bool,
    overrides: tuple[str, ...],
) -> None:
    """Keep the checkpoint that does best on validation prompts: the base policy and every saved checkpoint-N
    answer them, each is scored by the rule, ties go to the earliest, and the base can win."""
    from judgerl.train.config import load_config
    from judgerl.train.selection import lead_over_base, select_checkpoint

    split = [f"data.eval.path={prompts_file.resolve()}", "data.eval.holdout=0", "data.eval.limit=null"]
    config = load_config(config_path, [*overrides, *split])
    selection = select_checkpoint(
        config, prompts_file, cast(Rule, rule), judged=not no_judge, batch_size=batch_size, reuse=not fresh
    )
    console = Console()
    console.print(selection_table(selection))
    kept = "the base policy" if selection.chosen_step == 0 else selection.chosen_policy
    if selection.thresholds is not None:
        for criteria, threshold in selection.thresholds.items():
            console.print(f"threshold {threshold:.3f} (from the gate) for: {criteria}")
    console.print(f"keep: {kept} (rule: {rule})")
    console.print(lead_over_base(selection))
    out = config.run_dir / f"selection-{prompts_file.stem}.json"
    out.write_text(selection.model_dump_json(indent=2) + "\n", encoding="utf-8")
    console.print(f"saved: {out} (each candidate's replies and verdicts: {config.run_dir / 'eval'})")
