"""Which verdict a rationale argues for, read from its words where they decide it (no model call).

Small judges fail in two recognisable ways, both readable without a model:
- they restate the criterion as if it held ("The response does not ask for a password or a full card number")
  under a FAIL verdict, or restate it negated ("the final answer is not the same number as the reference's")
  under a PASS one: the criterion's words in order, with or without an added negation;
- they open with the stance outright ("The response does not meet the criterion because ...").
A restatement decides the stance (its negations counted against the criterion's), else an opening stance does;
otherwise the reading is left to the judge's own probabilities (judgerl.judges.rationales).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_NEGATIONS = frozenset({"not", "no", "never", "none", "nor", "without", "cannot", "fails", "fail", "isn't", "doesn't",
                        "don't", "didn't", "aren't", "wasn't", "won't", "lacks"})  # fmt: skip
_OPENING = re.compile(
    r"^\W*(?:the\s+)?(?:response|reply|answer|it)\s+"
    r"(?P<stance>does\s+not\s+meet|doesn't\s+meet|fails(?:\s+to\s+meet)?|does\s+not\s+satisfy|meets|satisfies)"
    r"\s+(?:the\s+|this\s+)?criterion\b[\s,:;.-]*(?:because|since|as)?",
    re.I,
)
#: words a restatement may leave out of the middle of the criterion without changing what it says
_LINKING = frozenset({"the", "a", "an", "of", "to", "and", "or", "its", "their", "any", "all", "that", "which",
                      "is", "are", "be", "in", "on", "for", "with", "by", "this", "it"})  # fmt: skip
#: share of the criterion's words that must appear in order for a restatement
RESTATEMENT_SHARE = 0.75
#: ... or at least this many of them (a long criterion's first clauses restated)
RESTATEMENT_WORDS = 8
_MIN_CRITERION_WORDS = 5


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _aligned(criterion: list[str], text: list[str]) -> tuple[list[int], list[int]] | None:
    """Longest in-order match of the criterion's non-negation words in the text: (the matched words' positions
    among those words, their positions in the text); None without a match."""
    wanted = [w for w in criterion if w not in _NEGATIONS]
    rows, cols = len(wanted), len(text)
    best = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(cols - 1, -1, -1):
            if wanted[i] == text[j]:
                best[i][j] = 1 + best[i + 1][j + 1]
            else:
                best[i][j] = max(best[i + 1][j], best[i][j + 1])
    if best[0][0] == 0:
        return None
    wanted_positions: list[int] = []
    positions: list[int] = []
    i, j = 0, 0
    while i < rows and j < cols:
        if wanted[i] == text[j]:
            wanted_positions.append(i)
            positions.append(j)
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return wanted_positions, positions


def restated_stance(criterion_text: str, rationale: str) -> bool | None:
    """True when the rationale restates the criterion as holding, False when it restates it negated, None when it
    does not restate it."""
    criterion = _words(criterion_text)
    text = _words(rationale)
    content = [w for w in criterion if w not in _NEGATIONS]
    if len(content) < _MIN_CRITERION_WORDS or not text:
        return None
    aligned = _aligned(criterion, text)
    if aligned is None:
        return None
    matched_content, positions = aligned
    matched, first, last = len(positions), positions[0], positions[-1]
    # the criterion's words, or its first clauses (small judges quote the start), most of the span's words
    enough = min(RESTATEMENT_SHARE * len(content), RESTATEMENT_WORDS)
    if matched < enough or matched < RESTATEMENT_SHARE * (last - first + 1):
        return None
    # a restatement may stop early, but not skip what the criterion says of its subject: "the final answer ... is
    # 8, while the reference's final answer is 6" is not "... is the same number as the reference's final answer"
    skipped = set(range(matched_content[0], matched_content[-1] + 1)) - set(matched_content)
    if any(content[k] not in _LINKING for k in skipped):
        return None
    in_text = sum(1 for w in text[first : last + 1] if w in _NEGATIONS)
    # the criterion's negations up to the last word restated: a later clause's "no" is not part of the restatement
    content_at = [k for k, w in enumerate(criterion) if w not in _NEGATIONS]
    in_criterion = sum(1 for w in criterion[: content_at[matched_content[-1]] + 1] if w in _NEGATIONS)
    return (in_text - in_criterion) % 2 == 0


def opening_stance(rationale: str) -> tuple[bool | None, str]:
    """The stance an opening like "The response does not meet the criterion because" states (None without one),
    and the rest of the rationale."""
    match = _OPENING.match(rationale)
    if match is None:
        return None, rationale
    stance = match.group("stance").lower()
    return stance.startswith(("meets", "satisfies")), rationale[match.end() :]


def read_stance(criterion_text: str, rationale: str) -> bool | None:
    """Whether the rationale argues the criterion is met, where its words decide it; None where they do not."""
    opened, body = opening_stance(rationale)
    restated = restated_stance(criterion_text, body)
    return restated if restated is not None else opened
