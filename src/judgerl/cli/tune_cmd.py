"""`judgerl tune`: choose how to ask a judge on labelled data, confirm it on held-apart items, save the choice
beside the rubric for every door."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from judgerl.cli.backend_options import judge_spec
from judgerl.cli.judge_options import BACKEND_OPTIONS, judge_options, resolve_pairs_path
from judgerl.errors import JudgerlError
from judgerl.judges.tuned import tuned_path


@click.command("tune")
@judge_options("rubric", "labels")
@judge_options("pairs")
@judge_options("old_pairs")
@click.option("--output", "-o", "out_dir", type=click.Path(path_type=Path), help="Folder for summary.json.")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="Cross-validation folds.")
@click.option(
    "--holdout",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.3,
    show_default=True,
    help="Share of the labelled items held apart to confirm the choice (they choose nothing).",
)
@click.option(
    "--candidates",
    default=None,
    help="Comma-separated candidate names to try (default: all); the plain verdict 'current' is always tried. "
    "Rubric: current, plain, reply_only, rules_first, reference_first, self_reference, split, current+graded, "
    "plain+graded, current+average, current+2shot, current+probe, plain+probe. Pairs: current, plain, "
    "rules_first, self_reference, current+average, current+2shot, current+length, current+probe, rules_first+length.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Use only the first N labelled items.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, the folds and the shots.")
@click.option("--bootstrap", "resamples", type=int, default=2000, show_default=True, help="Bootstrap resamples.")
@judge_options("concurrency")
@click.option("--dry-run", is_flag=True, help="Report without saving the choice or the trust record.")
@judge_options(*BACKEND_OPTIONS)
def tune(
    rubric_path: str | None,
    labels_path: str | None,
    pairs_path: Path | None,
    old_pairs_path: Path | None,
    out_dir: Path | None,
    folds: int,
    holdout: float,
    candidates: str | None,
    limit: int | None,
    seed: int,
    resamples: int,
    concurrency: int,
    dry_run: bool,
    **backend_args: Any,
) -> None:
    """Try ways of asking the judge (templates, readouts, few-shot examples, a length correction, a probe on its
    hidden state), choose one by cross-validation on labelled items, and confirm it on items held apart.

    The choice is saved as <rubric>.tuned.json beside the rubric (pairs: $JUDGERL_HOME/tuned/pairwise.tuned.json),
    keyed by judge model; `judge`, `train`, `serve`, the Lambda, `validate` and cascades then ask that way
    (`--no-tuned` or `tuned: false` in a judge spec ignores it). The figure reported, and written as the judge's
    trust record, is the held-apart one, beside the plain log-prob verdict on the same items and its cost.
    """
    from judgerl.rubric import Rubric
    from judgerl.tune.candidates import PairTask, RubricTask, Task, choose_candidates
    from judgerl.tune.report import print_result, save_choice, save_trust_record, write_summary
    from judgerl.tune.search import Search
    from judgerl.validate.loaders import load_labelled_pairs, load_labelled_samples

    pairs_path = resolve_pairs_path(pairs_path, old_pairs_path, "tune")
    rubric_file = Path(rubric_path) if rubric_path is not None else None
    labels_file = Path(labels_path) if labels_path is not None else None
    if (pairs_path is None) == (labels_file is None):
        raise JudgerlError("give --rubric RUBRIC --labels FILE (rubric-labelled rows) or --pairs FILE (pairs)")
    if labels_file is not None and rubric_file is None:
        raise JudgerlError("--labels needs --rubric RUBRIC: the criteria the labels name")
    console = Console(stderr=True)
    names = [n.strip() for n in candidates.split(",") if n.strip()] if candidates else None
    rubric = Rubric.load(rubric_file) if rubric_file is not None else None
    data_path = labels_file if labels_file is not None else pairs_path
    assert data_path is not None
    with console.status("loading the judge model"):
        spec = judge_spec(**backend_args, rationales="none")
        backend = spec.build_backend()
    try:
        task: Task
        if labels_file is not None:
            assert rubric is not None
            rows = load_labelled_samples(labels_file, rubric)[:limit]
            task = RubricTask(rubric, rows, backend, concurrency)
        else:
            assert pairs_path is not None
            instructions = rubric.instructions if rubric is not None else ""
            task = PairTask(load_labelled_pairs(pairs_path)[:limit], backend, instructions, concurrency)
        search = Search(task, folds=folds, holdout=holdout, seed=seed, progress=lambda m: console.print(m))
        result = search.run(choose_candidates(task.kind, names), resamples)
    finally:
        backend.close()
    print_result(console, result, backend.model_id)
    command = "judgerl tune " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    if out_dir is not None:
        console.print(f"summary: {write_summary(out_dir, result, backend.model_id, data_path.name, command)}")
    if dry_run:
        console.print("dry run: nothing saved")
        return
    source = rubric_file if labels_file is not None else None
    save_choice(source, backend.model_id, result, data_path.name)
    trust = save_trust_record(source, backend.model_id, result, data_path.name)
    kept = f" and the trust record to {trust}" if trust is not None else " (no held-apart figure: no trust record)"
    console.print(f"saved the choice to {tuned_path(source)}{kept}")
