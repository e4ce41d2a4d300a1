"""`judgerl`: the command group. Each command lives in its own module and is added here.

User mistakes (JudgerlError) print as one line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from judgerl.errors import JudgerlError

# (module, attribute) of each command; imported lazily so `judgerl --help` stays fast.
_COMMANDS: dict[str, tuple[str, str]] = {
    "average": ("judgerl.cli.average_cmd", "average"),
    "calibrate": ("judgerl.cli.calibrate_cmd", "calibrate"),
    "eval": ("judgerl.cli.eval_cmd", "eval_command"),
    "graders": ("judgerl.cli.graders_cmd", "graders"),
    "inspect": ("judgerl.cli.inspect_cmd", "inspect"),
    "judge": ("judgerl.cli.judge_cmd", "judge"),
    "lambda": ("judgerl.cli.lambda_cmd", "lambda_group"),
    "models": ("judgerl.cli.models_cmd", "models"),
    "report": ("judgerl.cli.report_cmd", "report"),
    "select": ("judgerl.cli.select_cmd", "select_command"),
    "serve": ("judgerl.cli.serve", "serve"),
    "train": ("judgerl.cli.train_cmd", "train"),
    "tune": ("judgerl.cli.tune_cmd", "tune"),
    "validate": ("judgerl.cli.validate_cmd", "validate"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module_name, attribute = _COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.version_option(package_name="judgerl")
def cli(verbose: int) -> None:
    """judgerl: reinforcement fine-tuning with an LLM judge (rubric or preference rewards, with rationales)."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except JudgerlError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
