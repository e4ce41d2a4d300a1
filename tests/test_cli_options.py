"""The judging commands share one set of judge options: each one declared once, with one type, one default and one
meaning in every command that takes it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from judgerl.cli.judge_options import judge_options, option_names
from judgerl.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
JUDGING = [("judge",), ("validate",), ("calibrate",), ("tune",), ("serve",), ("lambda", "package"), ("graders", "run")]


def _command(path: tuple[str, ...]) -> click.Command:
    context = click.Context(cli)
    command: click.Command | None = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.get_command(context, name)
    assert command is not None
    return command


def _shape(option: click.Option) -> tuple[object, ...]:
    kind = json.dumps(option.type.to_info_dict(), sort_keys=True, default=str)
    return (kind, option.default, option.is_flag, option.multiple, option.envvar, option.help)


def _options_by_flag() -> dict[str, dict[tuple[str, ...], click.Option]]:
    found: dict[str, dict[tuple[str, ...], click.Option]] = {}
    for path in JUDGING:
        for param in _command(path).params:
            if isinstance(param, click.Option) and not param.hidden:
                found.setdefault(param.opts[0], {})[path] = param
    return found


def test_an_option_shared_by_judging_commands_has_one_type_default_and_meaning() -> None:
    """A judge option two judging commands take is the same option (measurement settings such as validate's and
    tune's --bootstrap are theirs, not the judge's)."""
    judge_flags = {_flag(name) for name in option_names()}
    shared = {flag: found for flag, found in _options_by_flag().items() if len(found) > 1 and flag in judge_flags}
    assert {"--concurrency", "--pairwise", "--rubric", "--mode", "--backend", "--model", "--cascade"} <= set(shared)
    for flag, by_command in shared.items():
        shapes = {path: _shape(option) for path, option in by_command.items()}
        assert len(set(shapes.values())) == 1, (flag, shapes)


def test_every_judging_command_takes_the_backend_options_and_concurrency() -> None:
    for path in JUDGING:
        flags = {p.opts[0] for p in _command(path).params if isinstance(p, click.Option)}
        assert {"--backend", "--model", "--base-url", "--backend-option", "--concurrency"} <= flags, path


def test_concurrency_is_one_range_with_one_default() -> None:
    for path, option in _options_by_flag()["--concurrency"].items():
        assert isinstance(option.type, click.IntRange) and (option.type.min, option.type.max) == (1, 4096), path
        assert option.default == 4, path


def test_pairwise_is_a_flag_wherever_it_is_shown() -> None:
    for path, option in _options_by_flag()["--pairwise"].items():
        assert option.is_flag, path


def test_shared_options_are_declared_in_one_module() -> None:
    """No command declares a shared option itself: the flag text appears once, in cli/judge_options.py."""
    flags = {_flag(name) for name in option_names()}
    for path in sorted((ROOT / "src" / "judgerl" / "cli").glob("*.py")):
        if path.name == "judge_options.py":
            continue
        declared = set(re.findall(r'click\.option\(\s*"(--[a-z-]+)"', path.read_text()))
        assert not declared & flags, (path.name, declared & flags)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def test_an_unknown_or_unlisted_option_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        judge_options("concurrancy")
    with pytest.raises(ValueError, match="unlisted"):
        judge_options("mode", required=("rubric",))


@pytest.mark.parametrize("command", ["validate", "tune"])
def test_the_old_pairs_file_spelling_is_refused_beside_the_new_one(tmp_path: Path, command: str) -> None:
    from click.testing import CliRunner

    from judgerl.errors import JudgerlError

    pairs = tmp_path / "p.json"
    pairs.write_text("[]")
    args = [command, "--pairwise", str(pairs), "--pairs", str(pairs), "--output", str(tmp_path / "out")]
    with pytest.raises(JudgerlError, match="old spelling of --pairs FILE: give --pairs alone"):
        CliRunner().invoke(cli, args, catch_exceptions=False)
