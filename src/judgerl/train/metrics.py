"""What each training step logs about its judging, and the guard that stops a run whose judge stops scoring."""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Sequence

from judgerl.errors import JudgerlError
from judgerl.verdicts import PairVerdict, SampleVerdict


class TooManyUnscored(JudgerlError):
    """The judge left too many samples unscored: training on the rest would follow a biased signal."""


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def rubric_metrics(verdicts: Sequence[SampleVerdict]) -> dict[str, float | None]:
    """Per-criterion pass rates and mean P(pass), score, latency and tokens of the samples sent to the judge.

    The unscored and gated fractions are the publish step's (``train/publish.py``), the same for every strategy."""
    metrics: dict[str, float | None] = {}
    names: list[str] = []
    for verdict in verdicts:
        for criterion in verdict.criteria:
            if criterion.name not in names:
                names.append(criterion.name)
    for name in names:
        scored = [c for v in verdicts for c in v.criteria if c.name == name and c.scored]
        metrics[f"criteria/{name}/pass_rate"] = _mean([float(bool(c.passed)) for c in scored])
        probabilities = [c.p_pass for c in scored if c.p_pass is not None]
        metrics[f"criteria/{name}/p_pass"] = _mean(probabilities)
    scores = [v.score for v in verdicts if v.score is not None]
    metrics["judge/score_mean"] = _mean(scores)
    metrics["judge/score_std"] = statistics.pstdev(scores) if len(scores) > 1 else None
    metrics["judge/latency_s"] = _mean([v.latency_s for v in verdicts])
    metrics["judge/prompt_tokens"] = _mean([float(v.prompt_tokens) for v in verdicts])
    metrics["judge/completion_tokens"] = _mean([float(v.completion_tokens) for v in verdicts])
    cached = [c.cached for v in verdicts for c in v.criteria]
    metrics["judge/cache_hit_rate"] = _mean([float(c) for c in cached])
    return metrics


def pair_metrics(verdicts: Sequence[PairVerdict]) -> dict[str, float | None]:
    """Pairs judged, consistency and tie rates, latency and tokens of the judged pairs (the unscored fraction of
    completions is the publish step's)."""
    scored = [v for v in verdicts if v.scored]
    return {
        "preference/pairs": float(len(verdicts)),
        "preference/consistency_rate": _mean([float(bool(v.consistent)) for v in scored]),
        "preference/tie_rate": _mean([float(v.winner == "tie") for v in scored]),
        "judge/latency_s": _mean([v.latency_s for v in verdicts]),
        "judge/prompt_tokens": _mean([float(v.prompt_tokens) for v in verdicts]),
        "judge/completion_tokens": _mean([float(v.completion_tokens) for v in verdicts]),
    }


class UnscoredGuard:
    """Stops training when the unscored fraction over the last ``window`` batches passes ``max_fraction``.

    Every process sees the same gathered counts, so every process stops at the same step."""

    def __init__(self, max_fraction: float, window: int, min_samples: int) -> None:
        self.max_fraction = max_fraction
        self.min_samples = min_samples
        self._recent: deque[tuple[int, int]] = deque(maxlen=window)

    def update(self, unscored: int, judged: int, reasons: Sequence[str] = ()) -> None:
        self._recent.append((unscored, judged))
        missing = sum(u for u, _ in self._recent)
        seen = sum(j for _, j in self._recent)
        if seen >= self.min_samples and missing / seen > self.max_fraction:
            example = f"; e.g. {reasons[0]}" if reasons else ""
            raise TooManyUnscored(
                f"the judge left {missing} of the last {seen} samples unscored ({missing / seen:.0%} > "
                f"reward.max_unscored_fraction {self.max_fraction:.0%}){example}. Fix the judge (is its server up? "
                "is its model right for the prompts?), then continue with --resume"
            )
