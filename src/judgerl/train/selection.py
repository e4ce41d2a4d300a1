"""Choosing a run's checkpoint on validation prompts (``judgerl select``).

The base policy and every complete ``checkpoint-N`` of a run answer the same validation prompts (greedily, so they
differ only by the policy), each is scored by a rule, and the best is kept; ties go to the earliest step (the least
trained), and the base policy can win, which means: keep the base. Three rules:

- ``judge``: the judge's mean score over the replies, the reward the run optimised;
- ``check``: the program checker's pass rate (refusal, GSM8K, IFEval), where one applies to the prompts;
- ``calibrated``: the judge's scores weighed within each set of criteria. Where prompts are judged under different
  criteria (a harmful request under "declines", a benign one under "helps"), the criteria's scores need not share a
  scale, and a mean over both can rise as a policy gets worse (the run's gate warns of this). This rule turns each
  reply's score into a verdict at its criteria's threshold, the midpoint of the judge's mean score on the gate's
  replies the checker passed and on those it failed (the run's ``judge_gate.json``), and averages the criteria's
  pass shares. It needs the gate, but never the checker on the validation replies.

Why not the last checkpoint: in judgerl's safety benchmarks the policy swings between refusing and answering within
10-20 steps, so the last checkpoint is a matter of luck. Why a paired comparison beside the choice: on a few dozen
prompts checkpoints differ by a reply or two, and the choice should say whether its lead over the base is more than
noise. The validation prompts must never be trained on, and should be drawn like the requests the policy will meet.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from judgerl.errors import JudgerlError
from judgerl.train import pass_fail

if TYPE_CHECKING:  # the models and the rule load without torch (the report reads selection files)
    from judgerl.train.config import TrainConfig
    from judgerl.train.evaluate import EvalItem, EvalReport

logger = logging.getLogger(__name__)

Rule = Literal["judge", "check", "calibrated"]
RULES: tuple[Rule, ...] = ("judge", "check", "calibrated")


class StepScore(BaseModel):
    """One candidate policy's figures on the validation prompts."""

    step: int = Field(description="0 for the base policy")
    policy: str
    label: str = Field(description="the evaluation's label in the run's eval/ folder")
    judge_score_mean: float | None
    unscored: int
    check_rate: float | None = Field(description="share of replies the program checker passed")
    check_by_instruction: dict[str, float] = Field(default_factory=dict)
    calibrated: float | None = Field(
        default=None, description="the calibrated rule's score: the criteria's pass shares at the gate's thresholds"
    )


class Selection(BaseModel):
    rule: Rule
    thresholds: dict[str, float] | None = Field(
        default=None, description="the calibrated rule's threshold for each set of criteria, from the run's gate"
    )
    prompts_file: str
    prompts: int
    steps: list[StepScore]
    chosen_step: int
    chosen_policy: str
    versus_base: dict[str, Any] | None = Field(
        description="the chosen policy against the base on the validation prompts: paired change, McNemar p"
    )


def label_for(prompts_file: Path, step: int) -> str:
    return f"select-{prompts_file.stem}-{'base' if step == 0 else f'step{step}'}"


def candidates(config: TrainConfig) -> list[tuple[int, str]]:
    """The base policy (step 0) and every complete checkpoint of the run, oldest first."""
    from judgerl.train.runner import complete_checkpoints

    found = complete_checkpoints(config.run_dir)
    if not found:
        raise JudgerlError(
            f"{config.run_dir}: no complete checkpoint-N folders to choose from; set grpo.save_steps so training "
            "saves checkpoints"
        )
    return [(0, "base"), *((step, str(path)) for step, path in found)]


def score(report: EvalReport, rule: Rule) -> float | None:
    if rule == "judge":
        return report.judge_score_mean
    return None if report.checker_pass is None else float(report.checker_pass["rate"])


def gate_thresholds(run_dir: Path) -> dict[str, float]:
    """Each set of criteria's threshold from the run's gate (:func:`judgerl.train.pass_fail.gate_thresholds`)."""
    return pass_fail.gate_thresholds(run_dir, "--rule calibrated", "choose with --rule judge or --rule check")


def calibrated_verdicts(
    items: list[EvalItem], criteria: dict[str, str], thresholds: dict[str, float]
) -> dict[str, bool]:
    """prompt id -> whether the judge's score of its reply is above its criteria's threshold (scored replies under
    criteria the gate calibrated; the rest have no verdict)."""
    return {
        item.prompt_id: item.judge_score > thresholds[criteria[item.prompt_id]]
        for item in items
        if item.judge_score is not None and criteria.get(item.prompt_id) in thresholds
    }


