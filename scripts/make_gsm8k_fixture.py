"""Build data/gsm8k_final_answer/labelled.jsonl: GSM8K reference solutions, correct and with a corrupted final
number, labelled for the criterion `final_answer_correct` of examples/rubrics/math_reference.yaml.

    python scripts/make_gsm8k_fixture.py

Deterministic (seed 0); the corruption is benchmarks/common.py's `corrupt_final`, so the labels hold by
construction: the unchanged solution is correct, the corrupted one is not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from benchmarks.common import gsm8k_pairs  # noqa: E402

PROBLEMS = 20


def main() -> None:
    out = ROOT / "data" / "gsm8k_final_answer" / "labelled.jsonl"
    with out.open("w", encoding="utf-8") as handle:
        for good, bad in gsm8k_pairs(PROBLEMS, seed=0):
            for sample, correct in ((good, True), (bad, False)):
                row = sample.model_dump(exclude={"metadata"}) | {"labels": {"final_answer_correct": correct}}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {2 * PROBLEMS} rows to {out}")


if __name__ == "__main__":
    main()
