"""The transformers backend's ``prefill: batched`` (issue 32): few, wide forward passes instead of one per group.

The grouped prefill runs each prefix group's shared prefix alone, then that group's suffixes over copies of its KV
cache: for a GRPO batch, dozens of small passes launched one after another. Here a pass holds up to ``max_batch``
rows whichever group they come from. The groups' prefixes run together, right-padded; then every suffix row
continues from its own group's row of that cache (gathered by index), with its own positions (its prefix length
onward) and an attention mask that hides the other groups' padded prefix slots. Prompts that share nothing run
together too, right-padded, with no cache.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from judgerl.backends.prefix_plan import PrefixGroup, chunks


def cache_of(output: Any) -> Any:
    """The KV cache of a forward pass's output, under either of its names (``cache`` in recent transformers 5.x
    releases, ``past_key_values`` before)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def gather_rows(cache: Any, index: torch.Tensor) -> Any:
    """A cache holding ``cache``'s batch rows ``index`` (repeats allowed), leaving ``cache`` as it was: the layers
    are copied shallowly and each selects new tensors, so the suffix pass appends to those alone."""
    rows = copy.copy(cache)
    rows.layers = [copy.copy(layer) for layer in cache.layers]
    rows.batch_select_indices(index)
    return rows


class BatchedPrefill:
    """Runs a prefix plan's prompts in passes of at most ``max_batch`` rows through a decoder ``body``."""

    def __init__(self, body: Any, cache_arg: str, *, max_batch: int, pad_id: int, device: torch.device) -> None:
        self.body = body
        self.cache_arg = cache_arg
        self.max_batch = max_batch
        self.pad_id = pad_id
        self.device = device

    def run(self, ids: Sequence[Sequence[int]], plan: Sequence[PrefixGroup]) -> dict[int, torch.Tensor]:
        """The last layer's state after each planned prompt (what its next-token logits are read from), by index."""
        states: dict[int, torch.Tensor] = {}
        # Similar prefix lengths together keep the prefix passes' padding small.
        groups = sorted((g for g in plan if g[1] > 0), key=lambda g: g[1])
        for wave in [groups[k : k + self.max_batch] for k in range(0, len(groups), self.max_batch)]:
            cache, width = self._prefixes(ids, wave)
            rows = [(i, shared, g) for g, (members, shared) in enumerate(wave) for i in members]
            rows.sort(key=lambda row: len(ids[row[0]]) - row[1])  # similar suffix lengths together
            for chunk in [rows[k : k + self.max_batch] for k in range(0, len(rows), self.max_batch)]:
                index = torch.tensor([g for _, _, g in chunk], device=self.device)
                found = self._suffixes(ids, [(i, shared) for i, shared, _ in chunk], gather_rows(cache, index), width)
                states.update(zip([i for i, _, _ in chunk], found, strict=True))
        alone = sorted((i for members, shared in plan if shared == 0 for i in members), key=lambda i: len(ids[i]))
        for chunk_ids in chunks(alone, self.max_batch):
            states.update(zip(chunk_ids, self._suffixes(ids, [(i, 0) for i in chunk_ids], None, 0), strict=True))
        return states

    def _prefixes(self, ids: Sequence[Sequence[int]], wave: Sequence[PrefixGroup]) -> tuple[Any, int]:
        """One right-padded pass over the groups' shared prefixes; returns its cache and its width."""
        width = max(shared for _, shared in wave)
        batch = torch.full((len(wave), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(wave), width), dtype=torch.long)
        for row, (members, shared) in enumerate(wave):
            batch[row, :shared] = torch.tensor(ids[members[0]][:shared])
            mask[row, :shared] = 1
        positions = torch.arange(width).expand(len(wave), width)
        out = self.body(
            input_ids=batch.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            use_cache=True,
        )
        cache = cache_of(out)
        # A sliding-window layer keeps only the last slots of each row, and those are padding for the shorter
        # prefixes: the grouped passes handle such models (the caller falls back to them on this error).
        if any(getattr(layer, "is_sliding", False) for layer in cache.layers):
            raise NotImplementedError("sliding-window attention caches cannot be batched across prefixes")
        return cache, width

    def _suffixes(
        self, ids: Sequence[Sequence[int]], rows: Sequence[tuple[int, int]], cache: Any, past: int
    ) -> list[torch.Tensor]:
        """One right-padded pass over prompts ``rows`` (index, tokens already in its ``cache`` row, whose width is
        ``past``): each row's positions continue from its own prefix, and only that prefix's slots are visible."""
        lengths = [len(ids[i]) - start for i, start in rows]
        width = max(lengths)
        batch = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), past + width), dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        for row, ((i, start), n) in enumerate(zip(rows, lengths, strict=True)):
            batch[row, :n] = torch.tensor(ids[i][start:])
            mask[row, :start] = 1  # slots past this row's own prefix are another group's padding
            mask[row, past : past + n] = 1
            positions[row] = torch.arange(start, start + width)
        extra = {} if cache is None else {self.cache_arg: cache}
        hidden = self.body(
            input_ids=batch.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            use_cache=cache is not None,
            **extra,
        ).last_hidden_state
        last = hidden[torch.arange(len(rows), device=self.device), torch.tensor(lengths, device=self.device) - 1]
        return list(last.unbind(0))
