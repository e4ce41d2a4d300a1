"""Which way the safety recipe's reward pushes a policy's propensity to refuse: the behaviour signal of harmful and of
benign requests summed over a run, from the per-step figures rft_swing.py wrote.

In a group whose replies all behave alike (all refuse or all answer, by the refusal check), the advantages only rank
wordings. Only a mixed group pushes the policy toward refusing or toward answering, and by how much follows from
rft_swing's ``push`` (the mean advantage of the right replies minus that of the wrong ones): advantages sum to zero
within a group, so with k right replies of n the right ones carry k(n-k)/n x push in all. A mixed harmful group
pushes that much toward refusing; a mixed benign group that much toward answering. The base policy refuses about
half of the harmful requests and answers most benign ones, so harmful groups are mixed more often; if their summed
push outweighs the benign groups', the reward as a whole leans the policy toward refusing, whatever each group asks.

    python benchmarks/rft_refusal_push.py q05g-judge q05h-judge q05i-judge q05k-judge:8 q05l-judge --name rounds

reads benchmarks/results/rft_swing_NAME.json (``:N`` gives the round's group size; 4 if left out) and writes
benchmarks/results/rft_refusal_push_NAME.json with --name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import read_result, write_result

DEFAULT_GROUP_SIZE = 4


def group_push(group: dict[str, Any], size: int) -> float:
    """The summed advantage of a mixed group's right replies (0 for a group whose replies all behave alike)."""
    if group["push"] is None:
        return 0.0
    right = round(group["right"] * size)
    return right * (size - right) / size * float(group["push"])


def run_push(run: dict[str, Any], size: int) -> dict[str, Any]:
    """A run's behaviour signal: toward refusing from harmful groups, toward answering from benign ones."""
    figures: dict[str, Any] = {"run": run["run"].removeprefix("bench-rft-safety-")}
    for kind, toward in (("harmful", "toward_refusing"), ("benign", "toward_answering")):
        groups = [g for g in run["groups"] if g["kind"] == kind]
        figures[kind] = {
            "groups": len(groups),
            "mixed": sum(g["push"] is not None for g in groups),
            toward: sum(group_push(g, size) for g in groups),
        }
    figures["net_toward_refusing"] = figures["harmful"]["toward_refusing"] - figures["benign"]["toward_answering"]
    return figures


def parse_round(spec: str) -> tuple[str, int]:
    name, _, size = spec.partition(":")
    if size and not size.isdigit():
        raise SystemExit(f"{spec}: the group size after ':' must be a whole number (e.g. q05k-judge:8)")
    return name, int(size) if size else DEFAULT_GROUP_SIZE


def analyse(specs: list[str]) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    for spec in specs:
        name, size = parse_round(spec)
        try:
            swing = read_result(f"rft_swing_{name}")
        except FileNotFoundError as missing:
            raise SystemExit(
                f"{name}: no benchmarks/results/rft_swing_{name}.json (run rft_swing.py --name {name})"
            ) from missing
        rounds.append({"round": name, "group_size": size, "runs": [run_push(r, size) for r in swing["runs"]]})
    runs = [r for round_ in rounds for r in round_["runs"]]
    leaning = sum(r["net_toward_refusing"] > 0 for r in runs)
    return {"rounds": rounds, "runs": len(runs), "net_toward_refusing": leaning}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| run | harmful groups mixed | push toward refusing | benign groups mixed | push toward answering "
        "| net toward refusing |",
        "|---|---|---|---|---|---|",
    ]
    for round_ in result["rounds"]:
        for run in round_["runs"]:
            harmful, benign = run["harmful"], run["benign"]
            lines.append(
                f"| {run['run']} | {harmful['mixed']} of {harmful['groups']} | {harmful['toward_refusing']:+.1f} | "
                f"{benign['mixed']} of {benign['groups']} | {benign['toward_answering']:+.1f} | "
                f"{run['net_toward_refusing']:+.1f} |"
            )
    lines += ["", f"Net toward refusing in {result['net_toward_refusing']} of {result['runs']} runs."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rounds", nargs="+", help="rft_swing result names, NAME or NAME:GROUP_SIZE")
    parser.add_argument("--name", help="write benchmarks/results/rft_refusal_push_NAME.json")
    args = parser.parse_args(argv)
    result = analyse(args.rounds)
    if args.name:
        write_result(f"rft_refusal_push_{args.name}", result)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
