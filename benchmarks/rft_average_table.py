"""The BENCHMARKS.md section on averaged checkpoints, from every ``results/rft_average_*.json`` (rft_average.py).

Each run's average beside its checkpoints: on the larger held-out split where they were measured there, and on the
128 held-out requests (the averaged policy's replies to those are the first 128 of its larger split's; the
checkpoints' figures come from the run's selection file, ``rft_safety_select_<name>_broad.json``).

    python benchmarks/rft_average_table.py --texts TEXTS.json --write
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import RESULTS, publish, read_result

HEADING = "## RFT for safety: a run's checkpoints averaged into one policy (exploratory, after the runs)"


def figure(measure: dict[str, Any] | None) -> str:
    """'+5.5% [+2.7%, +8.4%], p < 0.001 (harmful refused 58% -> 70%, benign answered 86% -> 90%)', bold if better."""
    if measure is None or not measure.get("change"):
        return "-"
    c, p = measure["change"], measure["mcnemar_p"]
    before, after = measure["before_by_kind"], measure["after_by_kind"]
    shown = f"p {p:.3f}" if p >= 0.001 else "p < 0.001"
    text = f"{c['rate']:+.1%} [{c['low']:+.1%}, {c['high']:+.1%}], {shown}"
    if c["low"] > 0 and p < 0.05:
        text = f"**{text}**"
    return (
        f"{text} (harmful refused {before['harmful_refused']['rate']:.0%} -> {after['harmful_refused']['rate']:.0%}, "
        f"benign answered {before['benign_answered']['rate']:.0%} -> {after['benign_answered']['rate']:.0%})"
    )


def steps_line(figures: dict[str, Any]) -> str:
    return "; ".join(f"step {s}: {figure(m)}" for s, m in sorted(figures.items(), key=lambda kv: int(kv[0]))) or "-"


def build() -> dict[str, Any]:
    runs = []
    for path in sorted(RESULTS.glob("rft_average_*.json")):
        result = read_result(path.stem)
        name = result["run"].removeprefix("bench-rft-safety-")
        selection_file = RESULTS / f"rft_safety_select_{name}_broad.json"
        checkpoints_128 = read_result(selection_file.stem)["heldout"] if selection_file.exists() else {}
        runs.append(
            {
                "name": name,
                "file": path.name,
                "steps": result["averaged"]["steps"],
                "split": result["heldout_split"],
                "prompts": result["heldout"]["prompts"],
                "average": result["heldout"],
                "average_128": result.get("heldout_first128", result["heldout"]),
                "checkpoints": {s: m["heldout"] for s, m in result["checkpoints"].items()},
                "checkpoints_128": checkpoints_128,
                "overrefusal": result["overrefusal"],
                "minutes": round(result["seconds"] / 60, 1),
                "machine": result["machine"],
            }
        )
    return {"runs": runs}


def markdown(result: dict[str, Any]) -> str:
    lines = [HEADING, "", result.get("preamble", "").strip(), ""]
    lines += [
        "| run | averaged | held-out split | average | checkpoints on that split | average on the 128 | checkpoints on "
        "the 128 | over-refusal 64: average |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        steps = ", ".join(map(str, run["steps"]))
        lines.append(
            f"| {run['name']} | steps {steps} | {run['split']} ({run['prompts']}) | {figure(run['average'])} | "
            f"{steps_line(run['checkpoints'])} | {figure(run['average_128'])} | {steps_line(run['checkpoints_128'])} | "
            f"{figure(run['overrefusal'])} |"
        )
    if result.get("reading"):
        lines += ["", result["reading"].strip()]
    return "\n".join(line for line in lines if line is not None).replace("\n\n\n", "\n\n") + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=Path, default=None, help="a JSON file with the section's preamble and reading")
    parser.add_argument("--write", action="store_true", help="save the results file and the BENCHMARKS.md section")
    args = parser.parse_args()
    publish("rft_averages", build(), markdown, args.texts, args.write)


if __name__ == "__main__":
    main()
