"""Which first tokens stand for each label, for in-process backends that read label probabilities from the logits
at the answer position (transformers and llama.cpp share this; only their tokenizers differ)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from judgerl.errors import JudgerlError

log = logging.getLogger(__name__)


def label_first_tokens(
    labels: Sequence[str],
    tokenize: Callable[[str], Sequence[int]],
    token_text: Callable[[int], str],
    cache: dict[tuple[str, ...], dict[str, list[int]]],
) -> dict[str, list[int]]:
    """Each label's candidate first tokens: the label as written, lowercase, capitalised and uppercase, with and
    without a leading space (``tokenize`` adds no special tokens). Kept in ``cache`` per label tuple; labels whose
    candidates share a token are logged, since their probabilities then overlap."""
    key = tuple(labels)
    if key in cache:
        return cache[key]
    if not labels or len(set(labels)) != len(labels) or not all(label.strip() for label in labels):
        raise JudgerlError(f"labels must be distinct, non-empty strings; got {list(labels)}")
    ids: dict[str, list[int]] = {}
    for label in labels:
        found: list[int] = []
        for form in dict.fromkeys((label, label.lower(), label.capitalize(), label.upper())):
            for variant in (form, " " + form):
                tokens = tokenize(variant)
                if tokens and int(tokens[0]) not in found:
                    found.append(int(tokens[0]))
        ids[label] = found
    owners: dict[int, list[str]] = {}
    for label, tokens in ids.items():
        for t in tokens:
            owners.setdefault(t, []).append(label)
    shared = {token_text(t): names for t, names in owners.items() if len(names) > 1}
    if shared:
        log.warning("labels share first tokens, so their probabilities overlap: %s", shared)
    cache[key] = ids
    return ids
