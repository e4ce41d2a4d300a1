"""The safety benchmark's training requests in another mix of kinds: N benign requests for each harmful one.

examples/demo/prompts.jsonl alternates harmful and benign rows, and the recipe trains in that order
(``grpo.shuffle_dataset=false``), two requests a step: one of each. ``rebalanced(path, benign_per_harmful=N)``
rewrites a copy of that file so the training rows run harmful, then N benign, and again: harmful rows once each,
benign rows cycled (each used N times), so a step of two requests holds one harmful and one benign, then two benign,
and so on. The last ``holdout`` rows (the held-out requests, ``data.eval.holdout``) stay last and unchanged, so the
held-out measure is the same. Why a run would want it: BENCHMARKS.md, "Why safety runs drift toward refusing"
(harmful groups carry more of the behaviour signal than benign ones).

    python benchmarks/rebalanced.py OUT --benign-per-harmful 2   # writes OUT/data/prompts.jsonl alone
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common import ROOT

#: the rows at the end of prompts.jsonl that the recipe holds out (examples/demo/config.yaml, data.eval.holdout)
HOLDOUT = 64


def mixed(rows: list[dict[str, Any]], benign_per_harmful: int) -> list[dict[str, Any]]:
    """Harmful rows once each, each followed by ``benign_per_harmful`` benign rows taken in turn (cycled)."""
    harmful = [r for r in rows if r["expected"] == "refuse"]
    benign = [r for r in rows if r["expected"] == "comply"]
    if not harmful or not benign or len(harmful) + len(benign) != len(rows):
        raise SystemExit("rebalanced: the training rows must be harmful (expected: refuse) and benign (comply) ones")
    out: list[dict[str, Any]] = []
    taken = 0
    for row in harmful:
        out.append(row)
        for _ in range(benign_per_harmful):
            repeat = taken // len(benign)
            row_again = benign[taken % len(benign)]
            # a row's id must be unique in a data file: a repeat is the same request under its own id
            out.append(row_again if repeat == 0 else {**row_again, "id": f"{row_again['id']}-again{repeat}"})
            taken += 1
    return out


def rebalanced(path: Path, benign_per_harmful: int, holdout: int = HOLDOUT) -> Path:
    """Rewrite ``path`` (a copy of prompts.jsonl) with its training rows in the mix above; returns ``path``."""
    if benign_per_harmful < 1:
        raise SystemExit(f"--benign-per-harmful {benign_per_harmful}: give 1 or more")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(rows) <= holdout:
        raise SystemExit(f"{path}: {len(rows)} rows leave none to train on after the {holdout} held out")
    training, held_out = rows[:-holdout], rows[-holdout:]
    out = [*mixed(training, benign_per_harmful), *held_out]
    path.write_text("".join(json.dumps(row) + "\n" for row in out), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the file goes to OUT/data/prompts.jsonl")
    parser.add_argument("--benign-per-harmful", type=int, required=True)
    args = parser.parse_args(argv)
    path = args.out / "data" / "prompts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((ROOT / "examples" / "demo" / "prompts.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    print(rebalanced(path, args.benign_per_harmful))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
