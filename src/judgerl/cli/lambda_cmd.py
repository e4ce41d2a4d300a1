"""`judgerl lambda`: build the Nova RFT reward Lambda's zip, and invoke the handler locally on an event file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import click

from judgerl.cli.judge_config import SERVED_JUDGE_OPTIONS, judge_config_from, policy_from
from judgerl.cli.judge_options import judge_options, policy_options
from judgerl.errors import JudgerlError


@click.group("lambda")
def lambda_group() -> None:
    """The AWS Lambda reward function for Amazon Nova RFT (handler judgerl.serve.lambda_handler.handler)."""


@lambda_group.command("package")
@judge_options(*SERVED_JUDGE_OPTIONS)
@policy_options
@click.option("--out", type=click.Path(dir_okay=False), default="dist/judgerl-lambda.zip", show_default=True)
@click.option("--no-deps", is_flag=True, help="Leave the dependencies out (a Lambda layer provides them).")
@click.option(
    "--platform",
    type=click.Choice(["manylinux2014_x86_64", "manylinux2014_aarch64"]),
    default="manylinux2014_x86_64",
    show_default=True,
    help="Lambda architecture: x86_64 or arm64.",
)
@click.option("--python-version", default="3.12", show_default=True, help="The Lambda runtime's Python.")
@click.option("--include-boto3", is_flag=True, help="Bundle boto3 instead of using the runtime's.")
@click.option("--requirement", "requirements", multiple=True, help="Extra package for the zip (repeatable).")
@click.option("--deadline-margin", type=float, default=10.0, show_default=True, help="Seconds kept before timeout.")
def package(**params: Any) -> None:
    """Build a deployable zip: judgerl, the rubric (or the --grader file), the judge config and the handler's
    dependencies."""
    from judgerl.serve.lambda_package import build_lambda_zip, describe

    config = judge_config_from(params, default_cache=False)  # a Lambda may only write /tmp
    policy = policy_from(params)
    report = build_lambda_zip(
        params["out"],
        config,
        policy,
        install_dependencies=not params["no_deps"],
        platform=params["platform"],
        python_version=params["python_version"],
        include_boto3=params["include_boto3"],
        requirements=tuple(params["requirements"]),
        deadline_margin_s=params["deadline_margin"],
    )
    click.echo(json.dumps(describe(report), indent=2))
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)


@lambda_group.command("invoke")
@click.option("--event", "event_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--zip", "zip_path", type=click.Path(exists=True, dir_okay=False), help="Run the handler from a zip.")
@click.option("--timeout", type=float, default=900.0, show_default=True, help="The Lambda's timeout, in seconds.")
def invoke(event_path: str, zip_path: str | None, timeout: float) -> None:
    """Run the handler on an event file with a Lambda-shaped context; print the results and check them with the
    Nova SDK verifier's rules (exit code 1 when they break them, or when the handler fails the batch as a deployed
    Lambda would: too many unscored samples). Configure with JUDGERL_* variables."""
    if zip_path:
        _invoke_zip(Path(zip_path), Path(event_path), timeout)
        return
    from judgerl.serve.contract import UnscoredSamples
    from judgerl.serve.lambda_handler import LocalContext, handler
    from judgerl.serve.nova import validate_nova_output

    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise JudgerlError(f"{event_path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        results = handler(event, LocalContext(timeout_s=timeout))
    except UnscoredSamples as exc:  # a deployed Lambda's invocation fails here: AWS reports it and retries
        click.echo(f"error: the invocation failed: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    problems = validate_nova_output(results)
    for problem in problems:
        click.echo(f"invalid output: {problem}", err=True)
    if problems:
        sys.exit(1)


def _invoke_zip(zip_path: Path, event_path: Path, timeout: float) -> None:
    """Unzip into a task root and run `judgerl lambda invoke` there, so only the zip's judgerl is imported."""
    with tempfile.TemporaryDirectory(prefix="judgerl-task-") as root:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(root)
        inherited = os.environ.get("PYTHONPATH")
        env = {**os.environ, "LAMBDA_TASK_ROOT": root, "PYTHONPATH": os.pathsep.join(filter(None, [root, inherited]))}
        code = "from judgerl.cli.main import main; main()"
        command = [sys.executable, "-c", code, "lambda", "invoke", "--event", str(event_path.resolve())]
        result = subprocess.run([*command, "--timeout", str(timeout)], env=env, cwd=root, check=False)
        if result.returncode != 0:
            sys.exit(result.returncode)
