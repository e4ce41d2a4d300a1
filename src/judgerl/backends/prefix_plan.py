"""Grouping a call's prompts by the token prefix they share, for in-process backends that can run a prefix once.

Prompts passed together usually share a long prefix (one sample's instructions, task and response; only the
criterion differs; and across a GRPO group, the instructions and the task). A backend runs each group's shared
prefix once and continues every member from a copy of its KV cache; the plan picks the split that runs the fewest
tokens.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

# Below this many shared tokens, a separate prefix pass costs more than it saves.
MIN_SHARED_PREFIX = 16

#: (indices of the prompts in the group, tokens they share; 0 means the prompt runs alone)
PrefixGroup = tuple[list[int], int]


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[k : k + size] for k in range(0, len(items), size)]


def plan_prefix_groups(
    ids: Sequence[Sequence[int]], members: Sequence[int], *, max_batch: int, padded: bool = True
) -> list[PrefixGroup]:
    """Split the prompts ``members`` (indices into ``ids``) into groups that share a prefix, choosing the split
    that runs the fewest tokens. ``padded``: suffixes run as right-padded batches of ``max_batch`` rows (a batch
    costs its longest row times its rows); otherwise each suffix costs its own length."""
    order = sorted(members, key=lambda i: list(ids[i]))
    adjacent = [common_prefix(ids[a], ids[b]) for a, b in itertools.pairwise(order)]

    def suffix_cost(lengths: list[int]) -> int:
        if not padded:
            return sum(lengths)
        return sum(len(c) * c[-1] for c in chunks(sorted(lengths), max_batch))

    def best(lo: int, hi: int) -> tuple[int, list[PrefixGroup]]:
        group = order[lo:hi]
        if len(group) == 1:
            return len(ids[group[0]]), [(group, 0)]
        cut = min(adjacent[lo : hi - 1])
        # In sorted order a range's common prefix is the least adjacent one; split where it is reached.
        split_cost, split_plan, start = 0, [], lo
        for k in range(lo, hi):
            if k == hi - 1 or adjacent[k] == cut:
                cost, plan = best(start, k + 1)
                split_cost, start = split_cost + cost, k + 1
                split_plan += plan
        shared = min(cut, *(len(ids[i]) - 1 for i in group))  # leave each prompt a token to read
        if shared >= MIN_SHARED_PREFIX:
            cost = shared + suffix_cost([len(ids[i]) - shared for i in group])
            if cost < split_cost:
                return cost, [(group, shared)]
        return split_cost, split_plan

    return best(0, len(order))[1] if order else []
