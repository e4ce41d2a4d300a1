"""Load test of the reward server on loopback: N concurrent clients x M requests, side by side with the same
judge called in-process (no HTTP), to show what the server costs. Every answer is checked: no lost or duplicated
responses, ids matched in order.

The judge is a stand-in with a fixed latency per backend call (``--judge-ms``), so the numbers measure the
serving path, not a model. Writes benchmarks/results/serve_load.json and the "## Reward server" section of
BENCHMARKS.md.

    PYTHONPATH=src python benchmarks/serve_load.py                 # 50 clients x 20 requests x 4 samples
    PYTHONPATH=src python benchmarks/serve_load.py --clients 8 --requests 5   # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from common import write_section
from judgerl.aio import judge_executor
from judgerl.backends.base import Generation, JudgeBackend, JudgePrompt, LabelResult
from judgerl.serve.config import ServeConfig
from judgerl.serve.contract import RewardScorer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUBRIC = """name: load
use_reference: true
criteria:
  - {name: correct, text: The response gives the same answer as the reference., weight: 3}
  - {name: polite, text: The response is polite.}
"""


class LoadBackend(JudgeBackend):
    """P(PASS) 0.8 for every criterion after ``delay_ms`` of (sleeping) work per call."""

    name = "load"

    def __init__(self, model: str = "load-judge", delay_ms: float = 0.0, **_: Any) -> None:
        super().__init__(model_id=model)
        self.delay_s = delay_ms / 1000

    def label_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        if self.delay_s:
            time.sleep(self.delay_s)
        return [LabelResult(probs={labels[0]: 0.8, labels[1]: 0.2}, prompt_tokens=100) for _ in prompts]

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        return [Generation(text="ok") for _ in prompts]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def nova_batch(client: int, request: int, size: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"c{client}-r{request}-s{i}",
            "messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"A{i}"}],
            "metadata": {"reference_answer": f"A{i}"},
        }
        for i in range(size)
    ]


def server_quantiles(url: str, route: str) -> tuple[float, float]:
    """p50 and p99 of the server's own request durations (upper bounds of its histogram buckets), in ms:
    the time inside the app, without the client or the wait for the server's event loop."""
    buckets: list[tuple[float, float]] = []
    prefix = f'judgerl_request_duration_seconds_bucket{{route="{route}",le="'
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(prefix):
            bound, count = line[len(prefix) :].split('"} ')
            buckets.append((float("inf") if bound == "+Inf" else float(bound), float(count)))
    total = buckets[-1][1]

    def upper(q: float) -> float:
        return next(bound for bound, count in buckets if count >= q * total) * 1000

    return upper(0.5), upper(0.99)


def summarise(name: str, latencies: list[float], wall: float, samples: int, problems: list[str]) -> dict[str, Any]:
    return {
        "variant": name,
        "requests": len(latencies),
        "samples": samples,
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(latencies) / wall, 1),
        "samples_per_s": round(samples / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "lost_or_mismatched": len(problems),
        "problems": problems[:5],
    }


async def run_in_process(scorer: RewardScorer, clients: int, requests: int, size: int) -> dict[str, Any]:
    from judgerl.serve.nova import nova_result, parse_lenient

    latencies: list[float] = []
    problems: list[str] = []
    asyncio.get_running_loop().set_default_executor(judge_executor(scorer.concurrency))  # as the server does

    async def client(number: int) -> None:
        for request in range(requests):
            batch = nova_batch(number, request, size)
            started = time.perf_counter()
            results = [nova_result(o) for o in await scorer.ascore(parse_lenient(batch), door="bench")]
            latencies.append(time.perf_counter() - started)
            if [r["id"] for r in results] != [s["id"] for s in batch]:
                problems.append(f"client {number} request {request}: ids differ")

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return summarise(
        "in-process (no HTTP)", latencies, time.perf_counter() - started, clients * requests * size, problems
    )


async def run_http(url: str, route: str, clients: int, requests: int, size: int) -> dict[str, Any]:
    latencies: list[float] = []
    problems: list[str] = []
    seen: set[str] = set()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(number: int, session: httpx.AsyncClient) -> None:
        for request in range(requests):
            batch = nova_batch(number, request, size)
            ids = [s["id"] for s in batch]
            if route == "/v1/nova":
                payload: Any = batch
            else:
                payload = {
                    "query": [f"[user] Question {i}?\n[assistant] A{i}" for i in range(size)],
                    "prompts": [f"[user] Question {i}?\n[assistant] " for i in range(size)],
                    "labels": [f"A{i}" for i in range(size)],
                }
            started = time.perf_counter()
            try:
                response = await session.post(f"{url}{route}", json=payload)
            except httpx.TransportError as exc:  # a lost response: counted, never hidden
                problems.append(f"client {number} request {request}: {type(exc).__name__}")
                continue
            finally:
                latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                problems.append(f"client {number} request {request}: HTTP {response.status_code}")
                continue
            body = response.json()
            if route == "/v1/nova":
                got = [r["id"] for r in body]
                if got != ids or seen.intersection(got):
                    problems.append(f"client {number} request {request}: ids {got[:2]}... differ or repeat")
                seen.update(got)
            elif len(body["rewards"]) != size or body["extra_logs"]["unscored"] != [0.0] * size:
                problems.append(f"client {number} request {request}: {len(body['rewards'])} rewards")

    async with httpx.AsyncClient(limits=limits, timeout=120) as session:
        warm = nova_batch(-1, -1, size) if route == "/v1/nova" else {"query": ["warm-up"]}
        (await session.post(f"{url}{route}", json=warm)).raise_for_status()
        started = time.perf_counter()
        await asyncio.gather(*(client(n, session) for n in range(clients)))
        wall = time.perf_counter() - started
    row = summarise(f"HTTP {route}", latencies, wall, clients * requests * size, problems)
    row["server_p50_ms_at_most"], row["server_p99_ms_at_most"] = server_quantiles(url, route)
    return row