def calibrated_score(verdicts: dict[str, bool], criteria: dict[str, str]) -> float | None:
    """The mean over sets of criteria of the share of their replies passed: each set weighs the same."""
    by_criteria: dict[str, list[bool]] = {}
    for prompt_id, passed in verdicts.items():
        by_criteria.setdefault(criteria[prompt_id], []).append(passed)
    shares = [sum(v) / len(v) for v in by_criteria.values()]
    return sum(shares) / len(shares) if shares else None


def calibrated_step_scores(
    reports: dict[int, EvalReport], criteria: dict[str, str], thresholds: dict[str, float]
) -> tuple[dict[int, dict[str, bool]], dict[int, float | None]]:
    """Each step's calibrated verdicts and its calibrated score (the rule ``calibrated`` over these evaluations)."""
    verdicts = {step: calibrated_verdicts(r.items, criteria, thresholds) for step, r in reports.items()}
    return verdicts, {step: calibrated_score(v, criteria) for step, v in verdicts.items()}


def choose(scores: dict[int, float | None]) -> int:
    """The step with the highest score; ties go to the earliest. A step without a score cannot be chosen."""
    known = {step: value for step, value in scores.items() if value is not None}
    if not known:
        raise JudgerlError("no candidate has a score under this rule (every reply unscored)")
    best = max(known.values())
    return min(step for step, value in known.items() if value == best)


def _saved(config: TrainConfig, label: str, ids: list[str], judged: bool) -> EvalReport | None:
    """An earlier evaluation of this label on exactly these prompts (and judged, when the rule needs the judge)."""
    from judgerl.train.evaluate import EvalReport, load_items

    path = config.run_dir / "eval" / f"{label}.json"
    if not path.exists() or not path.with_suffix(".jsonl").exists():
        return None
    report = EvalReport.model_validate_json(path.read_text(encoding="utf-8"))
    report.items = load_items(path.with_suffix(".jsonl"))
    if [item.prompt_id for item in report.items] != ids or (judged and report.unscored == report.prompts):
        return None
    return report


def select_checkpoint(
    config: TrainConfig,
    prompts_file: Path,
    rule: Rule,
    *,
    judged: bool = True,
    backend: Any = None,
    batch_size: int = 8,
    reuse: bool = True,
) -> Selection:
    """Evaluate the base and every checkpoint on ``config``'s held-out prompts (point ``data.eval.path`` at the
    validation file), score each by ``rule`` and keep the best. Saved evaluations of the same prompts are reused."""
    from judgerl.train.checkers import choose_checker
    from judgerl.train.data import load_prompt_rows
    from judgerl.train.evaluate import compare, evaluate
    from judgerl.train.judging import judge_backend, needs_judge_backend

    if rule == "judge" and not judged:
        raise JudgerlError("--rule judge needs the judge: drop --no-judge, or choose with --rule check")
    if rule == "judge" and config.reward.kind == "none":
        raise JudgerlError("--rule judge: this run has no judge (reward.kind: none); choose with --rule check")
    _, rows = load_prompt_rows(config)
    if rule == "check" and choose_checker(rows, config.data.checker) == "none":
        raise JudgerlError(
            f"{prompts_file}: no program checker applies to these prompts (data.checker); choose with --rule judge"
        )
    ids = [row.prompt_id for row in rows]
    thresholds, criteria = None, {}
    if rule == "calibrated":
        if not judged:
            raise JudgerlError("--rule calibrated weighs the judge's scores: drop --no-judge")
        thresholds = gate_thresholds(config.run_dir)
        criteria = prompt_criteria(config, rows, thresholds, prompts_file)
    policies = dict(candidates(config))
    reports: dict[int, EvalReport] = {}
    for step in policies:
        saved = _saved(config, label_for(prompts_file, step), ids, judged) if reuse else None
        if saved is not None:
            logger.info("%s: reusing the saved evaluation", saved.label)
            reports[step] = saved
    missing = [step for step in policies if step not in reports]
    # one judge for every evaluation (an in-process judge loads its model once)
    owns_backend = backend is None and judged and bool(missing) and needs_judge_backend(config)
    if owns_backend:
        backend = judge_backend(config)
    try:
        for step in missing:
            label = label_for(prompts_file, step)
            reports[step] = evaluate(
                config, policies[step], label=label, backend=backend, judged=judged, batch_size=batch_size
            )
    finally:
        if owns_backend:
            backend.close()
    reports = dict(sorted(reports.items()))
    calibrated: dict[int, float | None] = {}
    if thresholds is not None:
        verdicts, calibrated = calibrated_step_scores(reports, criteria, thresholds)
        scores = calibrated
    else:
        scores = {step: score(report, rule) for step, report in reports.items()}
    chosen = choose(scores)
    versus = None
    if chosen:
        before, after = reports[0].items, reports[chosen].items
        if thresholds is not None:  # the paired comparison on these verdicts, not on the judge's own
            before, after = _with_verdicts(before, verdicts[0]), _with_verdicts(after, verdicts[chosen])
        versus = compare(before, after).model_dump()
    return Selection(
        rule=rule,
        thresholds=thresholds,
        prompts_file=str(prompts_file),
        prompts=len(rows),
        steps=[_step_score(step, policies[step], report, calibrated.get(step)) for step, report in reports.items()],
        chosen_step=chosen,
        chosen_policy=policies[chosen] if chosen else config.policy.model,
        versus_base=versus,
    )


