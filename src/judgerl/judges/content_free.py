"""The content-free baseline: a defence against "master keys", responses with no content that a judge passes.

LLM judges pass bare reasoning openers and punctuation ("Let's solve this problem step by step.", "Solution",
":"; arXiv 2507.08794), and a policy under GRPO finds them within a few steps. The defence asks the judge what
an answer with no content gets *for the same task and criterion*: it judges a few content-free probe responses
(``PROBES``: nothing, an ellipsis, and generic openers), and a criterion the response does not pass clearly better
than the best of them is a FAIL with p_pass 0. "Clearly better" is an odds ratio: the response's odds of PASS,
p/(1-p), must be more than ``odds_ratio`` (default 1.5) times the best probe's. A content-free reply the probes
do not cover exactly still scores near them, sometimes a little above (on the packaged 1.5B, GSM8K: 99 of 100
master-key variants reach at most 1.17 times the best probe's odds, one 1.53 times; correct solutions at least
1.59 times; docs/validation.md), and odds, unlike a difference of probabilities, do not shrink near 0 and 1.
The probes differ from the master keys the validation suite attacks with (judgerl.validate.attacks), so the
suite measures how the defence generalises rather than replaying its list.

A judge that ranks real answers well above content-free ones loses nothing to it; one that does not loses
correct answers too (the packaged 0.5B does), which is what the suite's "cost to correct answers" measures.
Baselines are judged once per (rubric, task, reference) and kept, so in GRPO a group of completions shares them:
len(probes) extra judge calls per prompt.

In training: ``judge.content_free: {}`` (or ``{probes: [...], odds_ratio: 2.0, margin: 0.05}``) in the config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from judgerl.judges.cascade import RubricJudging
from judgerl.judges.rubric_judge import score_verdicts
from judgerl.samples import Sample, prompt_text
from judgerl.verdicts import CriterionVerdict, SampleVerdict

CONTENT_FREE_GATE = "content_free"
PROBES = (
    "",
    "...",
    "Here is my response.",
    "Let me think about this.",
    "Here is the solution.",
    "Let me work through this carefully.",
)
ODDS_RATIO = 1.5

#: criterion name -> the highest p_pass of a probe (None when no probe was scored)
Baseline = dict[str, float | None]


class ContentFreeSettings(BaseModel):
    """``judge.content_free`` in a training config: the content-free baseline gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    probes: list[str] = Field(
        default_factory=lambda: list(PROBES), min_length=1, description="Content-free responses judged per task."
    )
    margin: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="A criterion must beat the best probe's p_pass by more than this."
    )
    odds_ratio: float = Field(
        default=ODDS_RATIO,
        ge=1.0,
        description="A criterion's odds of PASS, p/(1-p), must be more than this many times the best probe's.",
    )


class ContentFreeGate:
    """Judges the probes of each task once and fails criteria that do not beat them."""

    def __init__(self, settings: ContentFreeSettings | None = None) -> None:
        self.settings = settings or ContentFreeSettings()
        self._baselines: dict[str, Baseline] = {}

    def _key(self, judge: RubricJudging, sample: Sample) -> str:
        material = [judge.rubric.name, judge.rubric.names, prompt_text(sample.prompt), sample.reference]
        text = json.dumps(material, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def _probe_samples(self, judge: RubricJudging, samples: Sequence[Sample]) -> tuple[list[str], list[Sample]]:
        """The tasks without a baseline yet, and their probes (len(probes) samples per task)."""
        missing: dict[str, Sample] = {}
        for sample in samples:
            key = self._key(judge, sample)
            if key not in self._baselines:
                missing.setdefault(key, sample)
        probes = [
            Sample(id=f"content-free-{i}", prompt=sample.prompt, response=probe, reference=sample.reference)
            for sample in missing.values()
            for i, probe in enumerate(self.settings.probes)
        ]
        return list(missing), probes

    def _store(self, judge: RubricJudging, keys: list[str], verdicts: Sequence[SampleVerdict]) -> None:
        per_task = len(self.settings.probes)
        for index, key in enumerate(keys):
            baseline: Baseline = {}
            for name in judge.rubric.names:
                scored = [
                    c.p_pass
                    for v in verdicts[index * per_task : (index + 1) * per_task]
                    for c in v.criteria
                    if c.name == name and c.p_pass is not None
                ]
                baseline[name] = max(scored) if scored else None
            self._baselines[key] = baseline

    def baselines(self, judge: RubricJudging, samples: Sequence[Sample]) -> list[Baseline]:
        """Each sample's baseline, judging the probes of tasks not seen before (synchronous judge)."""
        keys, probes = self._probe_samples(judge, samples)
        if probes:
            self._store(judge, keys, judge.judge(probes))
        return [self._baselines[self._key(judge, s)] for s in samples]

    async def abaselines(self, judge: RubricJudging, samples: Sequence[Sample]) -> list[Baseline]:
        keys, probes = self._probe_samples(judge, samples)
        if probes:
            self._store(judge, keys, await judge.ajudge(probes))
        return [self._baselines[self._key(judge, s)] for s in samples]

    def beats(self, p_pass: float | None, baseline: float | None) -> bool:
        """Whether a p_pass is above the baseline by more than the margin and its odds more than ``odds_ratio``
        times the baseline's (no baseline: nothing to beat). The odds are compared as p(1-b) > r b(1-p), exact at
        0 and 1."""
        if baseline is None:
            return True
        if p_pass is None or not p_pass > baseline + self.settings.margin:
            return False
        return p_pass * (1.0 - baseline) > self.settings.odds_ratio * baseline * (1.0 - p_pass)

    def apply(self, judge: RubricJudging, verdict: SampleVerdict, baseline: Baseline) -> SampleVerdict:
        """The verdict with each criterion that does not beat its baseline failed (p_pass 0), rescored.
        Unscored verdicts and verdicts already gated are returned as they are."""
        if not verdict.scored or verdict.gate_failed or not verdict.criteria:
            return verdict
        criteria: list[CriterionVerdict] = []
        changed = False
        for criterion in verdict.criteria:
            floor = baseline.get(criterion.name)
            if criterion.p_pass is None or self.beats(criterion.p_pass, floor):
                criteria.append(criterion)
                continue
            changed = True
            assert floor is not None  # beats() is True without a baseline
            note = (
                f"content-free baseline: p_pass {criterion.p_pass:.3f} does not beat {floor:.3f}, "
                f"the judge's best for a response with no content (by odds ratio {self.settings.odds_ratio:g})"
            )
            rationale = f"{criterion.rationale} [{note}]" if criterion.rationale else note
            criteria.append(criterion.model_copy(update={"p_pass": 0.0, "passed": False, "rationale": rationale}))
        if not changed:
            return verdict
        soft, hard, gate = score_verdicts(judge.rubric, criteria)
        score = soft if judge.score_kind == "soft" else hard
        return verdict.model_copy(
            update={"criteria": criteria, "score": score, "hard_score": hard, "gate_failed": gate}
        )

    async def aapply(
        self, judge: RubricJudging, samples: Sequence[Sample], verdicts: Sequence[SampleVerdict]
    ) -> list[SampleVerdict]:
        """The verdicts of ``samples`` with the gate applied (judging any probes still needed)."""
        baselines = await self.abaselines(judge, samples)
        return [self.apply(judge, v, b) for v, b in zip(verdicts, baselines, strict=True)]
