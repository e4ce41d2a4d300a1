"""``judgerl eval``: run a policy on held-out prompts, judge the responses, and, where a program can check the
same criteria (IFEval constraints, GSM8K final answers), put the checker's pass rate beside the judge's.

Generation is greedy, so a before/after comparison on the same prompts differs only by the policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from judgerl.backends import JudgeBackend
from judgerl.errors import JudgerlError
from judgerl.judges.cascade import PairCascade
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.samples import Sample
from judgerl.stats import Interval, auc, detectable_change, mcnemar_exact, paired_difference, wilson
from judgerl.train.checkers import Checker, check_reply, choose_checker
from judgerl.train.config import TrainConfig
from judgerl.train.data import PromptRow, load_prompt_rows
from judgerl.train.judging import build_judge, judge_backend, judge_rows, needs_judge_backend
from judgerl.train.policy import generate_replies, load_trained_policy
from judgerl.train.rubrics import criterion_name
from judgerl.train.verdict_log import close_sink, finish_run, open_verdict_store
from judgerl.verdicts import SampleVerdict

logger = logging.getLogger(__name__)


class EvalItem(BaseModel):
    prompt_id: str
    prompt: str
    response: str
    judge_score: float | None
    judge_passed: bool | None = Field(description="Every criterion passed (hard verdicts).")
    judge_criteria: dict[str, bool | None] = Field(default_factory=dict)
    judge_p_pass: dict[str, float | None] = Field(default_factory=dict)
    checker_passed: bool | None = None
    checker_instructions: dict[str, bool | None] = Field(default_factory=dict)
    unscored_reason: str | None = None


class EvalReport(BaseModel):
    label: str
    policy: str
    prompts: int
    checker: Checker
    seconds: float
    generation_seconds: float
    judge_seconds: float
    judge_score_mean: float | None
    judge_pass: dict[str, Any]
    judge_criteria: dict[str, float]
    unscored: int
    checker_pass: dict[str, Any] | None = None
    checker_instruction_pass: dict[str, Any] | None = None
    checker_by_instruction: dict[str, float] = Field(default_factory=dict)
    judge_by_instruction: dict[str, float] = Field(default_factory=dict)
    agreement: float | None = Field(default=None, description="Share of instructions where judge and checker agree.")
    judge_checker_auc: float | None = Field(
        default=None, description="How well the judge's P(PASS) ranks what the checker passes above what it fails."
    )
    items: list[EvalItem] = Field(default_factory=list, exclude=True)


def _interval(value: Interval) -> dict[str, Any]:
    return {"rate": value.value, "low": value.low, "high": value.high, "n": value.n}


def evaluate(
    config: TrainConfig,
    policy: str,
    *,
    label: str,
    limit: int | None = None,
    max_new_tokens: int | None = None,
    batch_size: int = 8,
    backend: JudgeBackend | None = None,
    model_and_tokenizer: tuple[Any, Any] | None = None,
    judged: bool = True,
) -> EvalReport:
    """Evaluate ``policy`` ('base', 'final', or a folder/model) on the config's held-out prompts.

    ``judged=False`` leaves the judge out (every response unscored, with that reason): the program checker alone,
    which is the independent measure and costs no judge call."""
    started = time.perf_counter()
    _, held = load_prompt_rows(config)
    if not held:
        raise JudgerlError("no held-out prompts: set data.eval.path or data.eval.holdout in the config")
    rows = held[:limit] if limit else held
    checker = choose_checker(rows, config.data.checker)
    reference = _policy_reference(config, policy)
    model, tokenizer = model_and_tokenizer or load_trained_policy(reference, config.policy)
    tokens = max_new_tokens or (config.grpo.max_completion_length or 256)
    responses = generate_replies(model, tokenizer, rows, max_new_tokens=tokens, batch_size=batch_size)
    generated = time.perf_counter()
    owns_backend = backend is None
    judged = judged and config.reward.kind != "none"
    if backend is None and judged and needs_judge_backend(config):
        backend = judge_backend(config)
    try:
        judges = build_judge(config, backend) if judged else None
        if isinstance(judges, PairwiseJudge | PairCascade):
            raise JudgerlError("judgerl eval scores with a rubric; for a preference run, add row criteria or a rubric")
        reason = _NO_JUDGE if config.reward.kind == "none" else _NOT_JUDGED
        verdicts = judge_rows(judges, rows, responses) if judges is not None else _not_judged(rows, reason)
    finally:
        if owns_backend and backend is not None:
            backend.close()
    judged_at = time.perf_counter()
    items = [
        _item(row, response, verdict, checker) for row, response, verdict in zip(rows, responses, verdicts, strict=True)
    ]
    report = _summarise(label, reference, checker, items, started, generated, judged_at)
    _save(config, report, rows, responses, verdicts)
    return report


def _policy_reference(config: TrainConfig, policy: str) -> str:
    if policy == "base":
        return config.policy.model
    if policy == "final":
        final = config.run_dir / "final"
        if not final.exists():
            raise JudgerlError(f"{final} does not exist: train first, or pass --policy base or a folder")
        return str(final)
    return policy


_NO_JUDGE = "no judge in this run (reward.kind: none)"
_NOT_JUDGED = "not judged (an evaluation by the program checker alone)"


def _not_judged(rows: Sequence[PromptRow], reason: str) -> list[SampleVerdict]:
    """No judge for this evaluation: every response is unscored, with the reason."""
    return [SampleVerdict(id=f"eval-{row.prompt_id}", score=None, unscored_reason=reason) for row in rows]


def _item(row: PromptRow, response: str, verdict: SampleVerdict, checker: Checker) -> EvalItem:
    passed, instructions = check_reply(row, response, checker)
    criteria = {c.name: c.passed for c in verdict.criteria}
    probabilities = {c.name: c.p_pass for c in verdict.criteria}
    return EvalItem(
        prompt_id=row.prompt_id,
        prompt=row.user_text,
        response=response,
        judge_score=verdict.score,
        judge_passed=None if not verdict.scored else all(bool(c.passed) for c in verdict.criteria),
        judge_criteria=criteria,
        judge_p_pass=probabilities,
        checker_passed=passed,
        checker_instructions=instructions,
        unscored_reason=verdict.unscored_reason,
    )


def _rate(values: Sequence[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _summarise(
    label: str,
    policy: str,
    checker: Checker,
    items: list[EvalItem],
    started: float,
    generated: float,
    judged: float,
) -> EvalReport:
    scored = [i for i in items if i.judge_passed is not None]
    names = sorted({name for i in items for name in i.judge_criteria})
    judge_criteria = {n: r for n in names if (r := _rate([i.judge_criteria.get(n) for i in items])) is not None}
    report = EvalReport(
        label=label,
        policy=policy,
        prompts=len(items),
        checker=checker,
        seconds=time.perf_counter() - started,
        generation_seconds=generated - started,
        judge_seconds=judged - generated,
        judge_score_mean=sum(i.judge_score or 0.0 for i in scored) / len(scored) if scored else None,
        judge_pass=_interval(wilson(sum(bool(i.judge_passed) for i in scored), len(scored))),
        judge_criteria=judge_criteria,
        unscored=len(items) - len(scored),
        items=items,
    )
    if checker != "none":
        checked = [i.checker_passed for i in items if i.checker_passed is not None]
        report.checker_pass = _interval(wilson(sum(checked), len(checked)))
        instructions = [v for i in items for v in i.checker_instructions.values() if v is not None]
        report.checker_instruction_pass = _interval(wilson(sum(instructions), len(instructions)))
        kinds = sorted({k for i in items for k in i.checker_instructions})
        report.checker_by_instruction = {
            k: r for k in kinds if (r := _rate([i.checker_instructions.get(k) for i in items])) is not None
        }
        # judge and checker on the same instruction, where the rubric has a criterion named after it
        pairs = [
            (i.judge_criteria[criterion_name(k)], v)
            for i in items
            for k, v in i.checker_instructions.items()
            if v is not None and i.judge_criteria.get(criterion_name(k)) is not None
        ]
        ranked = [
            (probability, followed)
            for i in items
            for kind, followed in i.checker_instructions.items()
            if followed is not None and (probability := i.judge_p_pass.get(criterion_name(kind))) is not None
        ]
        report.judge_checker_auc = auc([p for p, ok in ranked if ok], [p for p, ok in ranked if not ok])
        if pairs:
            report.agreement = sum(j == c for j, c in pairs) / len(pairs)
            report.judge_by_instruction = {
                k: r
                for k in kinds
                if (r := _rate([i.judge_criteria.get(criterion_name(k)) for i in items if k in i.checker_instructions]))
                is not None
            }
    return report


def _save(
    config: TrainConfig,
    report: EvalReport,
    rows: Sequence[PromptRow],
    responses: Sequence[str],
    verdicts: Sequence[SampleVerdict],
) -> None:
    folder = config.run_dir / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{report.label}.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    with (folder / f"{report.label}.jsonl").open("w", encoding="utf-8") as handle:
        for item in report.items:
            handle.write(item.model_dump_json() + "\n")
    samples = [
        Sample(
            id=f"eval-{row.prompt_id}", prompt=row.user_text, response=response, metadata={"prompt_id": row.prompt_id}
        )
        for row, response in zip(rows, responses, strict=True)
    ]
    checks = [dict(item.checker_instructions) for item in report.items]
    store = open_verdict_store(config.store_path)
    run_id = f"{config.name}/eval/{report.label}"
    try:
        store.record_samples(run_id, 0, samples, list(verdicts), checks=checks)
        finish_run(store, run_id)
    finally:
        close_sink(store)


def load_items(path: Path) -> list[EvalItem]:
    return [EvalItem.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class Comparison(BaseModel):
    prompts: int
    checker_difference: dict[str, Any] | None
    checker_mcnemar_p: float | None
    judge_difference: dict[str, Any] | None
    judge_mcnemar_p: float | None
    #: paired prompts whose checker verdict changed, either way (the pairs McNemar's test counts)
    checker_changed: int = 0


def power_line(changed: int, prompts: int, what: str = "held out") -> str:
    """What a change that is not significant could have shown: the smallest true gain McNemar's test finds 4 times
    in 5 on ``prompts`` pairs of which ``changed`` changed (``judgerl.stats.detectable_change``)."""
    gain = detectable_change(prompts, changed / prompts) if prompts else None
    share = f"at this share of changed replies ({changed} of {prompts} {what})"
    if gain is None:
        return f"{share}, the test finds no true gain 4 times in 5"
    return f"{share}, the test finds a true gain 4 times in 5 only from {gain:+.1%} up"


def compare(before: Sequence[EvalItem], after: Sequence[EvalItem]) -> Comparison:
    """Paired change on the prompts both evaluations share: after - before, bootstrap 95% CI, McNemar p."""
    by_id = {i.prompt_id: i for i in before}
    pairs = [(by_id[i.prompt_id], i) for i in after if i.prompt_id in by_id]

    def paired(attribute: str) -> tuple[dict[str, Any] | None, float | None]:
        known = [(getattr(b, attribute), getattr(a, attribute)) for b, a in pairs]
        known = [(b, a) for b, a in known if b is not None and a is not None]
        if not known:
            return None, None
        difference = paired_difference([float(b) for b, _ in known], [float(a) for _, a in known])
        return _interval(difference), mcnemar_exact([b for b, _ in known], [a for _, a in known])

    checker, checker_p = paired("checker_passed")
    changed = sum(
        1
        for b, a in pairs
        if b.checker_passed is not None and a.checker_passed is not None and b.checker_passed != a.checker_passed
    )
    judge, judge_p = paired("judge_passed")
    return Comparison(
        prompts=len(pairs),
        checker_difference=checker,
        checker_mcnemar_p=checker_p,
        judge_difference=judge,
        judge_mcnemar_p=judge_p,
        checker_changed=changed,
    )
