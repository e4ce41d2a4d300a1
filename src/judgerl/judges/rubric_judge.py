"""RubricJudge: each criterion judged PASS/FAIL, weighted into a score; gates zero it when failed.

Two modes:
- ``logprob``: one forward pass per criterion reads P(PASS) from the judge's next-token probabilities; the
  part of the prompt shared by a sample's criteria is sent together so the backend computes it once.
  Rationales are generated afterwards, only where the rationale policy asks.
- ``generate``: every verdict comes with a reason. On a backend with label probabilities the verdict is read
  from the probability of the label at its place in the JSON reply (the prompt, then the reply up to
  ``"verdict": "``), and the reason is written after it, so a generated verdict cannot contradict the judge's
  own probabilities. A backend without them (Bedrock) writes JSON with a reason before each verdict and the
  verdict is parsed from its text (judgerl.judges.json_verdicts: one repair retry; what stays unusable is
  unscored with the raw reply).

Rationales explain a verdict already decided and are checked against it (judgerl.judges.rationales): one that
argues the opposite is written again once, and flagged ``rationale_consistent=False`` if it still does.

``injection_gate=True`` runs the deterministic injection detector (judgerl.judges.injection) on each response first:
a response with a high-severity finding (text addressed to the judge, fake verdicts or delimiters, hidden
characters) scores 0 with ``gate_failed="prompt_injection"`` and costs no model call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

from judgerl.backends.base import JudgeBackend, JudgePrompt
from judgerl.backends.label_logprobs import probability_problem
from judgerl.errors import JudgerlError
from judgerl.judges.base import Judge, Usage
from judgerl.judges.budget import Budget
from judgerl.judges.cache import VerdictCache, cache_key
from judgerl.judges.calibration import load_thresholds
from judgerl.judges.injection import INJECTION_GATE, Finding, detect
from judgerl.judges.json_verdicts import JsonVerdictWriter
from judgerl.judges.nonce_secrets import averaged_verdicts, secrets_count
from judgerl.judges.prompts import (
    PASS,
    RUBRIC_LABELS,
    TEMPLATE_VERSION,
    JudgedMaterial,
    criterion_prompt,
    rationale_prompt,
    truncate_middle,
    verdict_slot_prompt,
)
from judgerl.judges.rationales import RationalePolicy, RationaleWriter
from judgerl.judges.sample_judging import RubricScoring
from judgerl.judges.strategies import Strategy, rubric_p_pass, strategy_identity
from judgerl.rubric import Criterion, Rubric
from judgerl.samples import Sample, prompt_text
from judgerl.verdicts import CriterionVerdict, SampleVerdict

logger = logging.getLogger(__name__)

Mode = Literal["logprob", "generate"]
_TEMPLATE_OVERHEAD_TOKENS = 400


class RubricJudge(RubricScoring, Judge[Sample, SampleVerdict]):
    """Judges samples against a rubric with one backend. See the module docstring for the modes."""

    item_noun = "sample"
    backend: JudgeBackend

    def __init__(
        self,
        rubric: Rubric,
        backend: JudgeBackend,
        *,
        mode: Mode = "logprob",
        score: Literal["soft", "hard"] = "soft",
        rationales: str | RationalePolicy = "failures",
        thresholds: dict[str, float] | None = None,
        cache: VerdictCache | None = None,
        per_criterion_generation: bool = False,
        max_new_tokens: int = 512,
        rationale_tokens: int = 96,
        concurrency: int = 4,
        min_label_mass: float = 0.0,
        budget: Budget | None = None,
        reason_first: bool = True,
        injection_gate: bool = False,
        defences: bool = True,
        strategy: Strategy | None = None,
        nonce_secrets: int = 1,
    ) -> None:
        if mode not in ("logprob", "generate"):
            raise JudgerlError(f"mode: '{mode}' is not one of logprob, generate")
        if mode == "generate" and not backend.supports_logprobs:
            logger.warning(
                "backend %s gives no token probabilities: generate-mode verdicts are parsed from the judge's text "
                "and may contradict what it would answer when asked for the label alone",
                backend.name,
            )
        if mode == "logprob" and not backend.supports_logprobs:
            logger.warning("backend %s gives no token probabilities: using generate mode", backend.name)
            mode = "generate"
        self.rubric = rubric
        self._setup(backend, concurrency, budget)
        self.mode: Mode = mode
        self.score_kind = score
        self.rationales = RationalePolicy.parse(rationales)
        if strategy is not None and mode != "logprob":
            logger.warning(
                "the tuned strategy '%s' applies to log-prob verdicts; generate mode ignores it", strategy.name
            )
            strategy = None
        #: the tuned way of asking (judgerl tune); None: the plain log-prob verdict
        self.strategy = strategy if strategy is not None and not strategy.is_plain else None
        tuned_thresholds = self.strategy.thresholds if self.strategy is not None else {}
        self.thresholds = {
            **load_thresholds(rubric.source, backend.model_id),
            **tuned_thresholds,
            **(thresholds or {}),
        }
        unknown = set(self.thresholds) - set(rubric.names)
        if unknown:
            logger.warning("thresholds for unknown criteria ignored: %s", ", ".join(sorted(unknown)))
        self.cache = cache
        self.per_criterion_generation = per_criterion_generation
        self.max_new_tokens = max_new_tokens
        self.rationale_tokens = rationale_tokens
        self.min_label_mass = min_label_mass
        self.reason_first = reason_first
        self.injection_gate = injection_gate
        self.defences = defences
        #: P(PASS) averaged over this many nonce secrets (judges/nonce_secrets.py); undefended prompts have no nonce
        self.nonce_secrets = secrets_count(nonce_secrets, mode) if defences else 1
        if not defences:
            logger.warning("judge prompts without defences (no nonce blocks, no neutralising): for measurement only")
        # generate mode reads its verdicts from label probabilities where the backend has them
        self._reads_label_slot = mode == "generate" and backend.supports_logprobs
        # generate mode's verdicts on a backend without label probabilities: JSON written by the judge
        self._json_writer = JsonVerdictWriter(
            backend,
            rubric.instructions,
            lambda c, passed, reason: self._verdict(c, None, passed, reason),
            max_new_tokens=max_new_tokens,
            reason_first=reason_first,
            per_criterion=per_criterion_generation,
        )

    # ---- public API -------------------------------------------------------------------------------------

    def judge_one(self, sample: Sample) -> SampleVerdict:
        return self.judge([sample])[0]

    def threshold(self, name: str) -> float:
        return self.thresholds.get(name, 0.5)

    # ---- one sample --------------------------------------------------------------------------------------

    def _unscored(self, item: Sample, reason: str, usage: Usage | None) -> SampleVerdict:
        return SampleVerdict(
            id=item.id,
            score=None,
            unscored_reason=reason,
            mode=self.mode,
            judge_model=self.backend.model_id,
            **Usage.fields(usage),
        )

    def material(self, sample: Sample) -> tuple[JudgedMaterial, bool]:
        """Truncate the prompt, reference and response to fit the judge's input budget."""
        count = self.backend.count_tokens
        budget = max(512, self.backend.max_input_tokens - _TEMPLATE_OVERHEAD_TOKENS - 40 * len(self.rubric.criteria))
        prompt, cut_prompt = truncate_middle(prompt_text(sample.prompt), budget // 4, count)
        reference, cut_reference = None, False
        if self.rubric.use_reference and sample.reference is not None:
            reference, cut_reference = truncate_middle(sample.reference, budget // 4, count)
        room = budget - count(prompt) - (count(reference) if reference else 0)
        response, cut_response = truncate_middle(sample.response, max(room, 128), count)
        truncated = cut_prompt or cut_reference or cut_response
        return JudgedMaterial(prompt, response, reference, guarded=self.defences), truncated

    def _prepare(
        self, sample: Sample
    ) -> list[Finding] | tuple[JudgedMaterial, bool, dict[str, str], list[dict[str, Any] | None]]:
        """The injection gate's findings, or (material, truncated, cache keys, cache hits). Runs off the loop."""
        if self.injection_gate:
            findings = [f for f in detect(sample.response) if f.severity == "high"]
            if findings:
                return findings
        material, truncated = self.material(sample)
        keys = {c.name: self._key(material, c) for c in self.rubric.criteria}
        hits: list[dict[str, Any] | None] = [None] * len(keys)
        if self.cache is not None:
            hits = self.cache.get_many(list(keys.values()))
        return material, truncated, keys, hits

    def _key(self, material: JudgedMaterial, criterion: Criterion) -> str:
        mode = f"{self.mode}{'-per-criterion' if self.per_criterion_generation else ''}"
        if self._reads_label_slot:
            mode = "generate-label-slot"
        elif self.mode == "generate" and not self.reason_first:
            mode += "-verdict-first"
        if not self.defences:
            mode += "-undefended"
        if self.strategy is not None:
            mode += f"-tuned:{strategy_identity(self.strategy)}"
        if self.nonce_secrets > 1:
            mode += f"-secrets{self.nonce_secrets}"
        return cache_key(
            self.backend.cache_identity,
            TEMPLATE_VERSION,
            mode,
            self.rubric.instructions,
            criterion.text,
            material.prompt,
            material.response,
            material.reference,
        )

    async def _judge_item(self, sample: Sample, usage: Usage) -> SampleVerdict:
        started = time.perf_counter()
        # work that grows with the input (detector, tokenising, hashing, cache lookup) runs on a worker thread
        prepared = await asyncio.to_thread(self._prepare, sample)
        if isinstance(prepared, list):
            return self._injection_verdict(sample.id, prepared, time.perf_counter() - started)
        material, truncated, keys, hits = prepared
        verdicts: dict[str, CriterionVerdict] = {}
        todo: list[Criterion] = []
        for criterion, hit in zip(self.rubric.criteria, hits, strict=True):
            if hit is None:
                todo.append(criterion)
            else:
                verdicts[criterion.name] = self._verdict(
                    criterion, hit.get("p_pass"), hit.get("passed"), hit.get("rationale"), cached=True
                ).model_copy(
                    update={
                        "rationale_consistent": hit.get("rationale_consistent"),
                        "rationale_dropped": hit.get("rationale_dropped"),
                    }
                )
        raw_reply = None
        if todo and (self.mode == "logprob" or self._reads_label_slot):

            async def once(judged: JudgedMaterial, criteria: list[Criterion]) -> dict[str, CriterionVerdict]:
                return await self._logprob_verdicts(judged, criteria, usage)

            def make(criterion: Criterion, p_pass: float) -> CriterionVerdict:
                return self._verdict(criterion, p_pass, None, None)

            verdicts.update(await averaged_verdicts(once, material, todo, self.nonce_secrets, make))
        elif todo:
            generated, raw_reply = await self._json_writer.verdicts(material, todo, usage)
            verdicts.update(generated)
        fresh = {c.name for c in todo}
        if self.mode == "logprob" or self._reads_label_slot:
            explained = await self._add_rationales(sample.id, material, verdicts, usage)
            verdicts.update(explained)
            fresh.update(explained)
        if self.cache is not None:  # a failed write is logged by the cache; the verdicts stand
            writes = []
            for criterion in self.rubric.criteria:
                verdict = verdicts[criterion.name]
                if verdict.scored and criterion.name in fresh:
                    value = {"p_pass": verdict.p_pass, "passed": verdict.passed, "rationale": verdict.rationale,
                             "rationale_consistent": verdict.rationale_consistent,
                             "rationale_dropped": verdict.rationale_dropped}  # fmt: skip
                    writes.append((keys[criterion.name], value))
            await self.cache.aput_many(writes)
        ordered = [verdicts[c.name] for c in self.rubric.criteria]
        return self._aggregate(sample.id, ordered, usage, time.perf_counter() - started, truncated, raw_reply)

    def _injection_verdict(self, sample_id: str, findings: list[Finding], latency: float) -> SampleVerdict:
        """The reward gate for a response that addresses the judge: every criterion fails, no model call."""
        reason = "prompt injection detected: " + "; ".join(str(f) for f in findings[:3])
        criteria = [
            CriterionVerdict(name=c.name, passed=False, threshold=self.threshold(c.name), rationale=reason)
            for c in self.rubric.criteria
        ]
        return SampleVerdict(
            id=sample_id,
            score=0.0,
            hard_score=0.0,
            criteria=criteria,
            gate_failed=INJECTION_GATE,
            mode=self.mode,
            judge_model=self.backend.model_id,
            latency_s=latency,
        )

    def _verdict(
        self,
        criterion: Criterion,
        p_pass: float | None,
        passed: bool | None,
        rationale: str | None,
        cached: bool = False,
    ) -> CriterionVerdict:
        threshold = self.threshold(criterion.name)
        if p_pass is not None:
            passed = p_pass >= threshold
        return CriterionVerdict(
            name=criterion.name, passed=passed, p_pass=p_pass, threshold=threshold, rationale=rationale, cached=cached
        )

    async def _logprob_verdicts(
        self, material: JudgedMaterial, criteria: list[Criterion], usage: Usage
    ) -> dict[str, CriterionVerdict]:
        if self.strategy is not None:
            return await self._strategy_verdicts(self.strategy, material, criteria, usage)
        ask = verdict_slot_prompt if self._reads_label_slot else criterion_prompt
        instructions = self.rubric.instructions
        # building a prompt neutralises the material: linear in its size, so off the loop
        prompts = await asyncio.to_thread(lambda: [ask(material, c, instructions) for c in criteria])
        results = await self.backend.alabel_probs(prompts, RUBRIC_LABELS)
        verdicts: dict[str, CriterionVerdict] = {}
        for criterion, result in zip(criteria, results, strict=True):
            usage.prompt_tokens += result.prompt_tokens
            usage.completion_tokens += result.completion_tokens
            problem = result.error or probability_problem(result.probs, RUBRIC_LABELS)
            if problem is not None or result.probs is None:
                reason = problem or "the backend returned no label probabilities"
                verdicts[criterion.name] = CriterionVerdict(name=criterion.name, passed=None, unscored_reason=reason)
            elif result.mass < self.min_label_mass:
                verdicts[criterion.name] = CriterionVerdict(
                    name=criterion.name,
                    passed=None,
                    unscored_reason=f"the judge put only {result.mass:.3f} of its probability on PASS/FAIL",
                )
            else:
                p_pass = min(1.0, max(0.0, result.probs[PASS]))
                verdicts[criterion.name] = self._verdict(criterion, p_pass, None, None)
        return verdicts

    async def _strategy_verdicts(
        self, strategy: Strategy, material: JudgedMaterial, criteria: list[Criterion], usage: Usage
    ) -> dict[str, CriterionVerdict]:
        """P(PASS) read the tuned way (judgerl.judges.strategies, the code `judgerl tune` measured)."""
        readings = await rubric_p_pass(self.backend, strategy, material, criteria, self.rubric.instructions)
        verdicts: dict[str, CriterionVerdict] = {}
        for criterion, reading in zip(criteria, readings, strict=True):
            usage.prompt_tokens += reading.prompt_tokens
            usage.completion_tokens += reading.completion_tokens
            if reading.p is None:
                reason = reading.error or "the backend returned no label probabilities"
                verdicts[criterion.name] = CriterionVerdict(name=criterion.name, passed=None, unscored_reason=reason)
            else:
                verdicts[criterion.name] = self._verdict(criterion, reading.p, None, None)
        return verdicts

    async def _add_rationales(
        self, sample_id: str, material: JudgedMaterial, verdicts: dict[str, CriterionVerdict], usage: Usage
    ) -> dict[str, CriterionVerdict]:
        """Explain the verdicts the rationale policy asks for (every one in generate mode), each checked against
        its verdict (judgerl.judges.rationales.RationaleWriter)."""
        wanted = [
            c
            for c in self.rubric.criteria
            if verdicts[c.name].scored
            and verdicts[c.name].rationale is None
            and verdicts[c.name].rationale_dropped is None  # dropped as garbage (cached): not asked for again
            and (self.mode == "generate" or self.rationales.wants(sample_id, c.name, verdicts[c.name].passed))
        ]
        if not wanted:
            return {}
        instructions = self.rubric.instructions

        def build() -> list[tuple[Criterion, JudgePrompt, bool]]:  # neutralising is linear in the material
            asked = []
            for c in wanted:
                passed = bool(verdicts[c.name].passed)
                asked.append((c, rationale_prompt(material, c, instructions, passed), passed))
            return asked

        asked = await asyncio.to_thread(build)
        written = await RationaleWriter(self.backend, self.rationale_tokens).explain(asked, usage)
        updated: dict[str, CriterionVerdict] = {}
        for criterion, rationale in zip(wanted, written, strict=True):
            if rationale is None:
                continue
            if rationale.consistent is False:
                logger.info("rationale for %s/%s argues against its verdict", sample_id, criterion.name)
            if rationale.dropped is not None:
                logger.info("rationale for %s/%s dropped: %s", sample_id, criterion.name, rationale.dropped)
            updated[criterion.name] = verdicts[criterion.name].model_copy(
                update={
                    "rationale": rationale.text,
                    "rationale_consistent": rationale.consistent,
                    "rationale_dropped": rationale.dropped,
                    "cached": False,
                }
            )
        return updated

    # ---- score -------------------------------------------------------------------------------------------

    def _aggregate(
        self,
        sample_id: str,
        verdicts: list[CriterionVerdict],
        usage: Usage,
        latency: float,
        truncated: bool,
        raw_reply: str | None,
    ) -> SampleVerdict:
        common = {
            "id": sample_id,
            "criteria": verdicts,
            "mode": self.mode,
            "judge_model": self.backend.model_id,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "latency_s": latency,
            "truncated": truncated,
        }
        unscored = [v for v in verdicts if not v.scored]
        if unscored:
            reason = "; ".join(f"{v.name}: {v.unscored_reason}" for v in unscored)
            return SampleVerdict(score=None, unscored_reason=reason, raw_reply=raw_reply, **common)
        soft, hard, gate = score_verdicts(self.rubric, verdicts)
        score = soft if self.score_kind == "soft" else hard
        return SampleVerdict(score=score, hard_score=hard, gate_failed=gate, **common)


def score_verdicts(rubric: Rubric, verdicts: Sequence[CriterionVerdict]) -> tuple[float, float, str | None]:
    """(soft, hard, failed gate) for fully scored verdicts.

    A failed gate makes both scores 0. Otherwise the score is the weighted mean over the non-gate criteria
    (gates are constraints, not quality) of p_pass (soft) or of the hard verdicts; a rubric made only of
    gates scores the mean over its gates."""
    by_name = {v.name: v for v in verdicts}
    for criterion in rubric.criteria:
        if criterion.gate and by_name[criterion.name].passed is False:
            return 0.0, 0.0, criterion.name
    counted = [c for c in rubric.criteria if not c.gate] or list(rubric.criteria)
    total = sum(c.weight for c in counted)
    soft = hard = 0.0
    for criterion in counted:
        verdict = by_name[criterion.name]
        passed = 1.0 if verdict.passed else 0.0
        soft += criterion.weight * (verdict.p_pass if verdict.p_pass is not None else passed)
        hard += criterion.weight * passed
    return soft / total, hard / total, None
