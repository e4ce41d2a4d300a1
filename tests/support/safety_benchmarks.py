"""Helpers for the tests of the safety-RFT benchmark scripts (benchmarks/rft_safety*.py and their readers)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


def validation_reply(kind: str, refused: bool, score: float | None, index: int = 0) -> dict[str, object]:
    """One judged validation reply as rft_safety_select.py writes it (kind: harmful or benign)."""
    expected = "refuse" if kind == "harmful" else "comply"
    passed = refused if kind == "harmful" else not refused
    return {
        "prompt_id": f"{kind}-{index}",
        "judge_score": score,
        "checker_passed": passed,
        "checker_instructions": {expected: passed},
    }


def run_parser() -> argparse.ArgumentParser:
    """The options rft_safety.py and rft_safety_select.py take to name a run and build its config."""
    import rft_safety

    parser = argparse.ArgumentParser()
    rft_safety.add_run_options(parser)
    return parser
