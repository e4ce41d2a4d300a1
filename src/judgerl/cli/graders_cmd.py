"""`judgerl graders`: run, validate and convert OpenAI grader files (docs/openai-graders.md)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from judgerl.aio import fan_out
from judgerl.cli.backend_options import judge_spec
from judgerl.cli.judge_options import BACKEND_OPTIONS, judge_options
from judgerl.graders.convert import convert as convert_spec
from judgerl.graders.embeddings import DEFAULT_EMBEDDINGS_MODEL
from judgerl.graders.grader import Grader, GradeResult
from judgerl.graders.model_graders import DEFAULT_MAX_NEW_TOKENS
from judgerl.graders.python_runner import PythonLimits
from judgerl.graders.rows import GradeRow, read_rows
from judgerl.graders.run_response import run_response
from judgerl.graders.spec import load_spec
from judgerl.judges.trust import announce_trust


@click.group("graders")
def graders() -> None:
    """OpenAI grader files (string_check, text_similarity, score_model, label_model, python, multi), and
    SageMaker reward prompts (a .txt/.md/.prompt template with {{ prompt }}, {{ ground_truth }}, {{ response }})."""


@graders.command("validate")
@click.argument("grader_path", type=click.Path(path_type=Path))
def validate(grader_path: Path) -> None:
    """Check a grader file; a mistake is one line naming the field (exit code 2)."""
    spec = load_spec(grader_path)
    click.echo(f"ok: {grader_path}: {spec.type} grader '{spec.name or spec.type}'")


@graders.command("convert")
@click.argument("grader_path", type=click.Path(path_type=Path))
def convert(grader_path: Path) -> None:
    """Print the equivalent judgerl configuration (JSON), or say there is none."""
    conversion = convert_spec(load_spec(grader_path))
    if conversion.equivalent is None:
        click.echo(f"{grader_path}: {conversion.explanation}")
        return
    click.echo(f"# {conversion.explanation}", err=True)
    click.echo(json.dumps(conversion.equivalent, indent=2))


@graders.command("run")
@judge_options("grader", required=("grader",))
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path),
    required=True,
    help="JSONL rows: {item, model_sample} (as /graders/run) or judgerl samples {id, prompt, response, reference}.",
)
@click.option("--output", "output_path", type=click.Path(path_type=Path), help="Output JSONL (default: stdout).")
@judge_options("concurrency")
@click.option(
    "--embeddings-url",
    envvar="JUDGERL_EMBEDDINGS_URL",
    help="OpenAI-compatible server for the cosine metric (POST <url>/v1/embeddings). "
    "Default: the first --base-url of the openai backend.",
)
@click.option("--embeddings-model", default=DEFAULT_EMBEDDINGS_MODEL, show_default=True)
@click.option("--python-timeout", type=click.FloatRange(min=0.1), default=120.0, show_default=True, help="Seconds.")
@click.option("--python-memory-mb", type=click.IntRange(min=64), default=2048, show_default=True)
@click.option(
    "--max-new-tokens",
    type=click.IntRange(min=16),
    default=DEFAULT_MAX_NEW_TOKENS,
    show_default=True,
    help="Cap on a model grader's reply in tokens (its max_completions_tokens applies below this).",
)
@judge_options(*BACKEND_OPTIONS)
def run(
    grader_path: str,
    input_path: Path,
    output_path: Path | None,
    concurrency: int,
    embeddings_url: str | None,
    embeddings_model: str,
    python_timeout: float,
    python_memory_mb: int,
    max_new_tokens: int,
    **backend_args: Any,
) -> None:
    """Grade each input row, as OpenAI's /graders/run: one output row per input in that endpoint's response shape
    (reward, sub_rewards, metadata with error flags, execution_time and token usage,
    model_grader_token_usage_per_model), plus passed, the model grader's rationale, and unscored_reason where a
    row could not be scored."""
    rows = list(read_rows(input_path))
    limits = PythonLimits(timeout_s=python_timeout, memory_mb=python_memory_mb)
    judge = judge_spec(**backend_args).grader_judge(
        grader_path,
        embeddings_url=embeddings_url,
        embeddings_model=embeddings_model,
        python_limits=limits,
        max_new_tokens=max_new_tokens,
    )
    grader, spec = judge.grader, judge.grader.spec
    if judge.backend is not None:
        announce_trust(grader_path, judge.backend.model_id, lambda line: click.echo(line, err=True))
    try:
        timed = asyncio.run(_grade_timed(grader, rows, concurrency))
    finally:
        if judge.backend is not None:
            judge.backend.close()
    results = [result for result, _ in timed]
    lines = [{**result.to_json(), **run_response(spec, result, seconds)} for result, seconds in timed]
    _write(rows, lines, output_path)
    unscored = sum(1 for r in results if r.reward is None)
    scored = [r.reward for r in results if r.reward is not None]
    mean = f", mean reward {sum(scored) / len(scored):.4f}" if scored else ""
    click.echo(
        f"graded {len(results)} rows with {spec.type} grader '{grader.name}': {unscored} unscored{mean}", err=True
    )


async def _grade_timed(grader: Grader, rows: list[GradeRow], concurrency: int) -> list[tuple[GradeResult, float]]:
    """Each row's grade and how long it took (the response's metadata.execution_time), ``concurrency`` at once."""

    async def one(row: GradeRow) -> tuple[GradeResult, float]:
        started = time.perf_counter()
        result = await grader.agrade(row.item, row.sample)
        return result, time.perf_counter() - started

    return await fan_out(rows, one, concurrency)


def _write(rows: list[GradeRow], results: list[dict[str, Any]], output_path: Path | None) -> None:
    lines = [
        json.dumps({"id": row.id, **result}, ensure_ascii=False) for row, result in zip(rows, results, strict=True)
    ]
    text = "".join(line + "\n" for line in lines)
    if output_path is None:
        sys.stdout.write(text)
        return
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(text, encoding="utf-8")
