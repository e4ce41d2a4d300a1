"""JudgeSpec: the one description of a judge (backend, model, options, mode, score, rationales, thresholds, cache,
concurrency, defences) and the one place judges are built from it.

A spec builds every kind of judge: a rubric judge (:meth:`JudgeSpec.rubric_judge`), a pairwise judge
(:meth:`JudgeSpec.pairwise_judge`), a cascade of either, and an OpenAI grader (:meth:`JudgeSpec.grader_judge`).
Every door builds its judge through a spec: `judgerl judge`, `calibrate` and `validate` from their command-line
options, training from its config's ``judge:`` section (a spec plus training's own settings), and the HTTP server,
the Lambda and verl from a serving config (a spec plus the rubric to serve, :mod:`judgerl.serve.config`). So a
backend given as ``package.module:Factory`` and every option mean the same thing behind every door.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from judgerl.backends import JudgeBackend, build_backend
from judgerl.errors import JudgerlError, describe_validation_error
from judgerl.graders.binding import embedder_for, embeddings_url_of, grader_model, needs_backend
from judgerl.graders.embeddings import DEFAULT_EMBEDDINGS_MODEL
from judgerl.graders.grader import Grader
from judgerl.graders.python_runner import PythonLimits
from judgerl.graders.spec import GraderSpec, load_spec
from judgerl.judges.budget import Budget
from judgerl.judges.cache import VerdictCache
from judgerl.judges.calibration import load_margins
from judgerl.judges.cascade import (
    DEFAULT_MARGIN,
    CascadeBackends,
    PairCascade,
    PairJudging,
    RubricCascade,
    RubricJudging,
)
from judgerl.judges.grader_judge import GraderJudge
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.rationales import RationalePolicy
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.judges.tuned import load_tuned
from judgerl.rubric import Rubric

#: what a stage of a cascade says for itself; with a cascade, the judge itself keeps only the cache, concurrency and
#: the settings of the door (training's cache, validation, overlap; serving's rubric, pairwise)
STAGE_FIELDS = (
    "backend",
    "model",
    "region",
    "options",
    "mode",
    "score",
    "rationales",
    "thresholds",
    "max_new_tokens",
    "rationale_tokens",
    "per_criterion_generation",
    "reason_first",
    "defences",
    "injection_gate",
    "tie_margin",
    "nonce_secrets",
)

#: the backends that run a model of the catalog in-process: with no model named, they run the catalog's judge
LOCAL_BACKENDS = frozenset({"transformers", "llamacpp"})


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
    nonce_secrets: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Average each log-prob P(PASS) over this many nonce secrets (the nonce in the judge's prompt "
        "moves its score; k secrets cost k verdicts). 1: judge once.",
    )
    tuned: bool = Field(
        default=True,
        description="Ask the judge the way `judgerl tune` chose for this rubric and judge model (its "
        "<rubric>.tuned.json); false: the plain log-prob verdict.",
    )
    cascade: list[CascadeStage] = Field(
        default_factory=list,
        description="A judge cascade: two or more stages (judge specs, each with an escalation margin), tried in "
        "order; an item goes to the next stage where the current one is unsure (judgerl.judges.cascade).",
    )

    @model_validator(mode="after")
    def _secrets_need_logprob(self) -> JudgeSpec:
        if self.nonce_secrets > 1 and self.mode != "logprob":
            raise ValueError("nonce_secrets: averaging over nonce secrets applies to log-prob verdicts (mode: logprob)")
        return self

    @model_validator(mode="after")
    def _cascade_valid(self) -> JudgeSpec:
        if not self.cascade:
            return self
        if len(self.cascade) < 2:
            raise ValueError("cascade: needs at least two stages (a single judge needs no cascade)")
        # a field at its default is left alone, so a dumped spec (the Lambda's bundled config) loads again
        fields = type(self).model_fields
        both = [n for n in STAGE_FIELDS if getattr(self, n) != fields[n].get_default(call_default_factory=True)]
        if both:
            raise ValueError(f"cascade: '{both[0]}' belongs to each stage; set it in the stages, not beside them")
        for index, stage in enumerate(self.cascade, start=1):
            if stage.cascade:
                raise ValueError(f"cascade: stage {index} has a cascade of its own; list all stages in one cascade")
            if stage.cache_path is not None:
                raise ValueError(f"cascade: stage {index} names a cache; the cascade's stages share the judge's cache")
        return self

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
        """The judge's backend; for a cascade, every stage's backend in one :class:`CascadeBackends`."""
        if not self.cascade:
            return build_backend(self.backend, **self.backend_kwargs())
        built: list[JudgeBackend] = []
        try:
            for stage in self.cascade:
                built.append(stage.build_backend())
        except BaseException:
            for backend in built:
                backend.close()
            raise
        return CascadeBackends(built)

    def for_grader(self, grader: GraderSpec) -> Self:
        """This spec for a grader's model graders: with no model named, on a remote backend the grader's own
        ``model`` (when all its model graders name one), as ``judgerl graders run`` does."""
        return self.model_copy(update={"model": grader_model(grader, self.backend, self.model)})

    def with_tie_margin(self, tie_margin: float) -> JudgeSpec:
        """This spec with ``tie_margin`` (for a cascade, on every stage): training's preference settings."""
        if not self.cascade:
            return self.model_copy(update={"tie_margin": tie_margin})
        stages = [stage.model_copy(update={"tie_margin": tie_margin}) for stage in self.cascade]
        return self.model_copy(update={"cascade": stages})

    def _stage_backends(self, backend: JudgeBackend) -> list[JudgeBackend]:
        if not isinstance(backend, CascadeBackends) or len(backend.stages) != len(self.cascade):
            raise JudgerlError(f"cascade: a cascade of {len(self.cascade)} stages is built on spec.build_backend()")
        return backend.stages

    def _margins(self, rubric_source: str | Path | None, backends: list[JudgeBackend]) -> list[float]:
        """Each escalating stage's margin: its own, else the one `judgerl calibrate --cascade` saved, else 0.1."""
        saved = load_margins(rubric_source, [b.model_id for b in backends]) or []
        margins = []
        for index, stage in enumerate(self.cascade[:-1]):
            if stage.margin is not None:
                margins.append(stage.margin)
            elif index < len(saved):
                margins.append(saved[index])
            else:
                margins.append(DEFAULT_MARGIN)
        return margins

    def open_cache(self) -> VerdictCache | None:
        return VerdictCache(self.cache_path) if self.cache_path else None

    def rubric_judge(
        self,
        rubric: Rubric,
        backend: JudgeBackend,
        *,
        cache: VerdictCache | None = None,
        budget: Budget | None = None,
    ) -> RubricJudging:
        """A rubric judge on ``backend`` (shared: a model loads once per door); a :class:`RubricCascade` of the
        stages' judges for a cascade (``backend`` from :meth:`build_backend`)."""
        if self.cascade:
            backends = self._stage_backends(backend)
            stages = [
                stage.single_rubric_judge(rubric, stage_backend, cache=cache, budget=budget, tuned=self.tuned)
                for stage, stage_backend in zip(self.cascade, backends, strict=True)
            ]
            return RubricCascade(stages, self._margins(rubric.source, backends), concurrency=self.concurrency)
        return self.single_rubric_judge(rubric, backend, cache=cache, budget=budget)

    def single_rubric_judge(
        self,
        rubric: Rubric,
        backend: JudgeBackend,
        *,
        cache: VerdictCache | None = None,
        budget: Budget | None = None,
        tuned: bool = True,
    ) -> RubricJudge:
        """One rubric judge on ``backend`` (this spec's own fields; a cascade's stages are built with it), asked
        the tuned way when `judgerl tune` saved a choice for this rubric and judge model (unless ``tuned`` is off
        here or in the spec)."""
        choice = load_tuned(rubric.source, backend.model_id) if tuned and self.tuned else None
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
            strategy=choice.strategy if choice is not None else None,
            nonce_secrets=self.nonce_secrets,
        )

    def pairwise_judge(
        self,
        backend: JudgeBackend,
        *,
        instructions: str = "",
        cache: VerdictCache | None = None,
        budget: Budget | None = None,
    ) -> PairJudging:
        """A pairwise judge on ``backend``; a :class:`PairCascade` for a cascade. Pairs have no calibration
        file, so a stage's margin is its own or 0.1."""
        if self.cascade:
            backends = self._stage_backends(backend)
            stages = [
                stage.single_pairwise_judge(
                    stage_backend, instructions=instructions, cache=cache, budget=budget, tuned=self.tuned
                )
                for stage, stage_backend in zip(self.cascade, backends, strict=True)
            ]
            return PairCascade(stages, self._margins(None, backends), concurrency=self.concurrency)
        return self.single_pairwise_judge(backend, instructions=instructions, cache=cache, budget=budget)

    def single_pairwise_judge(
        self,
        backend: JudgeBackend,
        *,
        instructions: str = "",
        cache: VerdictCache | None = None,
        budget: Budget | None = None,
        tuned: bool = True,
    ) -> PairwiseJudge:
        """One pairwise judge on ``backend``, asked the tuned way when `judgerl tune --pairwise` saved a choice for
        this judge model (unless ``tuned`` is off here or in the spec)."""
        choice = load_tuned(None, backend.model_id) if tuned and self.tuned else None
        return PairwiseJudge(
            backend,
            instructions=instructions,
            tie_margin=self.tie_margin,
            rationales=self.rationales,
            cache=cache,
            rationale_tokens=self.rationale_tokens,
            concurrency=self.concurrency,
            budget=budget,
            strategy=choice.strategy if choice is not None else None,
        )

    def grader_judge(
        self,
        path: str | Path,
        backend: JudgeBackend | None = None,
        *,
        embeddings_url: str | None = None,
        embeddings_model: str = DEFAULT_EMBEDDINGS_MODEL,
        python_limits: PythonLimits | None = None,
        max_new_tokens: int | None = None,
        budget: Budget | None = None,
    ) -> GraderJudge:
        """An OpenAI grader file as a judge. Its model graders run on ``backend``, else on one built here from
        :meth:`for_grader` (the judge's ``backend``, which the caller closes); a string_check or python grader
        never builds one. A cosine metric's embeddings come from ``embeddings_url``, else the openai backend's
        first base URL."""
        spec = load_spec(path)
        embedder = embedder_for(spec, embeddings_url or embeddings_url_of(self.options), embeddings_model)
        if backend is None and needs_backend(spec):
            backend = self.for_grader(spec).build_backend()
        extra = {"max_new_tokens": max_new_tokens} if max_new_tokens is not None else {}
        grader = Grader(spec, backend, embedder, python_limits, **extra)
        return GraderJudge(grader, concurrency=self.concurrency, source=path, budget=budget)


