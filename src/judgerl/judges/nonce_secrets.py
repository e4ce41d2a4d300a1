"""A log-prob verdict averaged over several nonce secrets (``judge.nonce_secrets``).

The judge's prompt quotes the material between tags marked with a nonce, keyed by a secret the policy cannot
know (judgerl.judges.prompts). The nonce means nothing, yet it moves the judge's P(PASS): on the safety task's
replies, the packaged 1.5B judge's score moved by 0.018 on average (standard deviation over secrets) and by up to
0.15, and two secrets ordered 1 in 10 of the pairs of replies to one request that a refusal check tells apart
differently (BENCHMARKS.md, "The judge's score and the nonce in its prompt"). Averaging P(PASS) over k secrets
steadies the score at k times the judge's work.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from judgerl.errors import JudgerlError
from judgerl.judges.prompts import JudgedMaterial, nonce_secret
from judgerl.rubric import Criterion
from judgerl.verdicts import CriterionVerdict

logger = logging.getLogger(__name__)

#: judges ``material`` on ``criteria`` once (one secret): criterion name -> verdict
JudgeOnce = Callable[[JudgedMaterial, list[Criterion]], Awaitable[dict[str, CriterionVerdict]]]
#: a scored verdict of ``criterion`` from an averaged P(PASS) (the judge's thresholds apply)
MakeVerdict = Callable[[Criterion, float], CriterionVerdict]


def secrets_count(count: int, mode: str) -> int:
    """The secrets a judge in ``mode`` averages over: ``count`` for log-prob verdicts, 1 in generate mode."""
    if count < 1:
        raise JudgerlError(f"nonce_secrets: {count} is not a count; 1 judges once, k > 1 averages over k secrets")
    if count > 1 and mode != "logprob":
        logger.warning("nonce_secrets averages log-prob verdicts; generate mode judges once")
        return 1
    return count


async def averaged_verdicts(
    judge_once: JudgeOnce,
    material: JudgedMaterial,
    criteria: Sequence[Criterion],
    count: int,
    make_verdict: MakeVerdict,
) -> dict[str, CriterionVerdict]:
    """Each criterion's P(PASS) averaged over ``count`` nonce secrets (the first is the process secret, so one
    secret is the plain verdict). A criterion unscored under any secret is unscored, with that secret's reason."""
    if count == 1:
        return await judge_once(material, list(criteria))
    materials = [replace(material, secret=nonce_secret(index)) for index in range(count)]
    runs = await asyncio.gather(*(judge_once(m, list(criteria)) for m in materials))
    averaged: dict[str, CriterionVerdict] = {}
    for criterion in criteria:
        verdicts = [run[criterion.name] for run in runs]
        failed = next(((i, v) for i, v in enumerate(verdicts) if v.p_pass is None), None)
        if failed is not None:
            index, verdict = failed
            reason = verdict.unscored_reason or "no P(PASS)"
            averaged[criterion.name] = CriterionVerdict(
                name=criterion.name, passed=None, unscored_reason=f"nonce secret {index + 1} of {count}: {reason}"
            )
            continue
        averaged[criterion.name] = make_verdict(criterion, statistics.fmean(float(v.p_pass or 0.0) for v in verdicts))
    return averaged
