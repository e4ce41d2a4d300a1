"""OpenAI grader files, read as they are: string_check, text_similarity, score_model, label_model, python, multi.

The API the doors call: ``load_grader(path, backend=..., embedder=...) -> Grader``, then
``Grader.grade(item, sample) -> GradeResult`` (or ``await Grader.agrade(...)``). See docs/openai-graders.md.
"""

from __future__ import annotations

from judgerl.graders.embeddings import HttpEmbedder
from judgerl.graders.grader import Grader, GradeResult, grader_from_dict, load_grader
from judgerl.graders.python_runner import PythonLimits
from judgerl.graders.spec import GraderSpec, GraderSpecError, load_spec, parse_spec

__all__ = [
    "GradeResult",
    "Grader",
    "GraderSpec",
    "GraderSpecError",
    "HttpEmbedder",
    "PythonLimits",
    "grader_from_dict",
    "load_grader",
    "load_spec",
    "parse_spec",
]
