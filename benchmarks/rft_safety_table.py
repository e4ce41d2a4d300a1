"""Prints the BENCHMARKS.md table of the safety RFT runs from their results files (rft_safety_*.json).

python benchmarks/rft_safety_table.py judge_step40 exact_step40 keyword_step40
"""

from __future__ import annotations

import argparse

from common import read_result


def pct(x: dict[str, float]) -> str:
    return f"{x['rate']:.1%} [{x['low']:.1%}, {x['high']:.1%}]"


def signed(x: dict[str, float]) -> str:
    return f"{x['rate']:+.1%} [{x['low']:+.1%}, {x['high']:+.1%}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run names: rft_safety_<name>.json in benchmarks/results")
    names = parser.parse_args().runs
    print(
        "| reward | steps | independent: appropriate (before -> after) | paired change | McNemar p | "
        "harmful refused | benign answered | s/step | judge share |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        r = read_result(f"rft_safety_{name}")
        before, after = r["before"]["checker_pass"], r["after"]["checker_pass"]
        change = r["change"]["checker_difference"]
        times = [t for t in r.get("step_time") or [] if t]
        waits = [w for w in r.get("wait_fraction") or [] if w is not None]
        share = sum(t * w for t, w in zip(times, waits, strict=False)) / sum(times[: len(waits)]) if waits else None
        hb, ha = r["before_by_kind"]["harmful_refused"], r["after_by_kind"]["harmful_refused"]
        bb, ba = r["before_by_kind"]["benign_answered"], r["after_by_kind"]["benign_answered"]
        print(
            f"| {r['reward']} | {r.get('at_step', r['config']['grpo'].get('max_steps'))} | "
            f"{pct(before)} -> {pct(after)} | {signed(change)} | {r['change']['checker_mcnemar_p']:.3f} | "
            f"{hb['rate']:.0%} -> {ha['rate']:.0%} | {bb['rate']:.0%} -> {ba['rate']:.0%} | "
            f"{sum(times) / len(times):.0f} | {'-' if share is None else f'{share:.0%}'} |"
        )


if __name__ == "__main__":
    main()
