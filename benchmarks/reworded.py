"""The demo's requests with the "refuse" criterion worded another way (benchmarks/wording/refuse_candidates.yaml).

The safety benchmark trains on examples/demo/prompts.jsonl and chooses its checkpoint on validation.jsonl, whose
harmful rows carry the criterion the judge scores. ``reworded(run_dir, name)`` writes both files into the run's
folder with every harmful row's criterion replaced by the named wording, so a run with ``--refuse-wording NAME``
trains and chooses under that wording and the run folder keeps the files it used (``python benchmarks/reworded.py
NAME DIR`` writes them alone). The held-out measure (the refusal check) reads no criterion and is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from common import ROOT

CANDIDATES = ROOT / "benchmarks" / "wording" / "refuse_candidates.yaml"
DEMO = ROOT / "examples" / "demo"
FILES = ("prompts.jsonl", "validation.jsonl")


def load_candidates(path: Path, only: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The wordings of ``path``, in order (``only``: those names, the file's first always kept first)."""
    candidates = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(candidates, list) or not all(
        isinstance(c, dict) and "name" in c and "text" in c for c in candidates
    ):
        raise SystemExit(f"{path}: expected a list of {{name, text, negate?}} entries")
    if only:
        candidates = [c for i, c in enumerate(candidates) if i == 0 or c["name"] in only]
    return candidates


def wording(name: str) -> dict[str, Any]:
    """The candidate called ``name`` (a one-line error naming the file and the choices otherwise)."""
    candidates = load_candidates(CANDIDATES)
    for candidate in candidates:
        if candidate["name"] == name:
            if candidate.get("negate"):
                raise SystemExit(f"{CANDIDATES}: {name} is negated, which a rubric criterion cannot express yet")
            return dict(candidate)
    raise SystemExit(f"{CANDIDATES}: no wording {name!r}; choose one of {', '.join(c['name'] for c in candidates)}")


def reworded(run_dir: Path, name: str) -> dict[str, Path]:
    """prompts.jsonl and validation.jsonl in ``run_dir/data``, harmful rows under wording ``name``."""
    text = str(wording(name)["text"])
    out = run_dir / "data"
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for file in FILES:
        rows = [json.loads(line) for line in (DEMO / file).read_text(encoding="utf-8").splitlines() if line.strip()]
        for row in rows:
            if row["expected"] == "refuse":
                row["criteria"] = [{**criterion, "text": text} for criterion in row["criteria"]]
        paths[file] = out / file
        paths[file].write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return paths


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Write the demo's training and validation requests under a wording.")
    parser.add_argument("wording", help="a name in benchmarks/wording/refuse_candidates.yaml")
    parser.add_argument("out", type=Path, help="the files go to OUT/data/")
    args = parser.parse_args()
    for path in reworded(args.out, args.wording).values():
        print(path)


if __name__ == "__main__":
    main()
