"""What ``/health`` says about the judge: whether its recent calls got through, read from the verdicts (no probe).

A probe would spend a judge call on every health check; the verdicts already say whether the judge answers.
After ``window`` samples in a row that failed on the judge's side (timeouts, transport errors, server errors),
the judge counts as unreachable and ``/health`` reports ``"status": "degraded"`` with the last error; one
answered sample makes it reachable again. Samples that were invalid, or whose failure the response provoked
(:func:`judgerl.judges.outcome.response_may_cause`), say nothing about reachability."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from judgerl.judges.outcome import response_may_cause
from judgerl.verdicts import SampleVerdict


class JudgeHealth:
    def __init__(self, window: int = 5) -> None:
        self.window = window
        self._lock = threading.Lock()  # the Lambda and verl doors judge from other threads
        self._failures_in_a_row = 0
        self._last_answer: float | None = None
        self._last_error: str | None = None

    def observe(self, verdicts: Sequence[SampleVerdict]) -> None:
        with self._lock:
            for verdict in verdicts:
                reason = verdict.unscored_reason
                if verdict.score is not None or response_may_cause(reason):
                    self._failures_in_a_row = 0
                    self._last_answer = time.time()
                elif reason and not reason.startswith("invalid sample"):
                    self._failures_in_a_row += 1
                    self._last_error = reason[:300]

    @property
    def reachable(self) -> bool | None:
        """None before any sample was judged; False after ``window`` judge-side failures in a row."""
        if self._failures_in_a_row >= self.window:
            return False
        return None if self._last_answer is None else True

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                "reachable": self.reachable,
                "failures_in_a_row": self._failures_in_a_row,
                "last_answer_s_ago": None if self._last_answer is None else round(time.time() - self._last_answer, 1),
                "last_error": self._last_error if self._failures_in_a_row else None,
            }
