"""How often a run can pass the rounds' test of "better": the power of the 128-request measure, from the rounds' runs.

A run is better when, on its 128 paired held-out outcomes (refused a harmful request / answered a benign one, before
and after training), McNemar's exact p is below 0.05 and the bootstrap interval of the change is above 0. Only the
pairs that changed count for McNemar, so the same change passes or not with how many outcomes moved each way. Each
results file keeps a checkpoint's change and p, and from the two the counts are recovered exactly (the p of each
split of the changed pairs is different) wherever p < 1. From them:

- the changed share of the measured checkpoints (how much a run's outcomes move, in both directions);
- for each checkpoint that was better, the chance that a run whose true rates were the ones measured would pass
  the test again (the plug-in power: how firmly each success stands);
- the chance that a run passes, and that five of five pass (the rounds' goal), for a recipe with a given true
  change and changed share, on 128 held-out requests and on 256 and 512.

Power counts McNemar's test alone, so it is an upper bound of the goal's test, which also needs the interval above
0; over the measured checkpoints the two disagree where the section says. Nothing is measured here but from the
rounds' results files; nothing is tuned.

    python benchmarks/rft_goal_power.py --write
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import ALPHA, RESULTS, publish, read_result, significant
from judgerl.stats import binomial_pmf, detectable_change, mcnemar_exact_counts, mcnemar_power
from rft_rounds_table import measured

HEADING = "## RFT for safety: how often a run can pass the test of better (the power of the 128-request measure)"
HELD_OUT = 128
SIZES = (128, 256, 512)
CHANGES = (0.05, 0.075, 0.10, 0.125, 0.15)
RUNS = 5


def changed_pairs(figures: dict[str, Any]) -> tuple[int, int] | None:
    """(gained, lost): how many of the paired outcomes moved up and down, recovered from a checkpoint's change and
    McNemar p; None where p is 1 (every split near even gives 1) or nothing matches."""
    n = int(figures.get("prompts") or HELD_OUT)
    net = round(figures["change"]["rate"] * n)
    p = float(figures["mcnemar_p"])
    if p >= 1.0:
        return None
    matches = [
        ((moved + net) // 2, (moved - net) // 2)
        for moved in range(abs(net), n + 1, 2)
        if math.isclose(mcnemar_exact_counts((moved + net) // 2, (moved - net) // 2), p, rel_tol=1e-9, abs_tol=1e-12)
    ]
    return matches[0] if len(matches) == 1 else None


def pass_probability(gained_rate: float, lost_rate: float, n: int = HELD_OUT) -> float:
    """McNemar's power on ``n`` pairs (``judgerl.stats.mcnemar_power``, the product's)."""
    return mcnemar_power(gained_rate, lost_rate, n, ALPHA)


def at_least(k: int, runs: int, p: float) -> float:
    return sum(binomial_pmf(j, runs, p) for j in range(k, runs + 1))


def checkpoints() -> list[dict[str, Any]]:
    """Every measured checkpoint of every run (held-out split), with its recovered changed pairs."""
    rows = []
    for path in sorted(RESULTS.glob("rft_preregistered_*.json")):
        prefix = path.stem.removeprefix("rft_preregistered_")
        for run in read_result(path.stem)["runs"]:
            if not run["ran"]:
                continue
            # steps in order; a policy that is not a step (round 11's "average") after them
            for step, figures in sorted(
                measured(run).items(), key=lambda item: (not item[0].isdigit(), item[0].zfill(9))
            ):
                if figures is None:
                    continue
                pairs = changed_pairs(figures)
                rows.append(
                    {
                        "round": prefix,
                        "seed": run["seed"],
                        "step": int(step) if step.isdigit() else step,
                        "chosen": step == str(run["chosen_step"]),
                        "gate_passed": bool(run["gate"]["passed"]),
                        "change": figures["change"]["rate"],
                        "mcnemar_p": figures["mcnemar_p"],
                        "better": significant(figures["change"], figures["mcnemar_p"]),
                        "mcnemar_alone": figures["mcnemar_p"] < ALPHA and figures["change"]["rate"] > 0,
                        "gained": pairs[0] if pairs else None,
                        "lost": pairs[1] if pairs else None,
                    }
                )
    return rows


def remeasured(results: Path = RESULTS) -> list[dict[str, Any]]:
    """Checkpoints measured on the 512-request split (``rft_safety_select.py --heldout-split heldout_512``), each
    beside its figure on the split's first 128 requests (heldout.jsonl, what the rounds measured)."""
    rows = []
    for path in sorted(results.glob("rft_safety_select_*_512.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        first = result.get("heldout_first128") or {}
        for step, figures in sorted(result["heldout"].items(), key=lambda item: int(item[0])):
            small = first.get(step)
            rows.append(
                {
                    "run": result["run"],
                    "step": int(step),
                    "kept": int(step) == result["chosen_step"],
                    "prompts": figures["prompts"],
                    "change": figures["change"]["rate"],
                    "mcnemar_p": figures["mcnemar_p"],
                    "better": significant(figures["change"], figures["mcnemar_p"]),
                    "worse": significant(figures["change"], figures["mcnemar_p"], -1),
                    "change_128": small["change"]["rate"] if small else None,
                    "mcnemar_p_128": small["mcnemar_p"] if small else None,
                    "better_128": significant(small["change"], small["mcnemar_p"]) if small else None,
                    "as_registered": as_registered(result["run"], step, small),
                    "by_kind": {
                        kind: [figures["before_by_kind"][kind]["rate"], figures["after_by_kind"][kind]["rate"]]
                        for kind in ("harmful_refused", "benign_answered")
                    },
                }
            )
    return rows


def as_registered(run_name: str, step: str, small: dict[str, Any] | None) -> bool | None:
    """Whether a remeasured checkpoint's figure on the first 128 requests is the one its round's results file has for
    it (the same change and p: greedy replies generated again came out the same); None where either is missing."""
    found = re.fullmatch(r"bench-rft-safety-(.+)-s(\d+)", run_name)
    path = RESULTS / f"rft_preregistered_{found.group(1)}.json" if found else None
    if small is None or found is None or path is None or not path.exists():
        return None
    runs = [r for r in read_result(path.stem)["runs"] if r["seed"] == int(found.group(2)) and r["ran"]]
    registered = measured(runs[0]).get(step) if runs else None
    if registered is None:
        return None
    return bool(registered["change"] == small["change"] and registered["mcnemar_p"] == small["mcnemar_p"])


def build() -> dict[str, Any]:
    rows = checkpoints()
    known = [r for r in rows if r["gained"] is not None]
    better = [r for r in known if r["better"]]
    for row in better:
        row["replication"] = pass_probability(row["gained"] / HELD_OUT, row["lost"] / HELD_OUT)
    shares = {
        "better": statistics.median((r["gained"] + r["lost"]) / HELD_OUT for r in better),
        "all": statistics.median((r["gained"] + r["lost"]) / HELD_OUT for r in known),
    }
    grid = []
    for size in SIZES:
        for change in CHANGES:
            for kind, share in shares.items():
                if change > share:
                    continue
                power = pass_probability((share + change) / 2, (share - change) / 2, size)
                grid.append(
                    {
                        "held_out": size,
                        "change": change,
                        "changed_share": kind,
                        "power": power,
                        "five_of_five": power**RUNS,
                        "four_of_five": at_least(4, RUNS, power),
                    }
                )
    return {
        "checkpoints": rows,
        "recovered": len(known),
        "disagree": sum(r["better"] != r["mcnemar_alone"] for r in rows),
        "changed_share_median": shares,
        "grid": grid,
        "smallest_change_for_goal": {str(size): smallest_change(size, shares["better"]) for size in SIZES},
        "remeasured": remeasured(),
    }


def smallest_change(size: int, share: float, target: float = 0.8) -> float | None:
    """The smallest true change (in steps of half a point) at which five of five runs pass with ``target``
    probability, at the changed share ``share``: each run must pass with probability target ** (1 / 5)."""
    return detectable_change(size, share, power=target ** (1 / RUNS), alpha=ALPHA)


def headline(result: dict[str, Any]) -> str:
    """What README.md says of the measure's power (a test holds it to the results file)."""
    better = [r for r in result["checkpoints"] if r["better"] and r["gained"] is not None]
    share = result["changed_share_median"]["better"]
    change = statistics.median(r["change"] for r in better)
    one = pass_probability((share + change) / 2, (share - change) / 2)
    smallest = result["smallest_change_for_goal"]
    return (
        f"A success on 128 requests is itself uncertain: a recipe whose every run truly changed by the better "
        f"checkpoints' median ({change:+.1%}, {pct(share)} of outcomes changed) would pass the test in {one:.0%} of "
        f"runs and five of five in {one**RUNS:.0%}; five of five with probability 80% needs a true change of "
        f"{change_text(smallest['128'])} on 128 requests, {change_text(smallest['512'])} on 512"
    )


def change_text(value: float | None) -> str:
    return "more than the share changed" if value is None else f"{value:+.1%}"


def pct(value: float) -> str:
    return f"{value:.0%}" if abs(value) >= 0.1 or value == 0 else f"{value:.1%}"


def markdown(result: dict[str, Any]) -> str:
    rows, shares = result["checkpoints"], result["changed_share_median"]
    better = [r for r in rows if r["better"] and r["gained"] is not None]
    replications = [r["replication"] for r in better]
    lines = [
        HEADING,
        "",
        "The rounds' test of better (on the 128 held-out requests, McNemar's exact p < 0.05 and the bootstrap "
        "interval above 0) counts only the outcomes that changed, so how often a run can pass it depends on how many "
        "moved each way, not on the net change alone. `python benchmarks/rft_goal_power.py --write` recovers, from "
        "each measured checkpoint's change and p in the rounds' results files, how many outcomes were gained and "
        f"lost (exactly, wherever p < 1: {result['recovered']} of the {len(rows)} checkpoints measured), and from "
        "them computes the test's power exactly (the changed count binomial, the gained among them binomial). "
        "Power here is McNemar's alone, an upper bound of the test with its interval; over the measured "
        f"checkpoints the two disagreed on {result['disagree']}. Nothing is tuned; the figures are the runs' own, "
        "read after they reported.",
        "",
        f"The changed share (outcomes gained plus lost, of 128): median {pct(shares['all'])} over the checkpoints "
        f"recovered, {pct(shares['better'])} over those that were better.",
        "",
        "Every better checkpoint, and the chance that a run whose true rates were the ones measured there would "
        "pass the test again (plug-in power):",
        "",
        "| round | seed | step | kept by its rule | change | p | gained / lost | passes again |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in better:
        lines.append(
            f"| {r['round']} | {r['seed']} | {r['step']} | {'yes' if r['chosen'] else 'no'} | {r['change']:+.1%} "
            f"| {r['mcnemar_p']:.3f} | {r['gained']} / {r['lost']} | {r['replication']:.0%} |"
        )
    lines += [
        "",
        "A recipe whose every run had the same true change (gained minus lost, of the held-out requests) and the "
        f"same changed share, at the better checkpoints' median share ({pct(shares['better'])}) / all recovered "
        f"checkpoints' ({pct(shares['all'])}): the chance that one run passes, that five of five pass (the rounds' "
        "goal at the chosen checkpoint) and that at least four of five pass (the goal at the last), on 128 held-out "
        "requests as now and on 256 and 512 (- where the change exceeds the share):",
        "",
        "| held-out requests | true change | one run passes | five of five | at least four of five |",
        "|---|---|---|---|---|",
    ]
    cells: dict[tuple[int, float], dict[str, dict[str, Any]]] = {}
    for g in result["grid"]:
        cells.setdefault((g["held_out"], g["change"]), {})[g["changed_share"]] = g

    def pair(cell: dict[str, dict[str, Any]], key: str) -> str:
        return " / ".join(f"{cell[kind][key]:.0%}" if kind in cell else "-" for kind in ("better", "all"))

    for (size, change), cell in cells.items():
        lines.append(
            f"| {size} | {change:+.1%} | {pair(cell, 'power')} | {pair(cell, 'five_of_five')} "
            f"| {pair(cell, 'four_of_five')} |"
        )
    smallest = result["smallest_change_for_goal"]
    goal = ", ".join(f"{size}: {change_text(value)}" for size, value in smallest.items())
    median_replication = statistics.median(replications)
    median_change = statistics.median(r["change"] for r in better)
    large = sum(r["change"] >= (smallest["128"] or 1.0) - 1e-9 for r in better)
    at_median = pass_probability((shares["better"] + median_change) / 2, (shares["better"] - median_change) / 2)
    at_median_512 = pass_probability(
        (shares["better"] + median_change) / 2, (shares["better"] - median_change) / 2, SIZES[-1]
    )
    lines += [
        "",
        f"Reading: the {len(better)} better checkpoints (whatever their run's gate) would pass again with "
        f"probability {min(replications):.0%} to {max(replications):.0%} (median {median_replication:.0%}) if "
        "the rates measured there were the truth; they are not quite, since a success is selected for a large "
        "change and a small changed share, so these chances are upper bounds too. At the better checkpoints' median "
        f"changed share ({pct(shares['better'])}), the smallest true change for which five of five runs pass with "
        f"probability 80% is, by held-out size, {goal}; the better checkpoints' median measured change is "
        f"{median_change:+.1%}, and {large} of them measured {smallest['128'] or 1.0:+.1%} or more. A recipe "
        f"whose every run truly moved by the median ({median_change:+.1%} at a {pct(shares['better'])} changed "
        f"share) would pass five of five with probability {at_median**RUNS:.0%} on 128 requests (one run "
        f"{at_median:.0%}) and {at_median_512**RUNS:.0%} on 512: the goal asks every run for a change near the "
        "largest the rounds have shown; a larger held-out split lowers the bar, at the cost of generating and "
        "checking more replies per checkpoint (`examples/demo/heldout_512.jsonl` holds 512 requests for a round that "
        "measures on them: `rft_safety_select.py --heldout-split heldout_512`). The "
        f"{len(rows) - result['recovered']} checkpoints with p = 1 (a net change near 0) are left out of the "
        "medians: their changed pairs cannot be recovered from the file.",
    ]
    return "\n".join(lines + remeasured_lines(result.get("remeasured") or [])) + "\n"


def remeasured_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The checkpoints measured again on 512 requests after their run, beside their 128-request figure."""
    if not rows:
        return []

    def cell(change: float | None, p: float | None, better: bool | None) -> str:
        if change is None or p is None:
            return "-"
        return f"{'**' if better else ''}{change:+.1%}, p {p:.3f}{'**' if better else ''}"

    lines = [
        "",
        "Checkpoints measured again on the 512 requests after their run (`rft_safety_select.py --heldout-split "
        "heldout_512`; exploratory, not part of any round's registration), beside the same policies on the split's "
        "first 128 (heldout.jsonl, the rounds' measure), measured after the run's own figures were known; "
        "machine and timing in each `rft_safety_select_<name>_broad_512.json`; bold: better by the rounds' test:",
        "",
        "| run | step | kept by its rule | 128 requests | 512 requests | 512: harmful refused | 512: benign answered |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        harmful, benign = r["by_kind"]["harmful_refused"], r["by_kind"]["benign_answered"]
        lines.append(
            f"| {r['run']} | {r['step']} | {'yes' if r['kept'] else 'no'} "
            f"| {cell(r['change_128'], r['mcnemar_p_128'], r['better_128'])} "
            f"| {cell(r['change'], r['mcnemar_p'], r['better'])} | {harmful[0]:.0%} -> {harmful[1]:.0%} "
            f"| {benign[0]:.0%} -> {benign[1]:.0%} |"
        )
    better_128 = sum(bool(r["better_128"]) for r in rows)
    same = [r for r in rows if r["as_registered"] is not None]
    lines += [
        "",
        f"Of these {len(rows)} checkpoints, {better_128} passed the test on the 128 requests and "
        f"{sum(r['better'] for r in rows)} on the 512 ({sum(r['worse'] for r in rows)} significantly worse there). "
        f"The replies were generated again for the 512; on the first 128 the figures are the round's own in "
        f"{sum(bool(r['as_registered']) for r in same)} of the {len(same)} checkpoints its results file has.",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the results file and the BENCHMARKS.md section")
    args = parser.parse_args(argv)
    publish("rft_goal_power", build(), markdown, None, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
