"""Prometheus text exposition for the reward server: counters and latency histograms, no extra dependency."""

from __future__ import annotations

import math
import threading
from collections import defaultdict

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

Labels = tuple[tuple[str, str], ...]

_HELP = {
    "judgerl_requests_total": ("counter", "HTTP requests by route and status code."),
    "judgerl_request_duration_seconds": ("histogram", "HTTP request latency by route."),
    "judgerl_samples_total": ("counter", "Samples (or pairs) judged, by route."),
    "judgerl_unscored_total": ("counter", "Samples the judge could not score, by route (the failure policy applied)."),
    "judgerl_judge_latency_seconds": ("histogram", "Judge latency per sample."),
    "judgerl_cache_hits_total": ("counter", "Criterion verdicts served from the verdict cache."),
    "judgerl_criterion_verdicts_total": ("counter", "Criterion verdicts returned (cached or fresh)."),
    "judgerl_requests_in_flight": ("gauge", "Requests being handled now."),
}


def _labels(labels: dict[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _fmt_number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Metrics:
    """Thread-safe counters, gauges and histograms, rendered in the Prometheus text format (version 0.0.4)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._histograms: dict[str, dict[Labels, list[float]]] = defaultdict(dict)

    def inc(self, name: str, labels: dict[str, str] | None = None, value: float = 1.0) -> None:
        key = _labels(labels)
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0.0) + value

    def observe(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        key = _labels(labels)
        with self._lock:
            state = self._histograms[name].get(key)
            if state is None:  # bucket counts..., sum, count
                state = self._histograms[name][key] = [0.0] * (len(LATENCY_BUCKETS_S) + 2)
            for index, bound in enumerate(LATENCY_BUCKETS_S):
                if value <= bound:
                    state[index] += 1
            state[-2] += value
            state[-1] += 1

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        with self._lock:
            return self._values.get(name, {}).get(_labels(labels), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            names = sorted({*self._values, *self._histograms, *_HELP})
            for name in names:
                kind, text = _HELP.get(name, ("untyped", name))
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                for labels, value in sorted(self._values.get(name, {}).items()):
                    lines.append(f"{name}{_fmt_labels(labels)} {_fmt_number(value)}")
                for labels, state in sorted(self._histograms.get(name, {}).items()):
                    for bound, count in zip(LATENCY_BUCKETS_S, state, strict=False):
                        lines.append(f"{name}_bucket{_fmt_labels(labels, (('le', _fmt_number(bound)),))} {int(count)}")
                    lines.append(f"{name}_bucket{_fmt_labels(labels, (('le', '+Inf'),))} {int(state[-1])}")
                    lines.append(f"{name}_sum{_fmt_labels(labels)} {_fmt_number(state[-2])}")
                    lines.append(f"{name}_count{_fmt_labels(labels)} {int(state[-1])}")
        return "\n".join(lines) + "\n"
