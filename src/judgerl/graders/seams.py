"""Everything the graders package takes from the rest of judgerl, in one place so a package move touches one file.

The error type (so the CLI prints grader mistakes as one line with exit code 2), the judge backend seam
(model graders call ``generate``), the CLI's way of building a backend, and the judgerl sample row.
"""

from __future__ import annotations

from judgerl.aio import run_sync
from judgerl.backends.base import Generation, JudgeBackend, JudgePrompt
from judgerl.errors import JudgerlError
from judgerl.samples import Sample, prompt_text

__all__ = ["Generation", "JudgeBackend", "JudgePrompt", "JudgerlError", "Sample", "prompt_text", "run_sync"]
