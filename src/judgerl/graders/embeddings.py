"""Embeddings for the ``cosine`` metric: an OpenAI-compatible ``POST {base_url}/embeddings`` endpoint.

``base_url`` is taken like the openai backend's ``--base-url``: ``http://host:8000`` means
``http://host:8000/v1``, so the request goes to ``http://host:8000/v1/embeddings``. The API key is read from
``OPENAI_API_KEY`` unless given, and never logged. OpenAI embedded with text-embedding-3-large; any
embeddings model the server has can be named instead (scores differ between models).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

DEFAULT_EMBEDDINGS_MODEL = "text-embedding-3-large"


class EmbeddingError(RuntimeError):
    """The endpoint failed or answered something other than embeddings (one row goes unscored)."""


class Embedder(Protocol):
    async def aembed(self, texts: Sequence[str]) -> list[list[float]]: ...


def embeddings_url(base_url: str) -> str:
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"embeddings URL '{base_url}': expected http(s)://host[:port][/v1]")
    return (url if parts.path not in ("", "/") else url + "/v1") + "/embeddings"


class HttpEmbedder:
    """Embeddings from an OpenAI-compatible server (needs httpx: ``pip install 'judgerl[openai]'``)."""

    def __init__(
        self,
        base_url: str,
        model: str = DEFAULT_EMBEDDINGS_MODEL,
        api_key: str | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.url = embeddings_url(base_url)
        self.model = model
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"HttpEmbedder(url={self.url!r}, model={self.model!r}, api_key={'set' if self._api_key else 'none'})"

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            import httpx
        except ImportError:
            raise EmbeddingError("cosine needs httpx: pip install 'judgerl[openai]'") from None
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(
                    self.url, json={"model": self.model, "input": list(texts)}, headers=headers
                )
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"embeddings request to {self.url} failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise EmbeddingError(f"embeddings endpoint {self.url} answered HTTP {response.status_code}")
        return _parse(response.json() if response.content else None, len(texts))


def _parse(body: Any, count: int) -> list[list[float]]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or len(data) != count:
        raise EmbeddingError(f"embeddings endpoint answered without {count} embeddings")
    ordered = sorted(data, key=lambda entry: entry.get("index", 0) if isinstance(entry, dict) else 0)
    vectors = []
    for entry in ordered:
        vector = entry.get("embedding") if isinstance(entry, dict) else None
        if not isinstance(vector, list) or not vector or not all(isinstance(x, int | float) for x in vector):
            raise EmbeddingError("embeddings endpoint answered an entry without a numeric 'embedding'")
        vectors.append([float(x) for x in vector])
    return vectors


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        raise EmbeddingError(f"embeddings of different sizes ({len(a)} and {len(b)})")
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    if norm == 0:
        raise EmbeddingError("an embedding is all zeros")
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm
