"""`judgerl judge`: judge a JSONL file of samples (or pairs) and write one verdict row per input row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from judgerl.backends.resilience import CallStatsReport
from judgerl.cli.backend_options import judge_spec
from judgerl.cli.grader_judging import grader_summary, judge_with_grader, refuse_rubric_options
from judgerl.cli.judge_options import BACKEND_OPTIONS, judge_options, reject_beside_cascade
from judgerl.errors import JudgerlError
from judgerl.judges.budget import Budget, BudgetSnapshot, PriceTable
from judgerl.judges.cache import VerdictCache
from judgerl.judges.pairwise_judge import consistency_rate
from judgerl.judges.spec import JudgeSpec, load_cascade
from judgerl.judges.trust import announce_trust
from judgerl.rubric import Rubric
from judgerl.samples import Sample, load_pairs, load_samples
from judgerl.settings import default_cache_path
from judgerl.verdicts import PairVerdict, SampleVerdict


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]judging"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _to_stderr(line: str) -> None:
    click.echo(line, err=True)


def _write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    with temporary.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    temporary.replace(path)


def usage_line(spent: BudgetSnapshot, stats: CallStatsReport | None) -> str:
    """Tokens (and cost, when priced) the judge used, and a remote backend's request counts."""
    parts = [f"judge tokens: {spent.prompt_tokens:,} prompt + {spent.completion_tokens:,} completion"]
    if spent.cost_usd is not None:
        parts.append(
            f"cost ${spent.cost_usd:.4f}"
            + (f" ({spent.unpriced_tokens:,} tokens unpriced)" if spent.unpriced_tokens else "")
        )
    if stats is not None:
        parts.append(stats.one_line())
    if spent.exhausted:
        parts.append(spent.exhausted.split(";")[0])
    return "; ".join(parts)


def rubric_summary(rubric: Rubric, verdicts: Sequence[SampleVerdict]) -> Table:
    """Per criterion: pass rate over scored verdicts, mean p_pass, unscored count."""
    table = Table(title=f"{len(verdicts)} samples judged against '{rubric.name}'")
    for column in ("criterion", "pass rate", "mean p_pass", "threshold", "unscored"):
        table.add_column(column, justify="left" if column == "criterion" else "right")
    for criterion in rubric.criteria:
        rows = [c for v in verdicts for c in v.criteria if c.name == criterion.name]
        scored = [c for c in rows if c.scored]
        p_values = [c.p_pass for c in scored if c.p_pass is not None]
        threshold = rows[0].threshold if rows else 0.5
        table.add_row(
            criterion.name + (" (gate)" if criterion.gate else ""),
            f"{sum(bool(c.passed) for c in scored) / len(scored):.0%}" if scored else "-",
            f"{sum(p_values) / len(p_values):.3f}" if p_values else "-",
            f"{threshold:.2f}",
            str(len(rows) - len(scored)),
        )
    scores = [v.score for v in verdicts if v.score is not None]
    unscored = len(verdicts) - len(scores)
    mean = f"{sum(scores) / len(scores):.3f}" if scores else "-"
    table.caption = f"mean score {mean}; unscored samples {unscored}"
    against = sum(1 for v in verdicts for c in v.criteria if c.rationale_consistent is False)
    if against:
        table.caption += f"; {against} rationales argue against their verdicts (rationale_consistent: false)"
    dropped = sum(1 for v in verdicts for c in v.criteria if c.rationale_dropped is not None)
    if dropped:
        table.caption += f"; {dropped} rationales dropped as garbage (rationale_dropped)"
    return table


def pair_summary(verdicts: Sequence[PairVerdict]) -> Table:
    table = Table(title=f"{len(verdicts)} pairs judged in both orders")
    for column in ("A wins", "B wins", "ties", "order-consistent", "unscored"):
        table.add_column(column, justify="right")
    winners = [v.winner for v in verdicts]
    rate = consistency_rate(verdicts)
    table.add_row(
        str(winners.count("A")),
        str(winners.count("B")),
        str(winners.count("tie")),
        f"{rate:.0%}" if rate is not None else "-",
        str(sum(v.p_a is None for v in verdicts)),
    )
    dropped = sum(1 for v in verdicts if v.rationale_dropped is not None)
    if dropped:
        table.caption = f"{dropped} rationales dropped as garbage (rationale_dropped)"
    return table


