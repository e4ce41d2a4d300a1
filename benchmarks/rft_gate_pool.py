"""The judge's gates of a round's runs pooled: every seed's gate samples replies of the same base policy, so their
replies together measure how well the judge ranks that policy's replies (within-criterion AUC, by criterion).

Used by rft_preregistered_table.py. A run's folder can be lost with its machine, so the replies read once are kept in
the round's results file and read back from there (``kept``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def gate_items(runs_dir: Path, prefix: str, seeds: list[int], kept: dict[str, Any] | None = None) -> dict[str, Any]:
    """Each seed's gate replies as [criteria, judge score, checker passed], read from its run folder, or from
    ``kept`` (an earlier results file's ``gate_pooled.items``) where the folder is gone: a run's folder can be lost
    with its machine, and the pooled figure must not silently shrink to the seeds that survived."""
    items: dict[str, Any] = {}
    for seed in seeds:
        gate_file = runs_dir / f"bench-rft-safety-{prefix}-s{seed}" / "eval" / "judge_gate.json"
        if gate_file.exists():
            items[str(seed)] = [
                [item["criteria"], float(item["judge_score"]), bool(item["checker"])]
                for item in json.loads(gate_file.read_text(encoding="utf-8"))["items"]
                if item.get("judge_score") is not None
            ]
        elif kept and str(seed) in kept:
            items[str(seed)] = kept[str(seed)]
    return items


def pooled_gate(
    runs_dir: Path, prefix: str, seeds: list[int], kept: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The gates' replies of every seed pooled (each seed's gate samples replies of the same base policy): the
    judge's within-criterion AUC on all of them, and on each criterion, with bootstrap 95% intervals."""
    from judgerl.train.gate import auc_interval, within_group_auc

    per_seed = gate_items(runs_dir, prefix, seeds, kept)
    groups: dict[str, tuple[list[float], list[bool]]] = {}
    found = [seed for seed in seeds if str(seed) in per_seed]
    for seed in found:
        for criteria_text, score, checker in per_seed[str(seed)]:
            group = groups.setdefault(criteria_text, ([], []))
            group[0].append(score)
            group[1].append(checker)
    if not found:
        return None
    value, low, high = within_group_auc(groups)
    criteria = {}
    for criteria_text, (scores, labels) in groups.items():
        auc, c_low, c_high = auc_interval(scores, labels)
        criteria[criteria_text] = {"auc": auc, "low": c_low, "high": c_high, "replies": len(scores)}
    replies = sum(len(scores) for scores, _ in groups.values())
    return {
        "seeds": len(found),
        "seed_list": found,  # the seeds whose gate replies were found, in their folder or kept from before
        "replies": replies,
        "auc": value,
        "low": low,
        "high": high,
        "criteria": criteria,
        "items": per_seed,  # kept in the results file for when a folder is lost
    }
