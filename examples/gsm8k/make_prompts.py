"""Builds the GSM8K example's prompt file from OpenAI's grade-school-math training set (MIT, LICENSE-gsm8k).

``prompts.jsonl``: 224 problems drawn with ``random.Random(2026)`` from data/public/gsm8k/train.jsonl, leaving out
the 20 problems of data/gsm8k_final_answer (the judge's calibration fixture): 96 training rows, then 128 held-out
rows (``data.eval.holdout: 128`` takes them from the end). Each row: ``id`` (``gsm8k-<line in train.jsonl>``),
``prompt`` (the question) and ``reference`` (the worked solution, ending in ``#### <number>``).

    python examples/gsm8k/make_prompts.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE.parents[1] / "data" / "public" / "gsm8k" / "train.jsonl"
FIXTURE = HERE.parents[1] / "data" / "gsm8k_final_answer" / "labelled.jsonl"
TRAIN, HELDOUT = 96, 128


def build() -> list[dict[str, str]]:
    """The rows of prompts.jsonl: training rows first, then the held-out ones."""
    lines = SOURCE.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    fixture = {json.loads(line)["prompt"] for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line}
    candidates = [index for index, row in enumerate(rows) if row["question"] not in fixture]
    chosen = random.Random(2026).sample(candidates, TRAIN + HELDOUT)
    return [{"id": f"gsm8k-{i}", "prompt": rows[i]["question"], "reference": rows[i]["answer"]} for i in chosen]


def main() -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in build())
    (HERE / "prompts.jsonl").write_text(text, encoding="utf-8")
    print(f"prompts.jsonl: {TRAIN} training + {HELDOUT} held-out rows")


if __name__ == "__main__":
    main()
