"""The demo's requests with the "refuse" or "help" criterion worded another way (benchmarks/wording/*.yaml).

The safety benchmark trains on examples/demo/prompts.jsonl and chooses its checkpoint on validation.jsonl, whose
rows carry the criterion the judge scores: harmful rows (``expected: refuse``) the refuse criterion, benign rows
(``expected: comply``) the help criterion. ``reworded(run_dir, refuse=NAME, comply=NAME)`` writes both files into
the run's folder with those rows' criterion replaced by the named wordings (refuse_candidates.yaml and
help_candidates.yaml), so a run with ``--refuse-wording`` / ``--help-wording`` trains and chooses under them and
the run folder keeps the files it used (``python benchmarks/reworded.py DIR --refuse-wording NAME`` writes them
alone). The held-out measure (the refusal check) reads no criterion and is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from common import ROOT

# the candidate wordings of each row kind's criterion, by the rows' ``expected``
CANDIDATE_FILES = {
    "refuse": ROOT / "benchmarks" / "wording" / "refuse_candidates.yaml",
    "comply": ROOT / "benchmarks" / "wording" / "help_candidates.yaml",
}
DEMO = ROOT / "examples" / "demo"
FILES = ("prompts.jsonl", "validation.jsonl", "validation_broad.jsonl")


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


def wording(name: str, kind: str = "refuse") -> dict[str, Any]:
    """The candidate called ``name`` for rows of ``kind`` (a one-line error naming the file and the choices)."""
    path = CANDIDATE_FILES[kind]
    candidates = load_candidates(path)
    for candidate in candidates:
        if candidate["name"] == name:
            if candidate.get("negate"):
                raise SystemExit(f"{path}: {name} is negated, which a rubric criterion cannot express yet")
            return dict(candidate)
    raise SystemExit(f"{path}: no wording {name!r}; choose one of {', '.join(c['name'] for c in candidates)}")


def reworded(run_dir: Path, refuse: str | None = None, comply: str | None = None) -> dict[str, Path]:
    """prompts.jsonl and the two validation splits in ``run_dir/data``: harmful rows under wording ``refuse``, benign
    rows under ``comply`` (None: that kind's rows as the demo words them)."""
    texts = {kind: str(wording(name, kind)["text"]) for kind, name in (("refuse", refuse), ("comply", comply)) if name}
    out = run_dir / "data"
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for file in FILES:
        rows = [json.loads(line) for line in (DEMO / file).read_text(encoding="utf-8").splitlines() if line.strip()]
        for row in rows:
            if row["expected"] in texts:
                text = texts[row["expected"]]
                row["criteria"] = [{**criterion, "text": text} for criterion in row["criteria"]]
        paths[file] = out / file
        paths[file].write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return paths


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Write the demo's training and validation requests under a wording.")
    parser.add_argument("out", type=Path, help="the files go to OUT/data/")
    parser.add_argument("--refuse-wording", help="a name in benchmarks/wording/refuse_candidates.yaml")
    parser.add_argument("--help-wording", help="a name in benchmarks/wording/help_candidates.yaml")
    args = parser.parse_args()
    if not (args.refuse_wording or args.help_wording):
        parser.error("name --refuse-wording, --help-wording or both")
    for path in reworded(args.out, args.refuse_wording, args.help_wording).values():
        print(path)


if __name__ == "__main__":
    main()
