"""A real OpenAI-compatible server: llama.cpp's (llama-cpp-python[server]) serving the packaged Qwen2.5-Coder-0.5B
GGUF on 127.0.0.1, judged through the openai backend's real HTTP client, in logprob and generate mode, and
compared with the in-process backend on the same samples.

Needs ``pip install 'llama-cpp-python[server]==0.3.36'`` and the GGUF: ``judgerl.models.catalog.gguf_path(name)`` (kept
by ``judgerl models pull qwen2.5-coder-0.5b --keep-gguf``) or ``JUDGERL_TEST_GGUF=/path/to/file.gguf``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from judgerl import Rubric
from judgerl.backends import build_backend
from judgerl.backends.base import JudgePrompt
from judgerl.backends.openai_backend import OpenAIBackend
from judgerl.judges.prompts import JudgedMaterial, criterion_prompt
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.samples import Sample, load_samples, prompt_text

pytestmark = pytest.mark.integration

JUDGE_MODEL = "qwen2.5-coder-0.5b"
DATA = Path(__file__).parent / "data" / "arithmetic_judged.jsonl"
MATH = Rubric.load(Path(__file__).parents[1] / "examples" / "rubrics" / "math_reference.yaml")
FINAL_ANSWER = Rubric.from_dict(
    {"instructions": MATH.instructions, "criteria": [MATH.criterion("final_answer_correct").model_dump()]}
)


def judge_gguf() -> Path | None:
    """The packaged judge's GGUF from the model cache, or JUDGERL_TEST_GGUF."""
    try:
        from judgerl.models import catalog as models
    except ImportError:
        models = None  # type: ignore[assignment]
    finder = getattr(models, "gguf_path", None)
    if finder is not None:
        found = finder(JUDGE_MODEL)
        if found is not None and Path(found).is_file():
            return Path(found)
    configured = os.environ.get("JUDGERL_TEST_GGUF")
    return Path(configured) if configured and Path(configured).is_file() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("sse_starlette") is None:
        pytest.skip("llama.cpp server not installed: pip install 'llama-cpp-python[server]==0.3.36'")
    gguf = judge_gguf()
    if gguf is None:
        pytest.skip(
            f"no GGUF for {JUDGE_MODEL}: `judgerl models pull {JUDGE_MODEL} --keep-gguf` or set JUDGERL_TEST_GGUF"
        )
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    # the launcher turns llama.cpp's extra weight buffers off, as the llamacpp backend does (AMX CPUs crash otherwise)
    launcher = Path(__file__).parent / "support" / "llama_server.py"
    command = [sys.executable, str(launcher), "--model", str(gguf), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "2048", "--model_alias", "qwen-judge", "--n_threads", "2"]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama.cpp server exited ({process.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama.cpp server not ready: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        process.wait(30)


def backend_for(base_url: str, **options: object) -> OpenAIBackend:
    backend = build_backend("openai", model="qwen-judge", base_urls=[base_url], timeout_s=300, **options)
    assert isinstance(backend, OpenAIBackend)
    return backend


def few(count: int) -> list[Sample]:
    return load_samples(DATA)[:count]


def test_logprob_mode_through_the_real_http_client(llama_server: str) -> None:
    backend = backend_for(llama_server, max_concurrency=1)
    backend.check()  # reachable, model served, log-probabilities available
    assert backend.supports_logprobs is True
    verdicts = RubricJudge(FINAL_ANSWER, backend, rationales="none", concurrency=1).judge(few(2))
    assert all(v.scored and v.mode == "logprob" for v in verdicts), [v.unscored_reason for v in verdicts]
    for verdict in verdicts:
        assert 0.0 < (verdict.criteria[0].p_pass or 0.0) < 1.0
        assert verdict.prompt_tokens > 100 and verdict.completion_tokens == 1
    (result,) = backend.label_probs([final_answer_prompt(few(1)[0])], ["PASS", "FAIL"])
    assert result.mass > 0.5  # the judge answers with a label, not with something else
    stats = backend.call_stats()
    assert stats.failed == 0 and stats.succeeded == 4  # the check's probe, two samples, one prompt


def final_answer_prompt(sample: Sample) -> JudgePrompt:
    material = JudgedMaterial(prompt_text(sample.prompt), sample.response, sample.reference)
    return criterion_prompt(material, FINAL_ANSWER.criteria[0], FINAL_ANSWER.instructions)


def test_generate_mode_through_the_real_http_client(llama_server: str) -> None:
    backend = backend_for(llama_server, logprobs=False)
    judge = RubricJudge(FINAL_ANSWER, backend, mode="generate", max_new_tokens=64)
    (verdict,) = judge.judge(few(1))
    assert verdict.mode == "generate" and verdict.completion_tokens > 0
    assert verdict.scored or (verdict.unscored_reason and verdict.raw_reply), verdict
    assert backend.call_stats().failed == 0


def test_verdicts_agree_with_the_in_process_backend(
    llama_server: str, record_property: Callable[[str, object], None]
) -> None:
    if importlib.util.find_spec("judgerl.models.catalog") is None:
        pytest.skip("judgerl.models.catalog is not in this build")
    from support.real_models import pulled_model_dir

    local = build_backend("transformers", model=pulled_model_dir(JUDGE_MODEL))
    remote = backend_for(llama_server, max_concurrency=1, logprobs=True)
    batch = few(6)
    remote_p = [v.criteria[0].p_pass for v in RubricJudge(FINAL_ANSWER, remote, rationales="none").judge(batch)]
    local_p = [v.criteria[0].p_pass for v in RubricJudge(FINAL_ANSWER, local, rationales="none").judge(batch)]
    local.close()
    assert all(p is not None for p in remote_p + local_p)
    remote_values = [float(p or 0.0) for p in remote_p]
    local_values = [float(p or 0.0) for p in local_p]
    # The two prompts differ (in-process prefills "Verdict:"; over chat the label must be the first token), so
    # their calibration differs and hard verdicts at 0.5 are reported, not required. What must agree is the
    # judgement: for each question, which of its right and wrong answers the judge finds more likely correct.
    hard = sum((r >= 0.5) == (q >= 0.5) for r, q in zip(remote_values, local_values, strict=True)) / len(batch)
    orders = [
        (remote_values[i] > remote_values[i + 1]) == (local_values[i] > local_values[i + 1])
        for i in range(0, len(batch), 2)
    ]
    record = {"hard_agreement": hard, "pair_order_agreement": sum(orders) / len(orders)}
    record_property("llamacpp_vs_in_process", json.dumps({**record, "remote": remote_p, "local": local_p}))
    assert sum(orders) >= 2, record
