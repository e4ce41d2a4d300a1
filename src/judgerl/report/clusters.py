"""Group failure rationales by similarity: TF-IDF (unigrams and bigrams) and spherical k-means in numpy.

The number of groups is picked by the silhouette over a few candidates, so ten paraphrases of one complaint
become one group with a count, and the report can say "the policy keeps failing X because of Y". Identical
rationales are clustered once with their count as weight; very large inputs are fitted on an even subsample
and every rationale is then assigned to its nearest centroid, so counts cover all of them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_TOKEN = re.compile(r"[a-z][a-z0-9']*")
_STOPWORD_TEXT = """a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he
her here hers him his how i if in into is it its itself just me more most my no nor not now of off on once only or
other our ours out over own same she should so some such than that the their theirs them then there these they this
those through to too under until up very was we were what when where which while who whom why will with would you
your response answer assistant criterion"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class RationaleCluster:
    label: str
    representative: str
    count: int
    share: float
    members: list[int] = field(repr=False)
    examples: list[str] = field(default_factory=list)


def _stem(word: str) -> str:
    """A crude suffix stripper: enough to make 'blames', 'blamed' and 'blaming' one term."""
    for suffix in ("ing", "edly", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4 and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def _words(text: str) -> list[str]:
    words = [w.strip("'") for w in _TOKEN.findall(text.lower())]
    return [w for w in words if len(w) > 1 and w not in _STOPWORDS]


class TfidfSpace:
    """A TF-IDF vector space fitted on documents (with weights = how often each occurs)."""

    def __init__(self, documents: Sequence[list[str]], weights: np.ndarray, max_terms: int = 2000) -> None:
        df: Counter[str] = Counter()
        for doc, weight in zip(documents, weights, strict=True):
            for term in set(doc):
                df[term] += int(weight)
        total = float(weights.sum())
        min_df = 2 if total >= 10 else 1
        terms = [t for t, n in df.most_common() if min_df <= n < total][:max_terms]
        if not terms:  # every term is in every document: keep them, similarity is still meaningful
            terms = [t for t, _ in df.most_common(max_terms)]
        self.terms = terms
        self.index = {t: i for i, t in enumerate(terms)}
        self.idf = np.array([math.log((1 + total) / (1 + df[t])) + 1 for t in terms])

    def transform(self, documents: Sequence[list[str]]) -> np.ndarray:
        matrix = np.zeros((len(documents), len(self.terms)), dtype=np.float32)
        for row, doc in enumerate(documents):
            for term, count in Counter(doc).items():
                column = self.index.get(term)
                if column is not None:
                    matrix[row, column] = 1 + math.log(count)
        matrix *= self.idf.astype(np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return np.asarray(np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0))


def spherical_kmeans(
    vectors: np.ndarray, weights: np.ndarray, k: int, seed: int = 0, iterations: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, unit centroids) maximising weighted cosine similarity; k-means++ seeding."""
    rng = np.random.default_rng(seed)
    n = len(vectors)
    first = int(rng.choice(n, p=weights / weights.sum()))
    centroids = [vectors[first]]
    closest = 1.0 - vectors @ vectors[first]
    for _ in range(1, k):
        probability = np.clip(closest, 0, None) * weights
        if probability.sum() <= 0:
            break
        chosen = int(rng.choice(n, p=probability / probability.sum()))
        centroids.append(vectors[chosen])
        closest = np.minimum(closest, 1.0 - vectors @ vectors[chosen])
    centers = np.array(centroids)
    labels = np.full(n, -1)
    for _ in range(iterations):
        new_labels = np.argmax(vectors @ centers.T, axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for j in range(len(centers)):
            members = labels == j
            if members.any():
                center = (vectors[members] * weights[members, None]).sum(axis=0)
                norm = np.linalg.norm(center)
                centers[j] = center / norm if norm > 0 else center
    return labels, centers


def _best_of(
    vectors: np.ndarray, weights: np.ndarray, k: int, seed: int, restarts: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """k-means from several seeds, keeping the tightest result (k-means stops in local optima)."""
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for attempt in range(restarts):
        labels, centers = spherical_kmeans(vectors, weights, k, seed=seed * 1000 + attempt)
        fit = float((weights * np.einsum("ij,ij->i", vectors, centers[labels])).sum())
        if best is None or fit > best[0]:
            best = (fit, labels, centers)
    assert best is not None
    return best[1], best[2]


def silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance; -1 when there is a single cluster."""
    if len(set(labels.tolist())) < 2:
        return -1.0
    distances = 1.0 - vectors @ vectors.T
    scores = []
    for i in range(len(vectors)):
        own = labels == labels[i]
        own[i] = False
        if not own.any():
            scores.append(0.0)
            continue
        a = distances[i, own].mean()
        b = min(distances[i, labels == other].mean() for other in set(labels.tolist()) if other != labels[i])
        scores.append((b - a) / max(a, b) if max(a, b) > 0 else 0.0)
    return float(np.mean(scores))


def cluster_rationales(
    texts: Sequence[str], *, max_clusters: int = 8, max_fit: int = 1500, seed: int = 0
) -> list[RationaleCluster]:
    """Groups of similar rationales, largest first, each with a label (top terms), a representative
    rationale (the one nearest the group's centre), a count and its share of all rationales."""
    if not texts:
        return []
    counts = Counter(" ".join(t.split()) for t in texts)
    unique = list(counts)
    member_of = {text: i for i, text in enumerate(unique)}
    weights = np.array([counts[t] for t in unique], dtype=float)
    surface: dict[str, Counter[str]] = {}  # stem -> the words it came from, to label groups readably
    documents = []
    for text, weight in zip(unique, weights, strict=True):
        words = _words(text)
        for word in words:
            surface.setdefault(_stem(word), Counter())[word] += int(weight)
        documents.append([_stem(w) for w in words])
    fit_rows = np.arange(len(unique))
    if len(unique) > max_fit:  # fit on the most frequent rationales, then assign everyone
        fit_rows = np.sort(np.argsort(-weights, kind="stable")[:max_fit])
    space = TfidfSpace([documents[i] for i in fit_rows], weights[fit_rows])
    vectors = space.transform(documents)
    fit_vectors, fit_weights = vectors[fit_rows], weights[fit_rows]
    nonzero = np.linalg.norm(fit_vectors, axis=1) > 0
    best_centers = _mean_center(fit_vectors, fit_weights)
    candidates = range(2, min(max_clusters, int(nonzero.sum()) - 1) + 1)
    probe = np.flatnonzero(nonzero)[:600]
    scored: list[tuple[float, int, np.ndarray]] = []
    for k in candidates:
        labels, centers = _best_of(fit_vectors[nonzero], fit_weights[nonzero], k, seed)
        full = np.zeros(len(fit_rows), dtype=int)
        full[nonzero] = labels
        scored.append((silhouette(fit_vectors[probe], full[probe]), k, centers))
    # The fewest groups whose silhouette is near the best: a reader wants themes, not every paraphrase apart.
    # Below 0.05, one group describes the rationales as well as several.
    best = max((score for score, _, _ in scored), default=0.0)
    if best > 0.05:
        _, _, best_centers = min((item for item in scored if item[0] >= 0.85 * best), key=lambda item: item[1])
    # Assign every unique rationale (fitted or not) to its nearest centre; ones with no known term go apart.
    assigned = np.argmax(vectors @ best_centers.T, axis=1)
    assigned[np.linalg.norm(vectors, axis=1) == 0] = -1
    text_labels = [int(assigned[member_of[" ".join(t.split())]]) for t in texts]
    clusters = []
    for j in sorted(set(assigned.tolist())):
        rows = np.flatnonzero(assigned == j)
        if j >= 0:
            similarity = vectors[rows] @ best_centers[j]
            top = [space.terms[t] for t in np.argsort(-best_centers[j])[:3] if best_centers[j][t] > 0]
            top_terms = [surface[term].most_common(1)[0][0] for term in top]
            label = ", ".join(top_terms) or "other"
        else:
            similarity, label = np.zeros(len(rows)), "other (no distinctive words)"
        ranked = rows[np.lexsort((-weights[rows], -similarity))]
        count = int(weights[rows].sum())
        clusters.append(
            RationaleCluster(
                label=label,
                representative=unique[ranked[0]],
                count=count,
                share=count / len(texts),
                members=[i for i, label_of in enumerate(text_labels) if label_of == j],
                examples=[unique[r] for r in ranked[1:4]],
            )
        )
    clusters.sort(key=lambda c: (-c.count, c.label))
    return clusters


def _mean_center(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    center = (vectors * weights[:, None]).sum(axis=0)
    norm = np.linalg.norm(center)
    return np.array([center / norm if norm > 0 else center])
