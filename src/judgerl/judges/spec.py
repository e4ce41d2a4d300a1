"""JudgeSpec: the one description of a judge (backend, model, options, mode, score, rationales, thresholds, cache,
concurrency, defences) and the one place judges are built from it.

Every door builds its judge through a spec: `judgerl judge`, `calibrate` and `validate` from their command-line
options, training from its config's ``judge:`` section (a spec plus training's own settings), and the HTTP server,
the Lambda and verl from a serving config (a spec plus the rubric to serve, :mod:`judgerl.serve.config`). So a
backend given as ``package.module:Factory`` and every option mean the same thing behind every door.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from judgerl.backends import JudgeBackend, build_backend
from judgerl.errors import JudgerlError
from judgerl.judges.budget import Budget
from judgerl.judges.cache import VerdictCache
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.rationales import RationalePolicy
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.rubric import Rubric

#: the backends that run a model of the catalog in-process: with no model named, they run the catalog's judge
LOCAL_BACKENDS = frozenset({"transformers"})


def default_judge_model() -> str:
    """The model catalog's default judge, by name."""
    from judgerl.models.catalog import DEFAULT_JUDGE

    return DEFAULT_JUDGE


class JudgeSpec(BaseModel):
    """How to build a judge. ``backend`` is a registered name or 'package.module:Factory'; ``options`` go to the
    backend's constructor as they are (``backend_options`` is accepted as another name for them)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    backend: str = "transformers"
    model: str | None = None
    region: str | None = None
    options: dict[str, Any] = Field(default_factory=dict, validation_alias=AliasChoices("options", "backend_options"))
    mode: Literal["logprob", "generate"] = "logprob"
    score: Literal["soft", "hard"] = "soft"
    rationales: str = "failures"
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per-criterion PASS thresholds, over those of the calibration file."
    )
    cache_path: str | None = None
    concurrency: int = Field(default=4, ge=1, le=4096)
    max_new_tokens: int = Field(default=512, gt=0)
    rationale_tokens: int = Field(default=96, gt=0)
    per_criterion_generation: bool = False
    reason_first: bool = True
    defences: bool = True
    injection_gate: bool = False
    tie_margin: float = Field(default=0.0, ge=0.0, lt=0.5)

    @field_validator("rationales")
    @classmethod
    def _rationales_valid(cls, value: str) -> str:
        try:
            RationalePolicy.parse(value)
        except JudgerlError as exc:
            raise ValueError(str(exc).removeprefix("rationales: ")) from None
        return value

    @field_validator("backend")
    @classmethod
    def _backend_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a backend, e.g. 'transformers', 'openai', 'bedrock' or 'module:Factory'")
        return value.strip()

    @property
    def backend_options(self) -> dict[str, Any]:
        return self.options

    # ---- building ------------------------------------------------------------------------------------------

    def backend_kwargs(self) -> dict[str, Any]:
        """The backend's constructor options: ``options``, then ``model`` (the catalog's judge for a local
        backend when none is named) and ``region``."""
        options = dict(self.options)
        model = self.model
        if model is None and "model" not in options and self.backend in LOCAL_BACKENDS:
            model = default_judge_model()
        if model is not None:
            options["model"] = model
        if self.region is not None:
            options["region"] = self.region
        return options

    def build_backend(self) -> JudgeBackend:
        return build_backend(self.backend, **self.backend_kwargs())

    def open_cache(self) -> VerdictCache | None:
        return VerdictCache(self.cache_path) if self.cache_path else None

    def rubric_judge(
        self,
        rubric: Rubric,
        backend: JudgeBackend,
        *,
        cache: VerdictCache | None = None,
        budget: Budget | None = None,
    ) -> RubricJudge:
        """A rubric judge on ``backend`` (shared: a model loads once per door)."""
        return RubricJudge(
            rubric,
            backend,
            mode=self.mode,
            score=self.score,
            rationales=self.rationales,
            thresholds=self.thresholds or None,
            cache=cache,
            per_criterion_generation=self.per_criterion_generation,
            max_new_tokens=self.max_new_tokens,
            rationale_tokens=self.rationale_tokens,
            concurrency=self.concurrency,
            budget=budget,
            reason_first=self.reason_first,
            injection_gate=self.injection_gate,
            defences=self.defences,
        )

    def pairwise_judge(
        self,
        backend: JudgeBackend,
        *,
        instructions: str = "",
        cache: VerdictCache | None = None,
        budget: Budget | None = None,
    ) -> PairwiseJudge:
        """A pairwise judge on ``backend``."""
        return PairwiseJudge(
            backend,
            instructions=instructions,
            tie_margin=self.tie_margin,
            rationales=self.rationales,
            cache=cache,
            rationale_tokens=self.rationale_tokens,
            concurrency=self.concurrency,
            budget=budget,
        )
