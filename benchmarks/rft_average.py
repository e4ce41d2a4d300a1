"""RFT for safety: a run's checkpoints averaged into one policy (`judgerl average`), measured like a checkpoint.

Within a run the policy swings between answering and refusing from one checkpoint to the next; averaging the
checkpoints' updates keeps what they share. This script writes the average of a run's checkpoints (``--from-step``
to ``--to-step``, uniform; the product's ``judgerl.train.averaging``, not a copy) into the run folder
(``average-FIRST-LAST``), measures it with the refusal check on the held-out split and on the over-refusal split,
paired against the base policy's saved evaluation (the one ``rft_safety_select.py`` wrote; measured here if absent),
and sets it beside every checkpoint measured on the same split (``--also STEP``: measure those checkpoints here
too). No judge call.

    python benchmarks/rft_average.py --reward judge --name q05p-judge-s1103 $Q05P ... --heldout-split heldout_512

takes the run options of ``rft_safety_select.py``. Writes benchmarks/results/rft_average_<name>[_512].json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import machine, write_result
from judgerl.train.averaging import average_adapters, run_checkpoints
from judgerl.train.config import load_config
from judgerl.train.evaluate import load_items
from rft_safety import CONFIG, add_run_options, run_eval, run_overrides
from rft_safety_select import HELDOUT_SPLITS, OVERREFUSAL, add_heldout_option, change, label_of


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_options(parser)
    add_heldout_option(parser)
    parser.add_argument("--from-step", type=int, default=0, help="the first checkpoint averaged (default: all)")
    parser.add_argument("--to-step", type=int, default=None, help="the last checkpoint averaged (default: the last)")
    parser.add_argument(
        "--also", type=int, nargs="+", default=[], metavar="STEP", help="also measure these checkpoints on both splits"
    )
    return parser


def main() -> None:
    args = build_parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    overrides = run_overrides(args)
    config = load_config(CONFIG, overrides)
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    started = time.perf_counter()
    folders = run_checkpoints(config.run_dir, args.from_step, args.to_step)
    steps = [int(f.name.split("-")[1]) for f in folders]
    name = f"avg{steps[0]}-{steps[-1]}"
    output = config.run_dir / f"average-{steps[0]}-{steps[-1]}"
    if not (output / "adapter_config.json").exists():
        average_adapters(folders, output)
    test_label, suffix = HELDOUT_SPLITS[args.heldout_split]
    heldout_file = CONFIG.parent / f"{args.heldout_split}.jsonl"
    heldout = load_config(CONFIG, [*overrides, f"data.eval.path={heldout_file}", "data.eval.holdout=0"])
    overrefusal = load_config(CONFIG, [*overrides, f"data.eval.path={OVERREFUSAL}", "data.eval.holdout=0"])
    base = run_eval(heldout, "base", label_of(test_label, 0), None).items
    averaged = run_eval(heldout, str(output), f"{test_label}-{name}", None).items
    hard_base = run_eval(overrefusal, "base", label_of("hard", 0), None).items
    hard_averaged = run_eval(overrefusal, str(output), f"hard-{name}", None).items
    unknown = sorted(set(args.also) - set(steps))
    if unknown:
        raise SystemExit(f"--also: no checkpoint averaged at step {', '.join(map(str, unknown))} (averaged: {steps})")
    for step in args.also:  # saved under rft_safety_select.py's labels, so either script reuses the other's
        checkpoint = str(config.run_dir / f"checkpoint-{step}")
        run_eval(heldout, checkpoint, label_of(test_label, step), None)
        run_eval(overrefusal, checkpoint, label_of("hard", step), None)
    first128 = {json.loads(line)["id"] for line in (CONFIG.parent / "heldout.jsonl").open(encoding="utf-8")}
    eval_dir = config.run_dir / "eval"
    # every checkpoint already measured on the same split, for the side-by-side (nothing is measured again)
    checkpoints: dict[str, Any] = {}
    for step in steps:
        saved = eval_dir / f"{label_of(test_label, step)}.jsonl"
        if saved.exists():
            items = load_items(saved)
            checkpoints[str(step)] = {"heldout": change(base, items), "heldout_first128": change(base, items, first128)}
            hard = eval_dir / f"{label_of('hard', step)}.jsonl"
            if hard.exists():
                checkpoints[str(step)]["overrefusal"] = change(hard_base, load_items(hard))
    result = {
        "run": config.name,
        "machine": machine(),
        "averaged": {"steps": steps, "folder": str(output.relative_to(config.run_dir)), "weights": "uniform"},
        "heldout_split": args.heldout_split,
        "heldout": change(base, averaged),
        **({"heldout_first128": change(base, averaged, first128)} if args.heldout_split != "heldout" else {}),
        "overrefusal": change(hard_base, hard_averaged),
        "checkpoints": checkpoints,
        "seconds": time.perf_counter() - started,
    }
    path = write_result(f"rft_average_{args.name or args.reward}{suffix}", result)
    d = result["heldout"]["change"] or {}
    print(
        f"average of steps {steps}: change {d.get('rate', float('nan')):+.1%} [{d.get('low', float('nan')):+.1%}, "
        f"{d.get('high', float('nan')):+.1%}] on {result['heldout']['prompts']} held-out prompts, McNemar p "
        f"{result['heldout']['mcnemar_p']:.3f} ({path})"
    )


if __name__ == "__main__":
    main()