@click.command("judge")
@judge_options("rubric", "grader")
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path),
    required=True,
    help="JSONL rows: id, prompt (string or chat messages), response, optional reference and metadata; "
    "with --pairwise: response_a and response_b instead of response.",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(path_type=Path),
    required=True,
    help="JSONL verdicts, one row per input row, in order.",
)
@judge_options(
    "pairwise",
    "mode",
    "rationales",
    "score",
    "per_criterion_generation",
    "tie_margin",
    "instructions",
    "concurrency",
    "cache",
    "no_cache",
    "no_tuned",
)
@click.option(
    "--store",
    "store_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Also record every verdict in RUN_DIR/verdicts.sqlite, for `judgerl report RUN_DIR` and "
    "`judgerl inspect RUN_DIR`.",
)
@click.option(
    "--max-judge-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Stop judging once the judge has used this many tokens (prompt + completion); the rest come back "
    "unscored with reason 'budget exhausted'.",
)
@click.option(
    "--max-cost-usd",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop judging once the judge has cost this much (needs --prices); the rest come back unscored.",
)
@judge_options("prices", "cascade", *BACKEND_OPTIONS)
def judge(
    rubric_path: str | None,
    grader_path: str | None,
    input_path: Path,
    output_path: Path,
    pairwise: bool,
    mode: str,
    rationales: str,
    score: str,
    per_criterion_generation: bool,
    tie_margin: float,
    instructions: str,
    concurrency: int,
    cache_path: str | None,
    no_cache: bool,
    no_tuned: bool,
    store_dir: Path | None,
    max_judge_tokens: int | None,
    max_cost_usd: float | None,
    prices_path: str | None,
    cascade_path: str | None,
    **backend_args: Any,
) -> None:
    """Judge samples against a rubric (or pairs side by side, or with an OpenAI grader file) and write verdicts
    with rationales.

    \b
    Examples:
      judgerl judge --rubric examples/rubrics/math_reference.yaml --input samples.jsonl --output verdicts.jsonl
      judgerl judge --pairwise --input pairs.jsonl --output prefs.jsonl --rationales all
      judgerl judge --grader grader.json --input samples.jsonl --output verdicts.jsonl
      judgerl judge --rubric math.yaml --cascade cascade.yaml --input samples.jsonl --output verdicts.jsonl
    """
    if grader_path is not None:
        if cascade_path is not None:
            raise JudgerlError("--cascade judges with a rubric; a grader file names its own models: give one of them")
        refuse_rubric_options(
            rubric_path is not None, pairwise, max_judge_tokens is not None or max_cost_usd is not None
        )
        _judge_with_grader(Path(grader_path), input_path, output_path, concurrency, store_dir, backend_args)
        return
    if not pairwise and rubric_path is None:
        raise JudgerlError("--rubric is required (or use --pairwise for side-by-side comparison)")
    rubric = Rubric.load(Path(rubric_path)) if rubric_path is not None else None
    pairs = load_pairs(input_path) if pairwise else []
    samples: list[Sample] = [] if pairwise else load_samples(input_path)
    rows: list[Any] = [*pairs, *samples]
    if not rows:
        raise JudgerlError(f"{input_path}: no rows to judge")
    prices = PriceTable.load(Path(prices_path)) if prices_path is not None else None
    budget = Budget(max_tokens=max_judge_tokens, max_cost_usd=max_cost_usd, prices=prices)
    console = Console(stderr=True)
    cache = None if no_cache else VerdictCache(cache_path or default_cache_path())
    if cascade_path is not None:
        reject_beside_cascade((*backend_args, "mode", "rationales", "score", "per_criterion_generation", "tie_margin"))
        spec = JudgeSpec(cascade=load_cascade(cascade_path), concurrency=concurrency, tuned=not no_tuned)
    else:
        spec = judge_spec(
            **backend_args,
            mode="generate" if mode == "generate" else "logprob",
            score="hard" if score == "hard" else "soft",
            rationales=rationales,
            concurrency=concurrency,
            per_criterion_generation=per_criterion_generation,
            tie_margin=tie_margin,
            tuned=not no_tuned,
        )
    with console.status("loading the judge model"):
        backend = spec.build_backend()
    trust = announce_trust(rubric.source if rubric is not None else None, backend.model_id, _to_stderr)
    pair_verdicts: list[PairVerdict] = []
    tally: list[str] = []
    verdicts: list[SampleVerdict] = []
    try:
        with _progress(console) as progress:
            task = progress.add_task("judging", total=len(rows))

            def advance(_: object) -> None:
                progress.advance(task)

            if pairwise:
                pair_judge = spec.pairwise_judge(backend, instructions=instructions, cache=cache, budget=budget)
                pair_verdicts = pair_judge.judge(pairs, advance)
                _write_rows(output_path, [v.model_dump() for v in pair_verdicts])
                summary = pair_summary(pair_verdicts)
                tally = pair_judge.tally_lines()
            else:
                assert rubric is not None
                rubric_judge = spec.rubric_judge(rubric, backend, cache=cache, budget=budget)
                verdicts = rubric_judge.judge(samples, advance)
                _write_rows(output_path, [v.model_dump() for v in verdicts])
                summary = rubric_summary(rubric, verdicts)
                tally = rubric_judge.tally_lines()
    finally:
        stats = backend.call_stats()
        backend.close()
        if cache is not None:
            console.print(f"cache: {cache.hits} hits, {cache.misses} misses ({cache.path})")
            cache.close()
    console.print(summary)
    for line in tally:
        console.print(f"cascade {line}")
    console.print(usage_line(budget.snapshot(), stats))
    console.print(f"verdicts written to {output_path}")
    if store_dir is not None:
        from judgerl.store import record_judge_run

        config: dict[str, Any] = {
            "backend": backend_args.get("backend"),
            "model": backend.model_id,
            "mode": mode,
            "rationales": rationales,
            "input": str(input_path),
            "judge_trust": trust.stored(),
        }
        if spec.cascade:
            config = {"cascade": [stage.model_dump(exclude_unset=True) for stage in spec.cascade], **config}
            config.update(backend="cascade", mode=None, rationales=None)
        stored_verdicts: list[Any] = list(pair_verdicts if pairwise else verdicts)
        path = record_judge_run(store_dir, rows, stored_verdicts, rubric=rubric, config=config)
        console.print(f"verdicts recorded in {path}; see `judgerl report {store_dir}`")


def _judge_with_grader(
    grader_path: Path,
    input_path: Path,
    output_path: Path,
    concurrency: int,
    store_dir: Path | None,
    backend_args: dict[str, Any],
) -> None:
    samples: list[Sample] = load_samples(input_path)
    if not samples:
        raise JudgerlError(f"{input_path}: no rows to judge")
    console = Console(stderr=True)
    with _progress(console) as progress:
        task = progress.add_task("judging", total=len(samples))
        grader, verdicts = judge_with_grader(
            grader_path, samples, concurrency, backend_args, console, lambda _: progress.advance(task)
        )
    _write_rows(output_path, [v.model_dump() for v in verdicts])
    console.print(grader_summary(grader, verdicts))
    console.print(f"verdicts written to {output_path}")
    if store_dir is not None:
        from judgerl.store import record_judge_run

        config = {"grader": str(grader_path), "backend": backend_args.get("backend"), "input": str(input_path)}
        path = record_judge_run(store_dir, samples, verdicts, config=config)
        console.print(f"verdicts recorded in {path}; see `judgerl report {store_dir}`")
