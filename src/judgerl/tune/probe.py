"""The probe: an L2-regularised logistic regression on the judge's hidden state at the verdict position.

Hidden states have far more dimensions (896 for the 0.5B, 1536 for the 1.5B) than there are labelled items, so the
fit is strongly regularised and standardised, solved by Newton's method in the dual-free primal (a few iterations of
IRLS on at most a few hundred rows is instant). `judgerl tune` only ever scores an item with a probe fitted on other
items (cross-fitting), so the probe's figure is never measured on the rows it learnt from.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from judgerl.judges.strategies import Probe

#: the default penalty (on standardised features): strong, because rows are few and dimensions many
DEFAULT_L2 = 10.0


def fit_probe(states: Sequence[Sequence[float]], labels: Sequence[bool], l2: float = DEFAULT_L2) -> Probe:
    """A logistic regression of ``labels`` on ``states`` with an L2 penalty on the weights (not the bias)."""
    x = np.asarray(states, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise ValueError("the probe needs at least two hidden states of one size, one label each")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    z = (x - mean) / scale
    n, d = z.shape
    design = np.hstack([z, np.ones((n, 1))])
    penalty = np.full(d + 1, l2)
    penalty[-1] = 1e-6  # the bias is (almost) free
    weights = np.zeros(d + 1)
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(design @ weights, -60, 60)))
        gradient = design.T @ (p - y) + penalty * weights
        curvature = p * (1 - p)
        if d + 1 <= n:
            hessian = design.T @ (design * curvature[:, None]) + np.diag(penalty)
            step = np.linalg.solve(hessian, gradient)
        else:  # more dimensions than rows: the Woodbury identity keeps the solve n x n
            inverse_penalty = 1 / penalty
            scaled = design * inverse_penalty  # rows of X P^-1
            inner = np.diag(1 / np.maximum(curvature, 1e-9)) + scaled @ design.T
            step = inverse_penalty * gradient - scaled.T @ np.linalg.solve(inner, scaled @ gradient)
        weights -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return Probe(
        weights=[float(w) for w in weights[:-1]],
        bias=float(weights[-1]),
        mean=[float(m) for m in mean],
        scale=[float(s) for s in scale],
        l2=l2,
    )
