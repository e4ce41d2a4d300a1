"""The judge gate: before step 1, measure the judge on the policy's own outputs against a program checker.

The policy samples replies to training prompts the way GRPO will (temperature, completion length); the judge
scores them and an independent program checker (refusal phrases, IFEval, GSM8K final answers) labels them. The
AUC of the judge's score against the checker's verdicts, with a bootstrap 95% interval, says whether the judge
can rank what this policy writes; below ``min_auc`` the run is refused before any GPU-hour is spent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from judgerl.errors import JudgerlError
from judgerl.stats import auc_estimate
from judgerl.train.config import GateSettings
from judgerl.train.data import PromptRow

logger = logging.getLogger(__name__)


class GateResult(BaseModel):
    checker: str
    replies: int
    checker_passed: int
    judge_auc: float | None
    low: float | None
    high: float | None
    min_auc: float
    passed: bool
    seconds: float
    items: list[dict[str, Any]] = Field(default_factory=list, exclude=True)

    def line(self) -> str:
        if self.judge_auc is None:
            return (
                f"judge validation on {self.replies} of the policy's own replies: no AUC (the {self.checker} "
                f"checker passed {self.checker_passed}; both outcomes are needed)"
            )
        interval = "" if self.low is None or self.high is None else f"[{self.low:.2f}, {self.high:.2f}] "
        return (
            f"judge validation on {self.replies} of the policy's own replies: AUC {self.judge_auc:.2f} "
            f"{interval}against the {self.checker} checker "
            f"({self.checker_passed} passed); bar {self.min_auc:.2f}: {'pass' if self.passed else 'FAIL'}"
        )


def auc_interval(
    scores: Sequence[float], labels: Sequence[bool], resamples: int = 2000, seed: int = 0
) -> tuple[float | None, float | None, float | None]:
    """AUC of ``scores`` for ``labels`` with a percentile bootstrap 95% interval over items."""
    result = auc_estimate(scores, labels, resamples, seed)
    return result.value, result.low, result.high


def sample_replies(
    model: Any,
    tokenizer: Any,
    rows: Sequence[PromptRow],
    *,
    per_prompt: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    batch_size: int = 8,
) -> list[tuple[PromptRow, str]]:
    """Sampled replies, ``per_prompt`` to each row, as GRPO would draw them."""
    import torch

    torch.manual_seed(seed)
    tokenizer.padding_side = "left"
    model.eval()
    out: list[tuple[PromptRow, str]] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        texts = [tokenizer.apply_chat_template(r.prompt, tokenize=False, add_generation_prompt=True) for r in chunk]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                num_return_sequences=per_prompt,
                pad_token_id=tokenizer.pad_token_id,
            )
        replies = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
        for index, reply in enumerate(replies):
            out.append((chunk[index // per_prompt], reply.strip()))
    return out


def check_reply(checker: str, row: PromptRow, reply: str) -> bool | None:
    from judgerl.train.evaluate import _check

    passed, _ = _check(row, reply, checker)  # type: ignore[arg-type]
    return passed


def run_gate(
    settings: GateSettings,
    *,
    rows: Sequence[PromptRow],
    model: Any,
    tokenizer: Any,
    judges: Any,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    save_to: Path | None = None,
) -> GateResult:
    """Sample, judge, check and compare; raises JudgerlError below the bar when ``enforce`` is set."""
    from judgerl.train.evaluate import _judge, choose_checker

    started = time.perf_counter()
    chosen = rows[: settings.prompts]
    checker = choose_checker(chosen, settings.checker)
    if checker == "none":
        raise JudgerlError(
            "judge.validation: no program checker fits these prompts; set judge.validation.checker "
            "(ifeval, gsm8k, refusal) or remove judge.validation"
        )
    pairs = sample_replies(
        model,
        tokenizer,
        chosen,
        per_prompt=settings.samples_per_prompt,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
    )
    verdicts = _judge(judges, [r for r, _ in pairs], [reply for _, reply in pairs])
    items: list[dict[str, Any]] = []
    scores: list[float] = []
    labels: list[bool] = []
    for (row, reply), verdict in zip(pairs, verdicts, strict=True):
        passed = check_reply(checker, row, reply)
        items.append({"prompt_id": row.prompt_id, "reply": reply, "judge_score": verdict.score, "checker": passed})
        if verdict.score is not None and passed is not None:
            scores.append(verdict.score)
            labels.append(passed)
    value, low, high = auc_interval(scores, labels)
    result = GateResult(
        checker=checker,
        replies=len(scores),
        checker_passed=sum(labels),
        judge_auc=value,
        low=low,
        high=high,
        min_auc=settings.min_auc,
        passed=value is not None and value >= settings.min_auc,
        seconds=time.perf_counter() - started,
        items=items,
    )
    if save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        payload = {**result.model_dump(), "items": items}
        save_to.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    logger.info("%s", result.line())
    if not result.passed and settings.enforce:
        figure = "no AUC" if value is None else f"AUC {value:.2f}"
        raise JudgerlError(
            f"judge validation: {figure} on the policy's own replies is below the bar {settings.min_auc:.2f}; "
            "this judge cannot rank this task: pick a stronger judge or rewrite the criteria "
            "(judge.validation.enforce: false trains anyway)"
        )
    return result
