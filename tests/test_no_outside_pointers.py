"""No file a user's clone has points outside the repository: no sibling data folder, no design notes that are not
shipped, no absolute path of the machine a file was written on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("README.md", "BENCHMARKS.md", "Makefile", "docs", "examples", "data", "src", "tests", "benchmarks")
FOLDERS += ("scripts",)
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".cache"}
# Spelled in pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join(["shared/" + "data", "DES" + "IGN", "/" + "work/", "/" + "home/", "/" + "Users/"]))


def _text_files() -> list[Path]:
    files: list[Path] = []
    for name in FOLDERS:
        top = ROOT / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in candidates:
            if not path.is_file() or SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
                continue
            if path.suffix in {".sqlite", ".pyc", ".zip", ".gguf", ".png"}:
                continue
            files.append(path)
    return files


def pointers_outside(root: Path, files: list[Path]) -> list[str]:
    """`file:line: text` for each line that cites a path outside the repository at ``root``."""
    records = root / "benchmarks" / "results"
    found = []
    # benchmarks/results holds recorded outputs of past runs, whose logs and configs name the folders those runs
    # wrote to: records, not pointers, so only a data folder outside is refused there.
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = OUTSIDE.search(line)
            if match and not (records in path.parents and match.group(0) != "shared/" + "data"):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()[:120]}")
    return found


def test_no_file_points_outside_the_repository() -> None:
    files = _text_files()
    assert len(files) > 100
    assert pointers_outside(ROOT, files) == []


@pytest.mark.parametrize(
    "line",
    ["see ../shared/" + "data/gsm8k", "as DES" + "IGN.md says", "open('/" + "work/main/x')", "docs/DES" + "IGN notes"],
)
def test_a_pointer_outside_is_found(tmp_path: Path, line: str) -> None:
    probe = tmp_path / "docs" / "probe.md"
    probe.parent.mkdir()
    probe.write_text(f"first line\n{line}\n", encoding="utf-8")
    assert pointers_outside(tmp_path, [probe]) == [f"docs/probe.md:2: {line}"]


def test_recorded_run_outputs_may_name_their_machine_paths_but_no_outside_data(tmp_path: Path) -> None:
    record = tmp_path / "benchmarks" / "results" / "run.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"output_dir": "/' + 'work/main/runs/x"}\n{"data": "../shared/' + 'data/x"}\n')
    assert [line.split(":")[1] for line in pointers_outside(tmp_path, [record])] == ["2"]
