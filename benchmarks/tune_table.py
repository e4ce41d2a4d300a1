"""The `judgerl tune` figures of docs/validation.md: one table row per tune run, and a plot of every candidate's
cross-validated figure beside the held-apart figures of the chosen and the plain verdict, with the issue's goal.

Reads the `summary.json` files that `judgerl tune ... -o benchmarks/results/tune/<run>` wrote; measures nothing.

    python benchmarks/tune_table.py            # the section to stdout
    python benchmarks/tune_table.py --write    # into docs/validation.md, and the plot to docs/validation/tune.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from common import RESULTS as ALL_RESULTS
from common import ROOT, write_section

RESULTS = ALL_RESULTS / "tune"
DOC = ROOT / "docs" / "validation.md"
PLOT = ROOT / "docs" / "validation" / "tune.png"
HEADING = "## Figures of `judgerl tune`: both packaged judges, confirmed on held-apart items"

# run-name prefix -> (what the data is, the goal on the held-apart figure)
DATA_SETS: dict[str, tuple[str, float]] = {
    "refusal": ("refusal-labelled replies (AUC)", 0.95),
    "gsm8k": ("final answers against a reference (AUC)", 0.97),
    "llmbar_natural": ("human-labelled pairs, LLMBar Natural (order-averaged accuracy)", 0.80),
    "hh_harmless": ("harmlessness pairs, hh-rlhf harmless dev (order-averaged accuracy)", 0.65),
}


def load_runs(folder: Path = RESULTS) -> list[dict[str, Any]]:
    """Every tune run's summary with its run name and data set, in DATA_SETS order then by judge."""
    runs = []
    for path in sorted(folder.glob("*/summary.json")):
        summary = json.loads(path.read_text())
        summary["run"] = path.parent.name
        summary["data_set"] = next(key for key in DATA_SETS if summary["run"].startswith(key))
        runs.append(summary)
    order = list(DATA_SETS)
    return sorted(runs, key=lambda r: (order.index(r["data_set"]), r["judge_model"], r["run"]))


def _figure(figure: dict[str, Any]) -> str:
    return f"{figure['value']:.3f} [{figure['low']:.3f}, {figure['high']:.3f}]"


def table(runs: list[dict[str, Any]]) -> str:
    """The markdown table: one row per run."""
    lines = [
        "| judge | data (items: tuned + held apart) | goal | chosen (cv; runner-up) | held apart: chosen | "
        "held apart: plain log-prob | cost vs plain (tokens) | reached? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        what, goal = DATA_SETS[run["data_set"]]
        ranked = sorted(run["candidates"], key=lambda c: -c["cv"])
        chosen_cv = next(c["cv"] for c in run["candidates"] if c["name"] == run["chosen"])
        runner = next((c for c in ranked if c["name"] != run["chosen"]), None)
        runner_text = f"; {runner['name']} {runner['cv']:.3f}" if runner else ""
        held = run["heldout"]["figure"]
        reached = "yes" if held["value"] >= goal else "no"
        if reached == "yes" and held["low"] < goal:
            reached = "yes, on the point estimate"
        asked = ", with the task's instruction" if run["kind"] == "pair" and " --rubric " in run["command"] else ""
        lines.append(
            f"| {run['judge_model']} | {what}{asked} ({run['train_items']} + {run['heldout_items']}) | >= {goal:.2f} | "
            f"`{run['chosen']}` ({chosen_cv:.3f}{runner_text}) | {_figure(held)} | {_figure(run['plain']['figure'])} | "
            f"{run['cost_ratio_tokens']:.2f}x | {reached} |"
        )
    return "\n".join(lines)


def section(runs: list[dict[str, Any]]) -> str:
    """The docs/validation.md section: the table, the plot and every run's command."""
    commands = "\n".join(run["command"] for run in runs)
    return f"""{HEADING}

Written by `python benchmarks/tune_table.py --write` from each run's `benchmarks/results/tune/<run>/summary.json`
(its command, every candidate's cross-validated figure, the held-apart figures). The packaged judges in-process
(bf16) on a 2-core machine shared with other jobs (seconds are that machine's; only ratios mean much). The held-apart
items (30%) chose nothing; brackets are 95% bootstrap intervals. The pair runs marked by a `--rubric` in their
command give the judge the instruction the labels reward (`data/*/instruction_pairs.yaml`,
`data/*/harmless_pairs.yaml`) as domain instructions; the others ask the default question.

{table(runs)}

![every candidate's cross-validated figure and the held-apart figures, per data set and judge](validation/tune.png)

Commands, in the table's order:

```bash
{commands}
```
"""


def plot(runs: list[dict[str, Any]], out: Path) -> None:
    """One panel per data set: each candidate's cross-validated figure per judge (dots), the held-apart figure of
    the chosen and the plain verdict with 95% intervals (bars), and the goal (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [key for key in DATA_SETS if any(r["data_set"] == key for r in runs)]
    columns = min(2, len(sets))
    rows = -(-len(sets) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.0 * columns, 4.4 * rows), squeeze=False)
    for ax, key in zip(axes.flat, sets, strict=False):
        what, goal = DATA_SETS[key]
        members = [r for r in runs if r["data_set"] == key]
        names = sorted({c["name"] for r in members for c in r["candidates"]})
        labels = [*names, "held apart: chosen", "held apart: plain"]
        for offset, run in enumerate(members):
            shift = (offset - (len(members) - 1) / 2) * 0.25
            tag = f"{run['judge_model']} ({run['train_items']}+{run['heldout_items']})"
            cv = {c["name"]: c["cv"] for c in run["candidates"]}
            xs = [i + shift for i, n in enumerate(names) if n in cv]
            line = ax.plot(xs, [cv[n] for n in names if n in cv], "o", label=tag)[0]
            for j, part in enumerate(("heldout", "plain")):
                figure = run[part]["figure"]
                x = len(names) + j + shift
                ax.errorbar(
                    [x],
                    [figure["value"]],
                    yerr=[[figure["value"] - figure["low"]], [figure["high"] - figure["value"]]],
                    fmt="s",
                    color=line.get_color(),
                    capsize=3,
                )
        ax.axhline(goal, linestyle="--", color="grey", linewidth=1)
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylim(0.0, 1.05)
        ax.set_title(what, fontsize=8)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("judgerl tune: cross-validated figure per candidate; held apart with 95% intervals", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--write", action="store_true", help=f"write the section into {DOC.name} and the plot")
    args = parser.parse_args()
    runs = load_runs(args.results)
    text = section(runs)
    print(text)
    if args.write:
        write_section(text, DOC)
        plot(runs, PLOT)


if __name__ == "__main__":
    main()