def start_server(rubric: Path, judge_ms: float, concurrency: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(HERE)])}
    command = [sys.executable, "-m", "judgerl", "serve", "--rubric", str(rubric), "--port", str(port)]
    command += ["--backend", "serve_load:LoadBackend", "--model", "load-judge"]
    command += ["--backend-option", f"delay_ms={judge_ms}"]
    command += ["--no-cache"]  # as the in-process variant: every sample is judged
    command += ["--concurrency", str(concurrency), "--rationales", "none", "--log-level", "warning"]
    with log.open("wb") as sink:  # the child keeps its own handle
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not start: {log.read_text(errors='replace')[-2000:]}")


def machine_line() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} cores (shared; load average {load:.1f} at the start), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def markdown(report: dict[str, Any]) -> str:
    """The BENCHMARKS.md section, from the results file's report."""
    rows = report["variants"]
    base = rows[0]["samples_per_s"]
    lines = [
        "## Reward server",
        "",
        f"`{report['command']}` ({report['date']})",
        "",
        f"Machine: {report['machine']}. Server and clients share the machine. Judge: a stand-in with "
        f"{report['judge_ms']:g} ms per backend call (one call per sample), judge concurrency {report['concurrency']}; "
        f"{report['clients']} concurrent clients x {report['requests']} requests x {report['batch']} samples each.",
        "",
        "| variant | samples/s | requests/s | p50 ms | p99 ms | server-side p50 / p99 ms (at most) "
        "| throughput vs in-process | lost or mismatched |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = row["samples_per_s"] / base if base else float("nan")
        server = (
            f"{row['server_p50_ms_at_most']:g} / {row['server_p99_ms_at_most']:g}"
            if "server_p99_ms_at_most" in row
            else "-"
        )
        lines.append(
            f"| {row['variant']} | {row['samples_per_s']} | {row['requests_per_s']} | {row['p50_ms']} | "
            f"{row['p99_ms']} | {server} | {ratio:.2f} | {row['lost_or_mismatched']} |"
        )
    lines += [
        "",
        "p50/p99 are what the clients saw; the server-side columns come from the server's own latency histogram "
        "(/metrics, bucket upper bounds), i.e. the time inside the app. The gap between them is time spent in "
        "the clients and waiting for a CPU on a shared 2-core machine.",
        "Raw numbers: benchmarks/results/serve_load.json.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--judge-ms", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--no-markdown", action="store_true", help="Do not touch BENCHMARKS.md.")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))  # so 'serve_load:LoadBackend' resolves in-process too

    with tempfile.TemporaryDirectory() as tmp:
        rubric = Path(tmp) / "load.yaml"
        rubric.write_text(RUBRIC)
        config = ServeConfig(
            rubric=str(rubric),
            backend="serve_load:LoadBackend",
            backend_options={"delay_ms": args.judge_ms},
            rationales="none",
            concurrency=args.concurrency,
        )
        built = config.build()
        scorer = RewardScorer(built.rubric_judge, concurrency=args.concurrency)
        variants = [asyncio.run(run_in_process(scorer, args.clients, args.requests, args.batch))]
        built.close()
        server_log = Path(tmp) / "server.log"
        process, url = start_server(rubric, args.judge_ms, args.concurrency, server_log)
        try:
            for route in ("/v1/nova", "/get_reward"):
                variants.append(asyncio.run(run_http(url, route, args.clients, args.requests, args.batch)))
        finally:
            process.terminate()
            process.wait(timeout=30)
        if any(v["lost_or_mismatched"] for v in variants):
            print("server log (tail):\n" + "\n".join(server_log.read_text(errors="replace").splitlines()[-40:]))

    command = "PYTHONPATH=src python benchmarks/serve_load.py " + " ".join(sys.argv[1:])
    report = {
        "command": command.strip(),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine_line(),
        "clients": args.clients,
        "requests": args.requests,
        "batch": args.batch,
        "judge_ms": args.judge_ms,
        "concurrency": args.concurrency,
        "variants": variants,
    }
    out = HERE / "results" / "serve_load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.no_markdown:
        write_section(markdown(report))
    print(json.dumps(variants, indent=2))
    failures = [v for v in variants if v["lost_or_mismatched"]]
    print("mean p99 ms:", round(statistics.mean(v["p99_ms"] for v in variants), 1))
    if failures:
        raise SystemExit(f"lost or mismatched responses: {failures}")


if __name__ == "__main__":
    main()
