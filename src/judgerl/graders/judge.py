"""A grader behind the judge interface the doors share: judgerl Samples (or items and texts) in, SampleVerdicts out.

The HTTP server, the Lambda, ``judgerl judge`` and training read a grade as a :class:`SampleVerdict`:

- ``score`` is the grader's reward, or None with ``unscored_reason`` (each door's failure policy then applies);
- one criterion per sub-grader of a ``multi`` grader (the grader itself otherwise) carries that reward as
  ``p_pass``, and ``passed`` where the grader says it (a ``pass_threshold``, ``passing_labels``, a string_check),
  so Nova's ``metrics_list``, OpenRLHF's ``extra_logs`` and the verdict store show every sub-reward;
- a model grader's ``steps`` become the rationale.

A grader's reward is not bounded to [0, 1]: a score_model's ``range`` or a multi's formula decides it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from judgerl.graders.embeddings import DEFAULT_EMBEDDINGS_MODEL, Embedder, HttpEmbedder
from judgerl.graders.grader import Grader, GradeResult
from judgerl.graders.python_runner import PythonLimits
from judgerl.graders.rows import item_from_sample
from judgerl.graders.seams import CriterionVerdict, JudgeBackend, JudgerlError, Sample, SampleVerdict, run_sync
from judgerl.graders.spec import GraderSpec, MultiSpec, TextSimilaritySpec, load_spec, model_specs


def needs_backend(spec: GraderSpec) -> bool:
    """Whether the grader has a score_model or label_model, which run on a judge backend."""
    return bool(model_specs(spec))


def grader_model(spec: GraderSpec, backend: str, model: str | None) -> str | None:
    """The judge model for the grader's model graders: the one given, else on a remote backend the grader's own
    ``model`` field when all its model graders name the same one. The in-process transformers backend keeps
    judgerl's default judge, since a name like ``o4-mini`` means nothing locally."""
    if model is not None or backend == "transformers":
        return model
    names = {leaf.model for leaf in model_specs(spec)}
    return next(iter(names)) if len(names) == 1 else None


def uses_cosine(spec: GraderSpec) -> bool:
    leaves = list(spec.graders.values()) if isinstance(spec, MultiSpec) else [spec]
    return any(isinstance(leaf, TextSimilaritySpec) and leaf.evaluation_metric == "cosine" for leaf in leaves)


def embeddings_url_of(options: dict[str, Any]) -> str | None:
    """The embeddings server a cosine metric uses by default: the openai backend's first base URL."""
    urls = options.get("base_urls") or options.get("base_url")
    if isinstance(urls, str):  # the openai backend also takes "url1,url2"
        return urls.split(",")[0].strip() or None
    return str(urls[0]) if isinstance(urls, list | tuple) and urls else None


def embedder_for(spec: GraderSpec, url: str | None, model: str = DEFAULT_EMBEDDINGS_MODEL) -> Embedder | None:
    """The embeddings client a cosine metric needs (None when the grader has no cosine metric)."""
    if not uses_cosine(spec):
        return None
    if not url:
        raise JudgerlError("the grader's cosine metric needs an embeddings endpoint (--embeddings-url or --base-url)")
    try:
        return HttpEmbedder(url, model)
    except ValueError as exc:
        raise JudgerlError(str(exc)) from None


class GraderJudge:
    """A loaded grader as a judge: ``ajudge(samples)`` like a RubricJudge, ``agrade(ids, items, texts)`` for
    doors that build the item themselves (training uses the dataset row)."""

    def __init__(self, grader: Grader, concurrency: int = 4, source: str | Path = "") -> None:
        self.grader = grader
        self.concurrency = max(1, concurrency)
        self.source = str(source)

    @property
    def name(self) -> str:
        return self.grader.name

    @property
    def backend(self) -> JudgeBackend | None:
        return self.grader.backend

    @property
    def model_id(self) -> str:
        backend = self.grader.backend
        return backend.model_id if backend is not None else f"grader:{self.name}"

    @property
    def criterion_names(self) -> list[str]:
        spec = self.grader.spec
        return list(spec.graders) if isinstance(spec, MultiSpec) else [self.name]

    async def agrade(
        self, ids: Sequence[str], items: Sequence[dict[str, Any]], texts: Sequence[str]
    ) -> list[SampleVerdict]:
        """One verdict per (id, item, model output), in order, at most ``concurrency`` graded at once."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(sample_id: str, item: dict[str, Any], text: str) -> SampleVerdict:
            async with gate:
                started = time.perf_counter()
                result = await self.grader.agrade(item, text)
                return self.verdict(sample_id, result, time.perf_counter() - started)

        return list(await asyncio.gather(*(one(*row) for row in zip(ids, items, texts, strict=True))))

    async def ajudge(self, samples: Sequence[Sample]) -> list[SampleVerdict]:
        """Grade judgerl samples: the item is the sample's metadata with id, prompt and reference."""
        return await self.agrade(
            [s.id for s in samples], [item_from_sample(s) for s in samples], [s.response for s in samples]
        )

    def judge(
        self, samples: Sequence[Sample], progress: Callable[[SampleVerdict], None] | None = None
    ) -> list[SampleVerdict]:
        """Synchronous :meth:`ajudge`, calling ``progress`` after each sample (the CLI's progress bar)."""

        async def run() -> list[SampleVerdict]:
            verdicts = []
            for start in range(0, len(samples), self.concurrency):
                for verdict in await self.ajudge(samples[start : start + self.concurrency]):
                    verdicts.append(verdict)
                    if progress is not None:
                        progress(verdict)
            return verdicts

        verdicts: list[SampleVerdict] = run_sync(run())
        return verdicts

    def verdict(self, sample_id: str, result: GradeResult, latency_s: float = 0.0) -> SampleVerdict:
        parts = result.sub_results if isinstance(self.grader.spec, MultiSpec) else {self.name: result}
        criteria = [
            CriterionVerdict(
                name=name,
                passed=part.passed,
                p_pass=part.reward,
                rationale=part.rationale,
                unscored_reason=part.unscored_reason,
            )
            for name, part in parts.items()
        ]
        return SampleVerdict(
            id=sample_id,
            score=result.reward,
            hard_score=None if result.passed is None else float(result.passed),
            criteria=criteria,
            unscored_reason=result.unscored_reason,
            mode="generate",
            judge_model=self.model_id,
            latency_s=latency_s,
        )


def load_grader_judge(
    path: str | Path,
    backend_factory: Callable[[GraderSpec], JudgeBackend] | None = None,
    *,
    concurrency: int = 4,
    embeddings_url: str | None = None,
    embeddings_model: str = DEFAULT_EMBEDDINGS_MODEL,
    python_limits: PythonLimits | None = None,
) -> GraderJudge:
    """Read a grader file and bind it: ``backend_factory`` is called only when the grader has a model grader
    (so a string_check or python grader never loads a judge model)."""
    spec = load_spec(path)
    backend = None
    if needs_backend(spec):
        if backend_factory is None:
            raise JudgerlError(f"{path}: the grader has a model grader (score_model/label_model) and needs a judge")
        backend = backend_factory(spec)
    grader = Grader(spec, backend, embedder_for(spec, embeddings_url, embeddings_model), python_limits)
    return GraderJudge(grader, concurrency=concurrency, source=path)
