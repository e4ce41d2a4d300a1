"""Soak of the reward server on loopback: N requests at K in flight over /v1/nova, /get_reward and /v1/judge,
every answer checked (status 200, the ids and rewards of its own request), the server's resident memory read
from /proc before, during and after. The judge is serve_load's stand-in (fixed latency per backend call), so
this measures the serving path, not a model. Writes benchmarks/results/serve_soak.json and the
"## Reward server soak" section of BENCHMARKS.md. Linux only (RSS from /proc).

    PYTHONPATH=src python benchmarks/serve_soak.py                        # 20,000 requests at 32 in flight
    PYTHONPATH=src python benchmarks/serve_soak.py --requests 2000        # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import write_section  # noqa: E402
from serve_load import RUBRIC, machine_line, percentile, server_quantiles, start_server  # noqa: E402

ROUTES = ("/v1/nova", "/get_reward", "/v1/judge")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def request_for(n: int) -> tuple[str, Any, Any]:
    """Route, body and the answer expected of request ``n`` (every request is different, so a mixed-up answer
    shows). The stand-in judge passes everything with P(PASS) 0.8."""
    route = ROUTES[n % len(ROUTES)]
    if route == "/v1/nova":
        body: Any = [
            {
                "id": f"n{n}-{i}",
                "messages": [{"role": "user", "content": f"Q{n}.{i}?"}, {"role": "assistant", "content": f"A{n}"}],
                "metadata": {"reference_answer": f"A{n}"},
            }
            for i in range(2)
        ]
        return route, body, [f"n{n}-0", f"n{n}-1"]
    if route == "/get_reward":
        body = {"query": [f"[user] Q{n}?\n[assistant] A{n}"], "prompts": [f"[user] Q{n}?\n[assistant] "]}
        return route, body, 1
    body = {"samples": [{"id": f"j{n}", "prompt": f"Q{n}?", "response": f"A{n}", "reference": f"A{n}"}]}
    return route, body, [f"j{n}"]


def check(route: str, expected: Any, answer: Any) -> bool:
    if route == "/v1/nova":
        return [r["id"] for r in answer] == expected and all(r["aggregate_reward_score"] > 0.5 for r in answer)
    if route == "/get_reward":
        return len(answer["rewards"]) == expected and answer["extra_logs"]["unscored"] == [0.0]
    return [v["id"] for v in answer["verdicts"]] == expected and all(v["score"] > 0.5 for v in answer["verdicts"])


async def soak(url: str, pid: int, total: int, in_flight: int, checkpoints: int) -> dict[str, Any]:
    latencies: list[float] = []
    problems: list[str] = []
    statuses: dict[int, int] = {}
    memory: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        for warm in range(3 * in_flight):  # warm-up: imports, pools and caches filled before the first reading
            route, body, _ = request_for(warm)
            (await client.post(route, json=body)).raise_for_status()
        memory.append((0, rss_mb(pid)))
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(total):
            queue.put_nowait(n)
        done = 0
        every = max(1, total // checkpoints)

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                n = queue.get_nowait()
                route, body, expected = request_for(n)
                started = time.perf_counter()
                try:
                    response = await client.post(route, json=body)
                except httpx.TransportError as exc:  # a lost response: counted, never hidden
                    problems.append(f"request {n} {route}: {type(exc).__name__}")
                    continue
                finally:
                    latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code != 200 or not check(route, expected, response.json()):
                    problems.append(f"request {n} {route}: HTTP {response.status_code} {response.text[:120]}")
                done += 1
                if done % every == 0:
                    memory.append((done, rss_mb(pid)))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        wall = time.perf_counter() - started
    return {
        "requests": total,
        "in_flight": in_flight,
        "wall_s": round(wall, 1),
        "requests_per_s": round(total / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        "lost_or_mismatched": len(problems),
        "problems": problems[:5],
        "rss_mb": [(n, round(mb, 1)) for n, mb in memory],
    }


def markdown(report: dict[str, Any]) -> str:
    """The BENCHMARKS.md section, from the results file's report."""
    run = report["run"]
    rss = run["rss_mb"]
    first, last = rss[0][1], rss[-1][1]
    half = rss[len(rss) // 2][1]
    server = f"{report['server_p50_ms_at_most']:g} / {report['server_p99_ms_at_most']:g}"
    lines = [
        "## Reward server soak",
        "",
        f"`{report['command']}` ({report['date']})",
        "",
        f"Machine: {report['machine']}. Server and client share the machine. Judge: serve_load's stand-in, "
        f"{report['judge_ms']:g} ms per backend call, no verdict cache; requests cycle through /v1/nova (2 "
        "samples), /get_reward and /v1/judge (1 sample), every one different and every answer checked.",
        "",
        "| requests | in flight | requests/s | p50 ms | p99 ms | server-side p50 / p99 ms (at most, /v1/judge) "
        "| 5xx | lost or mismatched | RSS after warm-up MB | RSS half-way MB | RSS at the end MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {run['requests']:,} | {run['in_flight']} | {run['requests_per_s']} | {run['p50_ms']} | {run['p99_ms']} | "
        f"{server} | {run['server_errors']} | {run['lost_or_mismatched']} | {first:.1f} | {half:.1f} | {last:.1f} |",
        "",
        "Latencies include the wait for a CPU on the shared machine (see its load average): they bound the "
        "serving path from above. RSS is the server process's VmRSS, read after a warm-up of 96 requests, then "
        "every tenth of the run. "
        f"Readings: {', '.join(f'{mb:.0f}' for _, mb in rss)} MB. Raw numbers: benchmarks/results/serve_soak.json. "
        "`make test` runs a bounded version (2,000 requests at 32 in flight, "
        "`tests/test_serve_hardening.py::test_soak_2000_requests_at_32_in_flight_no_5xx_none_lost_or_mismatched`).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--judge-ms", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--checkpoints", type=int, default=10, help="RSS readings during the run.")
    parser.add_argument("--no-markdown", action="store_true", help="Do not touch BENCHMARKS.md.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rubric = Path(tmp) / "load.yaml"
        rubric.write_text(RUBRIC)
        log = Path(tmp) / "server.log"
        process, url = start_server(rubric, args.judge_ms, args.concurrency, log)
        try:
            run = asyncio.run(soak(url, process.pid, args.requests, args.in_flight, args.checkpoints))
            p50, p99 = server_quantiles(url, "/v1/judge")
        finally:
            process.terminate()
            process.wait(timeout=30)
        if run["lost_or_mismatched"] or run["server_errors"]:
            print("server log (tail):\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
    report = {
        "command": ("PYTHONPATH=src python benchmarks/serve_soak.py " + " ".join(sys.argv[1:])).strip(),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine_line(),
        "judge_ms": args.judge_ms,
        "concurrency": args.concurrency,
        "server_p50_ms_at_most": p50,
        "server_p99_ms_at_most": p99,
        "run": run,
    }
    out = HERE / "results" / "serve_soak.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.no_markdown:
        write_section(markdown(report))
    print(json.dumps(run, indent=2))
    if run["lost_or_mismatched"] or run["server_errors"]:
        raise SystemExit("server errors or lost/mismatched responses")


if __name__ == "__main__":
    main()
