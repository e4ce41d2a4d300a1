"""Label probabilities from a server's ``top_logprobs`` for the first answer token.

A remote judge cannot prefill the answer, so it is asked to reply with the label alone and the first token's
top alternatives are mapped onto the labels: a token counts for a label when, stripped of spaces and
case-folded, it is the label or an unambiguous start of it (tokenizers may split a label; " pass", "PASS" and
"Pass" are variants of one answer). Probabilities of all variants are summed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: rounding allowed above a total probability of 1 (logprobs travel as float16 or rounded decimals)
_MASS_TOLERANCE = 1e-3


def probability_problem(probs: Mapping[str, float] | None, labels: Sequence[str]) -> str | None:
    """Why a backend's label probabilities cannot be used as they are (None when they can).

    A missing label, NaN, infinity, a value outside [0, 1] or labels that sum past 1 make the verdict unscored
    with this reason rather than a number that silently fails every comparison (``nan >= 0.5`` is False) or
    breaks a JSON answer."""
    if probs is None:
        return "the backend returned no label probabilities"
    for label in labels:
        p = probs.get(label)
        if not isinstance(p, int | float) or isinstance(p, bool):
            return f"the backend returned no probability for {label!r}"
        if not math.isfinite(p) or not -1e-6 <= p <= 1 + 1e-6:
            return f"the backend returned an invalid probability for {label!r}: {p!r}"
    total = sum(float(probs[label]) for label in labels)
    if total > 1 + _MASS_TOLERANCE:  # the labels are disjoint answers: P(PASS)=1 and P(FAIL)=1 is no verdict
        shown = ", ".join(f"P({label})={float(probs[label]):.3g}" for label in labels)
        return f"the backend's label probabilities sum to {total:.3g} > 1 ({shown}): not a distribution"
    return None


@dataclass(frozen=True)
class LabelReading:
    """Normalised label probabilities, the raw mass on the labels, and which labels had to be bounded."""

    probs: dict[str, float] | None
    mass: float
    bounded: tuple[str, ...] = ()
    error: str | None = None


# Some servers return raw vocabulary pieces, where a leading space is spelled as a marker.
_SPACE_MARKERS = str.maketrans({"\u0120": " ", "\u2581": " "})  # byte-level BPE "Ġ", SentencePiece "▁"


def _owner(token: str, folded_labels: dict[str, str]) -> str | None:
    text = token.translate(_SPACE_MARKERS).strip().casefold()
    if not text:
        return None
    owners = [label for label, folded in folded_labels.items() if folded.startswith(text)]
    return owners[0] if len(owners) == 1 else None


def read_labels(top: Sequence[tuple[str, float]], labels: Sequence[str]) -> LabelReading:
    """Map (token, logprob) alternatives for the first answer token onto ``labels``.

    A label missing from the list is not impossible, only less likely than every listed token and no more
    likely than the mass left unlisted; its probability is taken as that upper bound (the smaller of the two)
    rather than 0, so a short list never turns into false certainty. With no label among the alternatives
    the reading is an error."""
    folded = {label: label.strip().casefold() for label in labels}
    # log-probabilities of the distinct finite alternatives, and of each label's tokens
    listed: list[float] = []
    owned: dict[str, list[float]] = {label: [] for label in labels}
    tokens_seen: set[str] = set()
    for token, logprob in top:
        if token in tokens_seen or not math.isfinite(logprob):  # a server may repeat the chosen token
            continue
        tokens_seen.add(token)
        logprob = min(0.0, logprob)
        listed.append(logprob)
        label = _owner(token, folded)
        if label is not None:
            owned[label].append(logprob)
    seen = {label: bool(owned[label]) for label in labels}
    if not any(seen.values()):
        shown = ", ".join(f"{token!r}" for token, _ in list(top)[:5]) or "nothing"
        return LabelReading(
            probs=None,
            mass=0.0,
            error=(
                f"none of {'/'.join(labels)} among the judge's top {len(listed)} first tokens (it began with {shown})"
            ),
        )
    mass = min(1.0, sum(math.exp(lp) for lps in owned.values() for lp in lps))
    # Normalise relative to the likeliest label token, so extreme log-probabilities (-1000) neither underflow
    # to 0/0 nor overflow: only ratios matter once the labels are renormalised.
    shift = max(lp for lps in owned.values() for lp in lps)
    relative = {label: sum(math.exp(lp - shift) for lp in owned[label]) for label in labels}
    bounded = tuple(label for label in labels if not seen[label])
    if bounded:
        rest = max(0.0, 1.0 - sum(math.exp(lp) for lp in listed))
        scale = math.exp(shift)
        bound = math.exp(min(listed) - shift)
        if scale > 0:
            bound = min(bound, rest / scale)
        for label in bounded:
            relative[label] = bound
    total = sum(relative.values())  # >= 1: the likeliest label token contributes exp(0)
    return LabelReading(probs={label: p / total for label, p in relative.items()}, mass=mass, bounded=bounded)