class CascadeStage(JudgeSpec):
    """One stage of a cascade: a judge spec and the margin within which it is unsure and escalates."""

    margin: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Escalate a rubric verdict when a criterion's P(PASS) is within this of its threshold, a pair "
        "when P(A better) is within this of 0.5. Default: the margin `judgerl calibrate --cascade` saved beside "
        "the rubric, else 0.1. Unused on the last stage, whose verdict is final.",
    )


JudgeSpec.model_rebuild()


def load_cascade(path: str | Path) -> list[CascadeStage]:
    """The stages of a cascade file (YAML or JSON): a list of stages, or a mapping with a ``cascade`` list."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except OSError as exc:
        raise JudgerlError(f"{path}: cannot read the cascade file ({exc.strerror})") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise JudgerlError(f"{path}: not valid YAML/JSON ({str(exc).splitlines()[0]})") from None
    if isinstance(data, dict) and set(data) == {"cascade"}:
        data = data["cascade"]
    if not isinstance(data, list) or len(data) < 2:
        raise JudgerlError(f"{path}: expected a list of two or more stages, e.g. '- model: qwen2.5-coder-0.5b'")
    stages = []
    for index, entry in enumerate(data, start=1):
        try:
            stages.append(CascadeStage.model_validate(entry))
        except ValidationError as exc:
            raise JudgerlError(f"{path}: stage {index}: {describe_validation_error(exc)}") from None
    return stages