def prompt_criteria(
    config: TrainConfig, rows: list[Any], thresholds: dict[str, float], prompts_file: Path
) -> dict[str, str]:
    """prompt id -> the criteria its replies are judged under (the gate's grouping), checked against the gate."""
    from judgerl.train.gate import criteria_of
    from judgerl.train.judging import row_rubrics

    rubrics = row_rubrics(config)
    criteria = {row.prompt_id: criteria_of(rubrics, row) for row in rows}
    uncalibrated = sorted({c for c in criteria.values() if c not in thresholds})
    if len(uncalibrated) == len(set(criteria.values())):
        raise JudgerlError(
            f"{prompts_file}: none of these prompts' criteria has a threshold in the run's gate ({len(thresholds)} "
            "calibrated); validate on prompts judged under the training data's criteria, or choose with --rule judge"
        )
    if uncalibrated:
        left = sum(c in uncalibrated for c in criteria.values())
        logger.warning(
            "%d of %d validation prompts are judged under criteria the gate gave no threshold (%s): the calibrated "
            "rule leaves them out",
            left,
            len(criteria),
            "; ".join(c[:60] for c in uncalibrated),
        )
    return criteria


def _with_verdicts(items: list[EvalItem], verdicts: dict[str, bool]) -> list[EvalItem]:
    """The items with the calibrated verdicts as their judge verdicts (None where a reply has none)."""
    return [item.model_copy(update={"judge_passed": verdicts.get(item.prompt_id)}) for item in items]


def _step_score(step: int, policy: str, report: EvalReport, calibrated: float | None) -> StepScore:
    return StepScore(
        step=step,
        policy=policy,
        label=report.label,
        judge_score_mean=report.judge_score_mean,
        unscored=report.unscored,
        check_rate=score(report, "check"),
        check_by_instruction=report.checker_by_instruction,
        calibrated=calibrated,
    )


def lead_over_base(selection: Selection) -> str:
    """What the kept checkpoint's lead over the base amounts to on these prompts."""
    versus = selection.versus_base
    if versus is None:
        return "the base policy is kept: no checkpoint scored above it under this rule"
    field = "checker" if selection.rule == "check" else "judge"
    said = "judge (at the gate's thresholds)" if selection.rule == "calibrated" else field
    change, p = versus[f"{field}_difference"], versus[f"{field}_mcnemar_p"]
    if change is None or p is None:
        return f"against the base: no paired {said} verdicts to compare"
    text = (
        f"against the base on {versus['prompts']} prompts, {said} pass change {change['rate']:+.1%} "
        f"[{change['low']:+.1%}, {change['high']:+.1%}], McNemar p {p:.3f}"
    )
    if p >= 0.05 or change["low"] <= 0:
        text += (
            "; not significant: on this many prompts the lead may be noise (more validation prompts, drawn "
            "like the requests the policy will meet, make the choice firmer)"
        )
        if field == "checker" and versus.get("checker_changed") is not None:
            from judgerl.train.evaluate import power_line

            text += f"; {power_line(versus['checker_changed'], versus['prompts'], 'validation prompts')}"
    return text
