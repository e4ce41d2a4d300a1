"""One reader for JSONL files of objects: samples, grader rows and training data all read their lines here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from judgerl.errors import JudgerlError


def read_jsonl_objects(
    path: str | Path, error: type[JudgerlError] = JudgerlError, what: str = "file"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; invalid bytes become U+FFFD.

    A missing file, a line that is not JSON or not an object raises ``error`` naming the file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise error(f"{path}:{number}: each line must be a JSON object, got {type(row).__name__}")
        yield number, row
