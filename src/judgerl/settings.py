"""Where judgerl keeps its files: models and the verdict cache live under JUDGERL_HOME (~/.cache/judgerl)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("JUDGERL_HOME") or Path.home() / ".cache" / "judgerl")


def default_cache_path() -> Path:
    return home() / "cache" / "verdicts.sqlite"
