"""Idempotency keys of stored verdicts: a retried batch (a trainer retrying a reward call, a client resending a
request) must not store its samples twice.

A sample's key hashes what makes it the same judged sample within a run: the step, the source, its id and the
texts judged (prompt, response, reference). Two samples with the same key in one run are one sample stored
twice; ``samples(run_id, sample_key)`` is unique (schema migration 2). Pairs likewise.
"""

from __future__ import annotations

import hashlib
import json


def _digest(*parts: object) -> str:
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def sample_key(step: int, source: str, sample_id: str, prompt_hash: str, response: str, reference: str | None) -> str:
    return _digest("sample", step, source, sample_id, prompt_hash, response, reference)


def pair_key(
    step: int, source: str, pair_id: str, prompt_hash: str, response_a: str, response_b: str, reference: str | None
) -> str:
    return _digest("pair", step, source, pair_id, prompt_hash, response_a, response_b, reference)
