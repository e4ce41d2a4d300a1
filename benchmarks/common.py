"""Helpers shared by the benchmarks: machine description, results files, GSM8K-derived samples."""

from __future__ import annotations

import json
import os
import platform
import random
import re
from pathlib import Path
from typing import Any

from judgerl.samples import Sample

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_DATA = ROOT / "data" / "public"  # public data sets copied in with their licenses (README there)
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def final_number(answer: str) -> str:
    return answer.rsplit("####", 1)[1].strip().replace(",", "")


def corrupt_final(answer: str, rng: random.Random) -> str:
    """The same worked solution, with a wrong number after '####' and in the last calculation."""
    right = final_number(answer)
    wrong = (
        str(int(float(right)) + rng.choice([-7, -3, -1, 1, 2, 5, 11])) if re.fullmatch(r"-?\d+(\.\d+)?", right) else "0"
    )
    body, _ = answer.rsplit("####", 1)
    body = body.rstrip()
    if body.endswith(right):
        body = body[: -len(right)] + wrong
    return f"{body}\n#### {wrong}"


def gsm8k_pairs(count: int, seed: int = 0) -> list[tuple[Sample, Sample]]:
    """(correct, wrong-final-number) samples for `count` GSM8K problems, with the reference solution."""
    rows = [json.loads(line) for line in (PUBLIC_DATA / "gsm8k" / "train.jsonl").read_text().splitlines()]
    rng = random.Random(seed)
    chosen = rng.sample(rows, count)
    pairs = []
    for index, row in enumerate(chosen):
        good = Sample(id=f"gsm8k-{index}-ok", prompt=row["question"], response=row["answer"], reference=row["answer"])
        bad = good.model_copy(update={"id": f"gsm8k-{index}-wrong", "response": corrupt_final(row["answer"], rng)})
        pairs.append((good, bad))
    return pairs
