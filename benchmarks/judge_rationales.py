"""Rationales against their verdicts, and generate-mode verdicts against labels, before and after reading the
generated verdict from the label probability (docs/validation.md, "Rationales and generate mode").

On the same labelled rows, for one packaged judge:
- ``logprob``: the label probability read from the plain criterion prompt;
- ``generate``: the verdict read from the label probability at its place in the JSON reply, then a reason;
- ``generate-text``: the previous generate mode (a reason first, then the verdict parsed from the text), run by
  hiding the backend's probabilities, as a backend without them is still judged;
- rationale contradiction rate on failure verdicts: the previous rationale prompt against the current one with its
  check and one rewrite. Stance is read by the judge itself (``stance_prompt``), the same reading for both.

    flock /tmp/judgerl-heavy.lock python benchmarks/judge_rationales.py --model qwen2.5-coder-0.5b --gsm8k 40

Results: benchmarks/results/judge_rationales-<model>.json (every verdict and rationale, to read).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import ROOT, machine, write_result
from judgerl.backends.base import Generation, JudgeBackend, JudgePrompt, LabelResult
from judgerl.judges.prompts import (
    PASS,
    RUBRIC_LABELS,
    JudgedMaterial,
    _rubric_system,
    _shared_user,
    nonce_for,
    stance_prompt,
)
from judgerl.judges.spec import JudgeSpec
from judgerl.judges.stance import read_stance
from judgerl.rubric import Rubric
from judgerl.samples import LabelledSample, load_labelled, prompt_text
from judgerl.stats import auc_estimate

SETS = {
    "gsm8k": (
        ROOT / "examples/rubrics/math_reference.yaml",
        "final_answer_correct",
        ROOT / "data/gsm8k_final_answer/labelled.jsonl",
    ),
    "support": (
        ROOT / "examples/rubrics/customer_support.yaml",
        "safety",
        ROOT / "data/customer_support_safety/labelled.jsonl",
    ),
}


class TextOnly(JudgeBackend):
    """The same model with its probabilities hidden: generate mode then parses verdicts from text."""

    supports_logprobs = False

    def __init__(self, inner: JudgeBackend) -> None:
        super().__init__(inner.model_id, inner.max_input_tokens)
        self.inner = inner
        self.name = "text-only"

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def label_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        raise AssertionError("hidden")

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        return self.inner.generate(prompts, max_new_tokens)


def old_rationale_prompt(material: JudgedMaterial, rubric: Rubric, criterion_index: int, passed: bool) -> JudgePrompt:
    """The rationale prompt before this change (template 2026-11-29.1), kept here to measure against."""
    criterion = rubric.criteria[criterion_index]
    nonce = nonce_for(material.prompt, material.response, material.reference or "")
    verdict = "PASS" if passed else "FAIL"
    user = (
        f"{_shared_user(material, nonce)}\n\n## Criterion\n{criterion.text}\n\n"
        f"The verdict for this criterion is {verdict}. In one or two sentences, explain why, quoting or "
        "pointing to the specific part of the response."
    )
    return JudgePrompt(system=_rubric_system(material, nonce, rubric.instructions), user=user, answer_prefix="")


def one_criterion(path: Path, name: str) -> Rubric:
    full = Rubric.load(path)
    data = {
        "name": full.name,
        "instructions": full.instructions,
        "use_reference": full.use_reference,
        "criteria": [c.model_dump() for c in full.criteria if c.name == name],
    }
    return Rubric.from_dict(data, source=str(path))


def agreement(rows: Sequence[LabelledSample], verdicts: Sequence[Any], name: str) -> dict[str, Any]:
    labels, passed, scores = [], [], []
    for row, verdict in zip(rows, verdicts, strict=True):
        criterion = verdict.criteria[0] if verdict.criteria else None
        if criterion is None or criterion.passed is None:
            continue
        labels.append(row.labels[name])
        passed.append(criterion.passed)
        scores.append(criterion.p_pass)
    hits = sum(p == label for p, label in zip(passed, labels, strict=True))
    result: dict[str, Any] = {
        "n": len(rows),
        "scored": len(labels),
        "accuracy": round(hits / len(labels), 3) if labels else None,
    }
    if scores and all(s is not None for s in scores):
        result["auc"] = str(auc_estimate(scores, labels, resamples=1000))
    return result


async def stances(backend: JudgeBackend, items: Sequence[tuple[Any, str]]) -> list[bool | None]:
    """The reading the judge's own check uses: the words where they decide, else the judge's P(PASS)."""
    read = [read_stance(c.text, text) for c, text in items]
    results = await backend.alabel_probs([stance_prompt(c, text) for c, text in items], RUBRIC_LABELS)
    return [
        words if words is not None else (None if r.probs is None else r.probs[PASS] >= 0.5)
        for words, r in zip(read, results, strict=True)
    ]


def run_set(backend: JudgeBackend, key: str, limit: int | None, tokens: int) -> dict[str, Any]:
    path, name, data = SETS[key]
    rubric = one_criterion(path, name)
    rows = load_labelled(data)[:limit]
    out: dict[str, Any] = {
        "rubric": str(path.relative_to(ROOT)),
        "criterion": name,
        "data": str(data.relative_to(ROOT)),
    }
    timings = {}
    started = time.perf_counter()
    logprob = JudgeSpec(rationales="none").single_rubric_judge(rubric, backend).judge(rows)
    timings["logprob"] = time.perf_counter() - started
    started = time.perf_counter()
    generate = JudgeSpec(mode="generate", rationale_tokens=tokens).single_rubric_judge(rubric, backend).judge(rows)
    timings["generate"] = time.perf_counter() - started
    started = time.perf_counter()
    text_only = JudgeSpec(mode="generate", max_new_tokens=256).single_rubric_judge(rubric, TextOnly(backend))
    text = text_only.judge(rows)
    timings["generate-text"] = time.perf_counter() - started
    out["agreement"] = {
        "logprob": agreement(rows, logprob, name),
        "generate": agreement(rows, generate, name),
        "generate-text": agreement(rows, text, name),
    }
    out["seconds"] = {k: round(v, 1) for k, v in timings.items()}
    # rationales of failure verdicts: the previous prompt, read by the same stance check, against the current ones
    failing = [
        (row, v.criteria[0])
        for row, v in zip(rows, generate, strict=True)
        if v.criteria and v.criteria[0].passed is False
    ]
    criterion = rubric.criteria[0]
    old_prompts = [
        old_rationale_prompt(
            JudgedMaterial(prompt_text(row.prompt), row.response, row.reference if rubric.use_reference else None),
            rubric,
            0,
            False,
        )
        for row, _ in failing
    ]
    old_texts = [(g.text or "").strip() for g in backend.generate(old_prompts, tokens)] if old_prompts else []
    old_stances = asyncio.run(stances(backend, [(criterion, t) for t in old_texts])) if old_texts else []
    new = [c for _, c in failing if c.rationale is not None]
    out["failure_rationales"] = {
        "n": len(failing),
        "before": {
            "prompt": "2026-11-29.1 rationale prompt, no check",
            "contradicting": sum(1 for s in old_stances if s is True),
            "rate": round(sum(1 for s in old_stances if s is True) / len(old_stances), 3) if old_stances else None,
        },
        "after": {
            "prompt": "current rationale prompt, checked, one rewrite",
            "contradicting": sum(1 for c in new if c.rationale_consistent is False),
            "rate": round(sum(1 for c in new if c.rationale_consistent is False) / len(new), 3) if new else None,
            "unchecked": sum(1 for c in new if c.rationale_consistent is None),
            # kept out of the rate: no rationale is shown, the reason is
            "dropped_as_garbage": sum(1 for _, c in failing if c.rationale is None and c.rationale_dropped),
        },
        "examples": [
            {
                "id": row.id,
                "before": old,
                "before_argues_pass": s,
                "after": c.rationale,
                "after_consistent": c.rationale_consistent,
            }
            for (row, c), old, s in zip(failing, old_texts, old_stances, strict=True)
        ],
    }
    out["verdicts"] = {
        "generate-text": [
            {
                "id": r.id,
                "passed": v.criteria[0].passed if v.criteria else None,
                "reason": v.criteria[0].rationale if v.criteria else v.unscored_reason,
            }
            for r, v in zip(rows, text, strict=True)
        ],
    }
    return out


def words_only(rubric_path: str, name: str, examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The same failure rationales read by their words alone (judgerl.judges.stance): a fixed reader for before and
    after, not the judge (a small judge's own stance reading leans to PASS)."""
    criterion = next(c for c in Rubric.load(ROOT / rubric_path).criteria if c.name == name)
    counts: dict[str, Any] = {}
    for side in ("before", "after"):
        read = [read_stance(criterion.text, e[side]) for e in examples if e[side]]
        counts[side] = {"argues_pass": sum(r is True for r in read), "argues_fail": sum(r is False for r in read),
                        "undecided": sum(r is None for r in read)}  # fmt: skip
    return counts


