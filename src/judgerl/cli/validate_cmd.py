"""`judgerl validate`: measure a judge against labelled data before trusting it as a reward."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from judgerl.cli.backend_options import backend_kwargs
from judgerl.cli.judge_options import BACKEND_OPTIONS, judge_options, reject_beside_cascade, resolve_pairs_path
from judgerl.errors import JudgerlError
from judgerl.judges.trust import announce_trust
from judgerl.validate.attacks import ATTACKS
from judgerl.validate.config import BackendPool, JudgeVariant, default_judge_model
from judgerl.validate.run import (
    ValidationOptions,
    headline_lines,
    validate_injection,
    validate_pairwise,
    validate_rubric,
)
from judgerl.validate.trust_records import save_validation_trust


@click.command("validate")
@judge_options("pairs")
@judge_options("old_pairs")
@judge_options("rubric", "labels")
@click.option("--injection", is_flag=True, help="Run the prompt-injection suite on failing labelled responses.")
@click.option(
    "--output",
    "-o",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for summary.json, verdicts and index.html.",
)
@judge_options("mode")
@click.option(
    "--reason-first/--verdict-first",
    default=True,
    show_default=True,
    help="Generate mode on a backend without label probabilities (Bedrock): reason before verdict. "
    "With probabilities the verdict is read from them first and the reason written after.",
)
@click.option(
    "--compare", metavar="KEY=VALUE[,...]", help="Also run a second configuration, e.g. 'mode=generate' or 'model=...'."
)
@click.option("--limit", type=int, help="Use only the first N rows (quick checks).")
@judge_options("cache")
@click.option(
    "--bootstrap", "resamples", type=int, default=1000, show_default=True, help="Bootstrap resamples for 95% intervals."
)
@click.option("--seed", type=int, default=0, show_default=True)
@judge_options("concurrency")
@click.option(
    "--calibration-examples",
    type=int,
    default=10,
    show_default=True,
    help="Labelled rows per criterion for threshold calibration (0: skip).",
)
@click.option(
    "--repeats",
    type=int,
    default=0,
    show_default=True,
    help="Repeat generate-mode verdicts N times for self-consistency (0: skip).",
)
@click.option(
    "--repeat-samples", type=int, default=20, show_default=True, help="Samples re-judged for self-consistency."
)
@click.option(
    "--injection-samples", type=int, default=12, show_default=True, help="Failing (sample, criterion) items to attack."
)
@click.option("--attacks", help=f"Comma-separated subset of: {', '.join(ATTACKS)}.")
@click.option(
    "--undefended/--no-undefended",
    default=True,
    show_default=True,
    help="With --injection: also judge with the undefended template (measurement only; --no-undefended halves "
    "the judge calls when only the defended settings matter).",
)
@judge_options("target_agreement", "prices", "cascade", *BACKEND_OPTIONS)
def validate(
    pairs_path: Path | None,
    old_pairs_path: Path | None,
    rubric_path: str | None,
    labels_path: str | None,
    injection: bool,
    out_dir: Path,
    backend: str,
    model: str | None,
    mode: str,
    reason_first: bool,
    compare: str | None,
    attacks: str | None,
    base_urls: tuple[str, ...],
    region: str | None,
    profile: str | None,
    max_input_tokens: int | None,
    backend_options: tuple[str, ...],
    cascade_path: str | None,
    target_agreement: float,
    prices_path: str | None,
    cache_path: str | None,
    **settings: Any,
) -> None:
    """Measure a judge: agreement with human labels, bias, calibration, and prompt-injection resistance.

    \b
      judgerl validate --pairs PAIRS.json --output DIR
      judgerl validate --rubric R.yaml --labels LABELLED.jsonl --output DIR
      judgerl validate --injection --rubric R.yaml --labels LABELLED.jsonl --output DIR
      judgerl validate --cascade CASCADE.yaml --rubric R.yaml --labels LABELLED.jsonl --output DIR

    With --cascade, every stage judges the labelled rows alone and the command reports the cost/agreement
    curve: at each escalation margin, the share escalated, the share the last stage judged, agreement with the
    labels (95% bootstrap interval) and its difference to the last stage alone, tokens and seconds (and
    dollars with --prices), next to each stage alone; and the margins `judgerl calibrate --cascade` would fit
    for --target-agreement.

    --pairs FILE was spelt --pairwise FILE before; that spelling still works and prints a deprecation line.
    """
    pairs_path = resolve_pairs_path(pairs_path, old_pairs_path, "validate")
    rubric_file = Path(rubric_path) if rubric_path is not None else None
    labels_file = Path(labels_path) if labels_path is not None else None
    settings["cache"] = cache_path
    if prices_path is not None and cascade_path is None:
        raise JudgerlError("--prices costs a cascade's curve: give it with --cascade")
    if cascade_path is not None:
        if pairs_path is not None or injection or not (rubric_file and labels_file):
            raise JudgerlError("--cascade validates a rubric cascade: give --rubric R.yaml and --labels L.jsonl")
        single_judge = ("backend", "model", "mode", "reason_first", "compare", "base_urls", "region", "profile")
        reject_beside_cascade((*single_judge, "max_input_tokens", "backend_options"))
        from judgerl.validate.cascade_run import validate_cascade

        options = ValidationOptions(**settings)
        prices = Path(prices_path) if prices_path is not None else None
        lines = validate_cascade(
            cascade_path, rubric_file, labels_file, options, target_agreement, out_dir, prices_path=prices
        )
        for line in lines:
            click.echo(line)
        return
    chosen = [
        name
        for name, on in (
            ("--pairs", pairs_path),
            ("--labels", labels_file and not injection),
            ("--injection", injection),
        )
        if on
    ]
    if len(chosen) != 1:
        raise JudgerlError("choose one of: --pairs PAIRS, --rubric R --labels L, --injection --rubric R --labels L")
    if (labels_file or injection) and not (rubric_file and labels_file):
        raise JudgerlError("--labels and --injection need both --rubric RUBRIC and --labels LABELLED.jsonl")
    if attacks:
        settings["attacks"] = [a.strip() for a in attacks.split(",") if a.strip()]
    options = ValidationOptions(**settings)
    config = JudgeVariant(backend=backend, model=model or default_judge_model(), mode=mode, reason_first=reason_first)
    shared = backend_kwargs(config.model, base_urls, region, profile, max_input_tokens, backend_options)
    shared.pop("model", None)
    pool = BackendPool(shared)
    command = "judgerl " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    done = 0

    def progress(_: object) -> None:
        nonlocal done
        done += 1
        if done % 10 == 0:
            click.echo(f"  {done} verdicts", err=True)

    try:
        trust_source = None if pairs_path is not None else rubric_path
        announce_trust(trust_source, pool.get(config).model_id, lambda line: click.echo(line, err=True))
        if pairs_path is not None:
            summary = validate_pairwise(pairs_path, config, compare, options, pool, out_dir, command, progress)
        elif injection:
            assert rubric_file is not None and labels_file is not None
            summary = validate_injection(
                rubric_file, labels_file, config, compare, options, pool, out_dir, command, progress
            )
        else:
            assert rubric_file is not None and labels_file is not None
            summary = validate_rubric(
                rubric_file, labels_file, config, compare, options, pool, out_dir, command, progress
            )
        judged = [(pool.get(c).model_id, r) for c, r in zip(summary.configs, summary.reports, strict=True)]
    finally:
        pool.close()
    for line in headline_lines(summary):
        click.echo(line)
    if not injection:
        data = pairs_path if pairs_path is not None else labels_path
        assert data is not None
        for line in save_validation_trust(trust_source, judged, data):
            click.echo(line)
    click.echo(f"wrote {out_dir / 'summary.json'} and {out_dir / 'index.html'}")
