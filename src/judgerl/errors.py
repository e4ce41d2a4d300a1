"""Errors a user can fix: each carries a one-line message naming the file, row or field and the fix."""

from __future__ import annotations


class JudgerlError(Exception):
    """A mistake in the user's input or set-up. The CLI prints it as one line, without a traceback."""


class RubricError(JudgerlError):
    """An invalid rubric file or rubric field."""


class SampleError(JudgerlError):
    """An invalid samples file or row."""


class BackendUnavailable(JudgerlError):
    """A backend's optional dependency is missing, or its model or server cannot be reached."""


class ModelNotFound(JudgerlError):
    """A judge or policy model is not installed locally."""
