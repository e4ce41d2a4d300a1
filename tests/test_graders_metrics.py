"""text_similarity metrics against values the reference libraries give, and cosine through an embeddings endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from judgerl.graders import Grader, HttpEmbedder, parse_spec
from judgerl.graders import metrics as metrics_module

# nltk's METEOR docstring example (its documented score is 0.6944)
HYPOTHESIS = "It is a guide to action which ensures that the military always obeys the commands of the party"
REFERENCE = "It is a guide to action that ensures that the military will forever heed Party commands"

# computed once with rapidfuzz 3.14, sacrebleu 2.6, nltk 3.10 (WordNet 3.0), rouge-score 0.1.2
EXPECTED = {
    "fuzzy_match": 0.832876712328767,
    "bleu": 0.41180376356915765,
    "gleu": 0.4393939393939394,
    "meteor": 0.6944444444444445,
    "rouge_1": 0.7058823529411765,
    "rouge_2": 0.5,
    "rouge_3": 0.4,
    "rouge_4": 0.28571428571428575,
    "rouge_5": 0.15384615384615383,
    "rouge_l": 0.6470588235294118,
}


def _wordnet_available() -> bool:
    try:
        metrics_module.wordnet()
    except metrics_module.MetricUnavailable:
        return False
    return True


def _grader(metric: str, **extra: Any) -> Grader:
    spec = {
        "type": "text_similarity",
        "name": metric,
        "input": "{{ sample.output_text }}",
        "reference": "{{ item.reference }}",
        "evaluation_metric": metric,
        **extra,
    }
    return Grader(parse_spec(spec))


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_metric_matches_reference_library_value(metric: str) -> None:
    if metric == "meteor" and not _wordnet_available():
        pytest.skip("no WordNet data here (apt-get install wordnet-base)")
    result = _grader(metric).grade({"reference": REFERENCE}, HYPOTHESIS)
    assert result.unscored_reason is None
    assert result.reward == pytest.approx(EXPECTED[metric], abs=1e-9)


def test_rouge_matches_rouge_score_readme_example() -> None:
    # rouge-score's README: target 'The quick brown fox jumps over the lazy dog', prediction 'The quick brown
    # dog jumps on the log.' -> rouge1 precision 0.75, recall 0.6667, fmeasure 0.7059
    reference, prediction = "The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log."
    assert metrics_module.rouge(prediction, reference, "1") == pytest.approx(0.70588, abs=1e-4)
    assert metrics_module.bleu("same words here", "same words here") == pytest.approx(1.0)
    assert metrics_module.fuzzy_match("Paris", "paris!") == pytest.approx(1.0)  # default_process folds case
    assert metrics_module.fuzzy_match("Paris", "Berlin") < 0.5


def test_pass_threshold_sets_passed() -> None:
    result = _grader("rouge_1", pass_threshold=0.7).grade({"reference": REFERENCE}, HYPOTHESIS)
    assert result.passed is True
    result = _grader("rouge_2", pass_threshold=0.7).grade({"reference": REFERENCE}, HYPOTHESIS)
    assert result.passed is False


def test_meteor_without_wordnet_is_unscored_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import nltk.corpus

    class NoWordNet:
        def ensure_loaded(self) -> None:
            raise LookupError("wordnet")

    monkeypatch.setattr(nltk.corpus, "wordnet", NoWordNet())
    monkeypatch.setenv("JUDGERL_WORDNET_DIR", str(tmp_path))
    metrics_module.wordnet.cache_clear()
    try:
        result = _grader("meteor").grade({"reference": REFERENCE}, HYPOTHESIS)
    finally:
        metrics_module.wordnet.cache_clear()
    assert result.reward is None
    assert result.unscored_reason is not None and "WordNet" in result.unscored_reason
    assert "apt-get install wordnet-base" in result.unscored_reason


class _Embeddings(BaseHTTPRequestHandler):
    vectors: ClassVar[dict[str, list[float]]] = {"cat": [1.0, 0.0, 0.0], "kitten": [1.0, 1.0, 0.0]}
    seen: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, body))
        if any(text not in self.vectors for text in body["input"]):
            self.send_response(500)
            self.end_headers()
            return
        data = [{"object": "embedding", "index": i, "embedding": self.vectors[t]} for i, t in enumerate(body["input"])]
        payload = json.dumps({"object": "list", "data": list(reversed(data))}).encode()  # out of order on purpose
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def embeddings_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Embeddings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Embeddings.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_cosine_through_embeddings_endpoint(embeddings_url: str) -> None:
    embedder = HttpEmbedder(embeddings_url, model="embed-small")
    spec = parse_spec(
        {
            "type": "text_similarity",
            "name": "cos",
            "input": "{{ sample.output_text }}",
            "reference": "{{ item.reference }}",
            "evaluation_metric": "cosine",
        }
    )
    grader = Grader(spec, embedder=embedder)
    assert grader.grade({"reference": "kitten"}, "cat").reward == pytest.approx(2**-0.5)
    path, body = _Embeddings.seen[0]
    assert path == "/v1/embeddings" and body == {"model": "embed-small", "input": ["cat", "kitten"]}
    failed = grader.grade({"reference": "unknown"}, "cat")
    assert failed.reward is None and "HTTP 500" in (failed.unscored_reason or "")
    missing = Grader(spec).grade({"reference": "kitten"}, "cat")
    assert missing.reward is None and "embeddings" in (missing.unscored_reason or "")
