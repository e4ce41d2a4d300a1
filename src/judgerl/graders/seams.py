"""Everything the graders package takes from the rest of judgerl, in one place so a package move touches one file.

The error type (so the CLI prints grader mistakes as one line with exit code 2), the judge backend seam
(model graders call ``generate``), the JSONL reader, the judgerl sample row, and the verdict types the doors
(server, Lambda, ``judgerl judge``, training) read grades as.
"""

from __future__ import annotations

from judgerl.aio import fan_out, run_sync
from judgerl.backends.base import Generation, JudgeBackend, JudgePrompt
from judgerl.errors import JudgerlError
from judgerl.samples import Sample, prompt_text, read_jsonl_objects
from judgerl.verdicts import CriterionVerdict, SampleVerdict

__all__ = [
    "CriterionVerdict",
    "Generation",
    "JudgeBackend",
    "JudgePrompt",
    "JudgerlError",
    "Sample",
    "SampleVerdict",
    "fan_out",
    "prompt_text",
    "read_jsonl_objects",
    "run_sync",
]
