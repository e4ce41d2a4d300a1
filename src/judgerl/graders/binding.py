"""What a grader file needs bound before it runs: a judge model for its model graders, an embeddings client for
a cosine metric. ``JudgeSpec.grader_judge`` (judges/spec.py) binds them; nothing else does."""

from __future__ import annotations

from typing import Any

from judgerl.graders.embeddings import DEFAULT_EMBEDDINGS_MODEL, Embedder, HttpEmbedder
from judgerl.graders.seams import JudgerlError
from judgerl.graders.spec import GraderSpec, MultiSpec, TextSimilaritySpec, model_specs


def needs_backend(spec: GraderSpec) -> bool:
    """Whether the grader has a score_model or label_model, which run on a judge backend."""
    return bool(model_specs(spec))


def grader_model(spec: GraderSpec, backend: str, model: str | None) -> str | None:
    """The judge model for the grader's model graders: the one given, else on a remote backend the grader's own
    ``model`` field when all its model graders name the same one. The in-process transformers backend keeps
    judgerl's default judge, since a name like ``o4-mini`` means nothing locally."""
    if model is not None or backend == "transformers":
        return model
    names = {leaf.model for leaf in model_specs(spec) if leaf.model}
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
