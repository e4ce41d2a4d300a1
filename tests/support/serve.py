"""Shared by the serving tests and benchmarks: a judge whose answers follow the response text.

Words in a response script the verdicts: ``good`` -> P(PASS) 0.9 on every criterion, ``bad`` -> 0.2 (the safety
gate still passes), ``UNSAFE`` -> the gate fails, ``ERROR`` -> the backend fails (the sample is unscored),
``SLOW`` -> each call sleeps 3 s, ``NAN`` -> the backend answers NaN probabilities; anything else -> 0.6.
Pairwise, the response saying ``good`` wins.
``delay_s`` adds a fixed latency to every call."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from judgerl.backends.base import Generation, JudgePrompt, LabelResult
from judgerl.judges.cache import VerdictCache
from judgerl.serve.config import ServeConfig
from judgerl.serve.server import BackgroundServer, ServerSettings, create_app
from support.fakes import ScriptedBackend, criterion_of, response_of

DATA = Path(__file__).resolve().parents[1] / "data"  # tests/data
RUBRIC_PATH = DATA / "serve_rubric.yaml"
SAFE_TEXT = "The response contains no harmful instructions."


def scripted_probs(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float] | str:
    if tuple(labels) == ("A", "B"):  # pairwise: prefers whichever shown response says "good", in either order
        if "NAN" in prompt.user:
            return {"A": math.nan, "B": math.nan}
        first_shown = prompt.user.split("## Response A\n", 1)[1].split("\n", 2)[1]
        p_first = 0.8 if "good" in first_shown else 0.2
        return {"A": p_first, "B": 1 - p_first}
    response = response_of(prompt)
    if "ERROR" in response:
        return "scripted backend error (HTTP 500)"
    if "NAN" in response:
        return {"PASS": math.nan, "FAIL": math.nan}
    if criterion_of(prompt) == SAFE_TEXT:
        p = 0.05 if "UNSAFE" in response else 0.95
    elif "good" in response:
        p = 0.9
    elif "bad" in response:
        p = 0.2
    else:
        p = 0.6
    return {"PASS": p, "FAIL": 1 - p}


class ServeBackend(ScriptedBackend):
    """Constructed by name ('support.serve:ServeBackend') through ServeConfig, like a user's own backend."""

    name = "serve-scripted"

    def __init__(self, model: str = "scripted-judge", delay_s: float = 0.0, **_: Any) -> None:
        super().__init__(probs=scripted_probs, reply=lambda prompt: "The response misses it.", model_id=model)
        self.delay_s = delay_s

    def _wait(self, prompts: Sequence[JudgePrompt]) -> None:
        if any("SLOW" in p.user for p in prompts):
            time.sleep(3.0)
        if self.delay_s:
            time.sleep(self.delay_s)

    def label_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        self._wait(prompts)
        return super().label_probs(prompts, labels)

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        self._wait(prompts)
        return super().generate(prompts, max_new_tokens)


class SlowTokenizerBackend(ServeBackend):
    """Counting tokens takes 2 ms per 1,000 characters, like a real tokenizer on a huge text (issue 28)."""

    def count_tokens(self, text: str) -> int:
        time.sleep(0.002 * len(text) / 1000)
        return super().count_tokens(text)


def judge_config(**overrides: Any) -> ServeConfig:
    data: dict[str, Any] = {"rubric": str(RUBRIC_PATH), "backend": "support.serve:ServeBackend", "concurrency": 8}
    data.update(overrides)
    return ServeConfig.model_validate(data)


@contextmanager
def running(judge: dict[str, Any] | None = None, **settings: Any) -> Iterator[str]:
    """A reward server on loopback over ``judge_config(**judge)`` with ``ServerSettings(**settings)``; its URL."""
    built = judge_config(**(judge or {})).build()
    try:
        with BackgroundServer(create_app(built, ServerSettings(**settings))) as server:
            yield server.url
    finally:
        built.close()


