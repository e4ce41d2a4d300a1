"""Docs that run: every shell and Python block in README.md and docs/ is checked, so a renamed option, command or
module fails `make test`.

- Shell blocks (bash, sh, shell, console): every `judgerl ...` command line (continuations joined, `&&` / `|`
  chains split) is parsed by the real CLI with `--help` appended: an unknown command or option fails; a block
  without a judgerl command must be marked illustrative.
- Python blocks are run, in a fresh folder; a block marked illustrative (it needs a model, a server, AWS or
  your data) is compiled and its judgerl imports are run; a block marked `tested: <test file>` is run by that
  test, and its imports are run here.

The marker is an HTML comment on the line before the block: `<!-- illustrative: why -->` or
`<!-- tested: tests/test_x.py -->`.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from judgerl.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELL = {"bash", "sh", "shell", "console"}
PYTHON = {"python", "py"}
_FENCE = re.compile(r"^\s*```(\w*)\s*$")  # a fence may be indented (a block inside a list item)
_MARKER = re.compile(r"^<!--\s*(illustrative|tested)\b:?\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    text: str
    marker: str | None  # "illustrative", "tested", or None
    note: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            match = _FENCE.match(lines[index])
            if not match:
                index += 1
                continue
            end = index + 1
            while end < len(lines) and not lines[end].strip().startswith("```"):
                end += 1
            before = next((lines[k] for k in range(index - 1, -1, -1) if lines[k].strip()), "")
            marker = _MARKER.match(before.strip())
            found.append(
                Block(
                    path,
                    index + 1,
                    match.group(1),
                    textwrap.dedent("\n".join(lines[index + 1 : end])),
                    marker.group(1) if marker else None,
                    marker.group(2) if marker else "",
                )
            )
            index = end + 1
    return found


def judgerl_commands(text: str) -> list[list[str]]:
    """Every judgerl command of a shell block, as argv without the program name."""
    joined = re.sub(r"\\\n\s*", " ", text)
    commands = []
    for line in joined.splitlines():
        line = line.strip().removeprefix("$ ")
        if not line or line.startswith("#"):
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        segment: list[str] = []
        for token in [*tokens, "&&"]:
            if token in {"&&", "||", "|", ";"}:
                if segment[:1] == ["judgerl"]:
                    commands.append(segment[1:])
                else:  # python -m judgerl ..., accelerate launch ... -m judgerl ...
                    module = [k for k in range(len(segment) - 1) if segment[k : k + 2] == ["-m", "judgerl"]]
                    if module:
                        commands.append(segment[module[0] + 2 :])
                segment = []
            else:
                segment.append(token)
    return commands


SHELL_BLOCKS = [b for b in blocks() if b.lang in SHELL]
PYTHON_BLOCKS = [b for b in blocks() if b.lang in PYTHON]
COMMANDS = [(b.where, argv) for b in SHELL_BLOCKS for argv in judgerl_commands(b.text)]


def test_the_docs_have_blocks_to_check() -> None:
    assert len(COMMANDS) > 20 and PYTHON_BLOCKS


def _extra_arguments(argv: list[str]) -> list[str]:
    """Positional arguments the command has no parameter for (``--help`` stops click before it checks them);
    ``...`` and ``<placeholder>`` stand for what the reader fills in."""
    command: click.Command = cli
    rest = ["X" if a.startswith("<") else a for a in argv if a != "..."]
    while isinstance(command, click.Group):
        context = click.Context(command, resilient_parsing=True)
        _, args, _ = command.make_parser(context).parse_args(rest)
        sub = command.get_command(context, args[0]) if args else None
        if sub is None:
            return []
        command, rest = sub, args[1:]
    context = click.Context(command, resilient_parsing=True)
    _, args, _ = command.make_parser(context).parse_args(rest)
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    if any(p.nargs < 0 for p in arguments):
        return []
    return args[sum(p.nargs for p in arguments) :]


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[f"{w} {' '.join(a[:2])}" for w, a in COMMANDS])
def test_every_judgerl_command_line_parses(where: str, argv: list[str]) -> None:
    result = CliRunner().invoke(cli, [*argv, "--help"])
    assert result.exit_code == 0 and result.exception is None, f"{where}: judgerl {' '.join(argv)}\n{result.output}"
    extra = _extra_arguments(argv)
    assert not extra, f"{where}: judgerl {' '.join(argv)}: unexpected argument(s) {extra}"


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.where for b in SHELL_BLOCKS])
def test_a_shell_block_without_judgerl_is_marked(block: Block) -> None:
    if block.marker is None:
        assert judgerl_commands(block.text), f"{block.where}: no judgerl command; mark it <!-- illustrative: ... -->"


def _judgerl_imports(tree: ast.Module) -> ast.Module:
    kept: list[ast.stmt] = []
    for node in ast.walk(tree):
        from_judgerl = isinstance(node, ast.ImportFrom) and (node.module or "").startswith("judgerl")
        if from_judgerl or (isinstance(node, ast.Import) and any(a.name.startswith("judgerl") for a in node.names)):
            kept.append(node)
    return ast.Module(body=kept, type_ignores=[])


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.where for b in PYTHON_BLOCKS])
def test_every_python_block_runs_or_its_imports_do(block: Block, tmp_path: Path) -> None:
    tree = ast.parse(block.text, filename=block.where)  # a syntax error fails here
    if block.marker == "tested":
        assert (ROOT / block.note).is_file(), f"{block.where}: tested by '{block.note}', which does not exist"
    if block.marker is not None:
        exec(compile(_judgerl_imports(tree), block.where, "exec"), {"__name__": "docs_block"})
        return
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        exec(compile(tree, block.where, "exec"), {"__name__": "docs_block"})
    finally:
        os.chdir(cwd)
