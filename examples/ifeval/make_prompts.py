"""Derive the demo's prompt files from IFEval (data/public/ifeval/input_data.jsonl, google-research
instruction_following_eval, Apache-2.0).

Keeps the prompts whose every constraint (1) has a program checker in judgerl.checks.ifeval and (2) can be met in
a short answer (no "at least 300 words"), and writes one row per prompt with the IFEval key as id, the prompt, the
original instruction ids and kwargs (for the checker) and one rubric criterion per constraint, worded from the
constraint (for the judge). The same rows feed the demo (a small subset) and benchmarks/rft_ifeval.py.

    python examples/ifeval/make_prompts.py /path/to/ifeval/input_data.jsonl examples/ifeval
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from judgerl.checks import ifeval
from judgerl.train.rubrics import criterion_name

SHORT_ANSWER_TYPES = {
    "punctuation:no_comma",
    "change_case:english_lowercase",
    "change_case:english_capital",
    "startend:quotation",
    "startend:end_checker",
    "detectable_format:title",
    "detectable_format:constrained_response",
    "detectable_content:postscript",
    "keywords:forbidden_words",
    "keywords:existence",
}
BOUNDED = {  # length constraints a short answer can meet
    "length_constraints:number_words": lambda kw: kw.get("relation") == "less than" and kw.get("num_words", 0) <= 80,
    "length_constraints:number_sentences": lambda kw: kw.get("relation") == "less than",
    "detectable_format:number_bullet_lists": lambda kw: kw.get("num_bullets", 99) <= 4,
    "detectable_content:number_placeholders": lambda kw: kw.get("num_placeholders", 99) <= 3,
}


def usable(row: dict[str, Any]) -> bool:
    for instruction, kwargs in zip(row["instruction_id_list"], row["kwargs"], strict=True):
        kwargs = {k: v for k, v in (kwargs or {}).items() if v is not None}
        if instruction in SHORT_ANSWER_TYPES:
            continue
        if instruction in BOUNDED and BOUNDED[instruction](kwargs):
            continue
        return False
    return True


def to_row(row: dict[str, Any]) -> dict[str, Any]:
    kwargs = [{k: v for k, v in (kw or {}).items() if v is not None} for kw in row["kwargs"]]
    return {
        "id": str(row["key"]),
        "prompt": row["prompt"],
        "instruction_id_list": row["instruction_id_list"],
        "kwargs": kwargs,
        "criteria": [
            {"name": criterion_name(i), "text": ifeval.describe(i, kw)}
            for i, kw in zip(row["instruction_id_list"], kwargs, strict=True)
        ],
    }


def main(source: Path, target: Path) -> None:
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [to_row(r) for r in rows if usable(r)]
    random.Random(0).shuffle(kept)
    target.mkdir(parents=True, exist_ok=True)
    with (target / "ifeval_short.jsonl").open("w", encoding="utf-8") as handle:
        for row in kept:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(kept)} of {len(rows)} IFEval prompts kept -> {target / 'ifeval_short.jsonl'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