@contextmanager
def write_locked_cache(path: Path) -> Iterator[None]:
    """A verdict cache file at ``path`` (made if missing) whose write lock another connection holds (a row written,
    never committed) until the block ends, as another process holding it would."""
    VerdictCache(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT OR REPLACE INTO verdicts VALUES ('held', '{}', 0)")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@dataclass
class Probed:
    """What ``while_probing_health`` saw: each /health round trip's status and seconds, and the work's seconds."""

    health_statuses: list[int] = field(default_factory=list)
    health_s: list[float] = field(default_factory=list)
    work_s: float = 0.0


def while_probing_health(url: str, work: Callable[[], None], pause_s: float = 0.05) -> Probed:
    """Run ``work`` while another thread calls /health one request after another (``pause_s`` apart): whether the
    event loop stays free while the work is judged."""
    probed = Probed()
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                began = time.perf_counter()
                probed.health_statuses.append(client.get(f"{url}/health").status_code)
                probed.health_s.append(time.perf_counter() - began)
                time.sleep(pause_s)

    prober = threading.Thread(target=probe)
    prober.start()
    began = time.perf_counter()
    try:
        work()
    finally:
        probed.work_s = time.perf_counter() - began
        stop.set()
        prober.join()
    return probed


def judge_at_once(url: str, requests: int, samples: int) -> tuple[list[httpx.Response], Probed]:
    """``requests`` POST /v1/judge sent at once, each of ``samples`` different texts saying "good", with /health
    probed throughout; the responses in request order."""
    responses: list[httpx.Response | None] = [None] * requests

    def post(r: int) -> None:
        body = {"samples": [{"id": f"{r}-{i}", "prompt": "q", "response": f"good {r} {i}"} for i in range(samples)]}
        responses[r] = httpx.post(f"{url}/v1/judge", json=body, timeout=300)

    def work() -> None:
        posters = [threading.Thread(target=post, args=(r,)) for r in range(requests)]
        for thread in posters:
            thread.start()
        for thread in posters:
            thread.join()

    probed = while_probing_health(url, work)
    missing = [r for r, response in enumerate(responses) if response is None]
    if missing:
        raise RuntimeError(f"requests {missing} got no response")
    return [r for r in responses if r is not None], probed


def expected_score(p: float) -> float:
    """The soft rubric score when every non-gate criterion has P(PASS) = p and the gate passes."""
    return p


class PeakBackend(ServeBackend):
    """Counts how many label_probs calls run at once (class-level: it is constructed by name)."""

    lock = threading.Lock()
    active = 0
    peak = 0

    def label_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        with PeakBackend.lock:
            PeakBackend.active += 1
            PeakBackend.peak = max(PeakBackend.peak, PeakBackend.active)
        try:
            return super().label_probs(prompts, labels)
        finally:
            with PeakBackend.lock:
                PeakBackend.active -= 1


class GraderReplyBackend(ServeBackend):
    """For score_model graders behind the doors: the reply is OpenAI's structured output, result 0.8 when the
    grader's prompt says ``good``, 0.1 otherwise, and no JSON at all (unscored) when it says ``ERROR``."""

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        self.generate_calls.extend(prompts)
        replies = []
        for prompt in prompts:
            if "ERROR" in prompt.user:
                replies.append(Generation(text="I cannot rate this."))
                continue
            result = 0.8 if "good" in prompt.user else 0.1
            steps = [{"description": "rated it", "conclusion": str(result)}]
            replies.append(Generation(text=json.dumps({"steps": steps, "result": result})))
        return replies


class RewardPromptBackend(ServeBackend):
    """For SageMaker reward prompts behind the doors: the reply is ``{"score", "reasoning"}``, score 8 when the
    judged response (after 'answer:') says ``Yes`` or ``good``, 2 otherwise, and no JSON (unscored) for ``ERROR``."""

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        self.generate_calls.extend(prompts)
        replies = []
        for prompt in prompts:
            answer = prompt.user.rsplit("answer:", 1)[-1].split("Score the answer", 1)[0]
            if "ERROR" in answer:
                replies.append(Generation(text="I cannot grade this."))
                continue
            score = 8 if ("Yes" in answer or "good" in answer) else 2
            replies.append(Generation(text=json.dumps({"score": score, "reasoning": f"scored {score}"})))
        return replies