def rescore(path: Path) -> None:
    results = json.loads(path.read_text())
    for entry in results["sets"].values():
        rationales = entry["failure_rationales"]
        rationales["words_only"] = words_only(entry["rubric"], entry["criterion"], rationales["examples"])
        print(entry["criterion"], json.dumps(rationales["words_only"]))
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--gsm8k", type=int, default=40, help="GSM8K labelled rows (40 at most)")
    parser.add_argument("--support", type=int, default=12, help="customer-support rows (12 at most)")
    parser.add_argument("--rationale-tokens", type=int, default=96)
    parser.add_argument("--rescore", type=Path, help="add the words-only reading to an existing results file")
    args = parser.parse_args()
    if args.rescore is not None:
        rescore(args.rescore)
        return
    backend = JudgeSpec(model=args.model).build_backend()
    try:
        results = {
            "model": args.model,
            "machine": {**machine(), "note": "shared 2-core CPU machine, other jobs running"},
            "tuned_on_this_data": False,
            "sets": {
                "gsm8k": run_set(backend, "gsm8k", args.gsm8k, args.rationale_tokens),
                "support": run_set(backend, "support", args.support, args.rationale_tokens),
            },
        }
    finally:
        backend.close()
    path = write_result(f"judge_rationales-{args.model}", results)
    rescore(path)
    summary = {
        k: {
            "agreement": v["agreement"],
            "failure_rationales": {x: v["failure_rationales"][x] for x in ("n", "before", "after")},
            "seconds": v["seconds"],
        }
        for k, v in results["sets"].items()
    }
    print(json.dumps(summary, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
