"""Remote judge throughput: judged samples per second through the openai backend against a loopback server
with a fixed per-request latency, at 1, 4, 16 and 64 requests in flight, with a warm verdict cache, and
under 20% injected faults.

    PYTHONPATH=src python benchmarks/remote_throughput.py [--latency-s 0.1] [--seconds 4]

The stub server runs in its own process (so the client does not share a GIL with it). One criterion per
sample, so one request per sample; the ideal rate at N in flight is N / latency. Writes
benchmarks/results/remote_throughput.json and the '## Remote judge throughput' section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from common import write_result, write_section  # noqa: E402
from judgerl import Rubric, Sample  # noqa: E402
from judgerl.judges.cache import VerdictCache  # noqa: E402
from judgerl.judges.spec import JudgeSpec  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
HEADING = "## Remote judge throughput"
RUBRIC = Rubric.from_dict({"criteria": [{"name": "correct", "text": "The final answer is correct."}]})


def start_server(latency_s: float, fault_rate: float = 0.0) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "judgerl.testing.stub_server", "--latency-s", str(latency_s)]
    command += ["--fault-rate", str(fault_rate), "--retry-after-s", "0.2", "--hang-s", "600", "--seed", "3"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        raise RuntimeError(f"stub server did not start: {line!r}")
    return process, line.split()[1]


def server_faults(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(base_url.rsplit("/v1", 1)[0] + "/stub/stats", timeout=10) as response:
        faults: dict[str, int] = json.loads(response.read())["faults"]
    return faults


def samples(count: int, tag: str) -> list[Sample]:
    return [Sample(id=f"{tag}{i}", prompt=f"What is {i} * 7?", response=f"{tag} {7 * i}") for i in range(count)]


def run(
    base_url: str,
    in_flight: int,
    count: int,
    tag: str,
    cache: VerdictCache | None = None,
    timeout_s: float = 10.0,
    connections_per_client: int = 8,
) -> dict[str, Any]:
    options = {
        "base_urls": [base_url],
        "max_concurrency": in_flight,
        "connections_per_client": connections_per_client,
        "logprobs": True,
        "timeout_s": timeout_s,
        "retry_base_s": 0.05,
        "retry_max_s": 1.0,
        "max_attempts": 8,
        "breaker_reset_s": 0.5,
    }
    spec = JudgeSpec(backend="openai", model="stub-judge", options=options, rationales="none", concurrency=in_flight)
    backend = spec.build_backend()
    judge = spec.single_rubric_judge(RUBRIC, backend, cache=cache)
    batch = samples(count, tag)
    cpu, wall = time.process_time(), time.perf_counter()
    verdicts = judge.judge(batch)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = backend.call_stats()
    backend.close()
    return {
        "in_flight": in_flight,
        "samples": count,
        "scored": sum(v.scored for v in verdicts),
        "wall_s": round(wall, 3),
        "client_cpu_s": round(cpu, 3),
        "samples_per_s": round(count / wall, 1),
        "attempts": stats.attempts,
        "retries": stats.retries,
        "attempt_failures": stats.attempt_failures,
        "latency_p50_s": stats.latency.p50_s,
        "latency_p99_s": stats.latency.p99_s,
    }


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 1) for x in os.getloadavg()],
    }


def markdown(result: dict[str, Any]) -> str:
    latency = result["latency_s"]
    load = ", ".join(str(x) for x in result["machine"]["load_average_at_start"])
    lines = [
        HEADING,
        "",
        f"`PYTHONPATH=src python benchmarks/remote_throughput.py --latency-s {latency}` "
        "(results: `benchmarks/results/remote_throughput.json`).",
        f"Machine: {result['machine']['processor']}, {result['machine']['cpu_count']} CPUs, Python "
        f"{result['machine']['python']}, load average {load} at the start (the box is shared, so rates that are "
        "CPU-bound are lower than on an idle machine). The loopback stub server runs in its own process and "
        f"answers every request after {latency * 1000:.0f} ms; one criterion per sample, so one request per sample.",
        "",
        "| requests in flight | samples/s | ideal (N / latency) | of ideal | client CPU s per 1k samples | p50 s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["cold"]:
        ideal = row["in_flight"] / latency
        lines.append(
            f"| {row['in_flight']} | {row['samples_per_s']:,.1f} | {ideal:,.0f} | {row['samples_per_s'] / ideal:.0%} "
            f"| {1000 * row['client_cpu_s'] / row['samples']:.2f} | {row['latency_p50_s']:.3f} |"
        )
    lines += [
        "",
        "Below the ideal rate, the limit is CPU: client and stub server share the box's two cores with other jobs "
        "(client CPU per sample stays flat, so more in flight only queues).",
    ]
    pooled = result["one_pool_64"]
    sharded = next(r for r in result["cold"] if r["in_flight"] == 64)
    lines += [
        "",
        "The client spreads its connections over HTTP clients of 8 connections each: httpcore's pool scans every "
        "connection for every waiting request, so a single pool of 64 is quadratic. Same 64 in flight, one pool "
        f"of 64 connections: {pooled['samples_per_s']:,.1f} samples/s and "
        f"{1000 * pooled['client_cpu_s'] / pooled['samples']:.2f} client CPU s per 1k samples; clients of 8: "
        f"{sharded['samples_per_s'] / pooled['samples_per_s']:.1f}x the rate, "
        f"{pooled['client_cpu_s'] / pooled['samples'] / (sharded['client_cpu_s'] / sharded['samples']):.1f}x less "
        "CPU per sample.",
    ]
    warm = result["warm_cache"]
    cold16 = next(r for r in result["cold"] if r["in_flight"] == warm["in_flight"])
    faults = result["faults"]
    share_of_clean = faults["samples_per_s"] / faults["clean_samples_per_s"]
    lines += [
        "",
        f"Warm verdict cache (same {warm['samples']} samples again, {warm['in_flight']} in flight, no request sent): "
        f"{warm['samples_per_s']:,.0f} samples/s, {warm['samples_per_s'] / cold16['samples_per_s']:.1f}x the cold "
        f"run at {warm['in_flight']} in flight.",
        "",
        f"With {faults['fault_rate']:.0%} injected faults ({faults['in_flight']} in flight, {faults['samples']} "
        f"samples): {faults['samples_per_s']:,.1f} samples/s ({share_of_clean:.0%} of the clean rate), "
        f"{faults['scored']} scored and {faults['samples'] - faults['scored']} unscored with a "
        f"reason (garbage or off-menu replies), {faults['retries']} retries over {faults['attempts']} attempts; "
        f"call latency p50 {faults['latency_p50_s']:.2f} s, p99 {faults['latency_p99_s']:.2f} s. "
        f"Injected: {', '.join(f'{k} {v}' for k, v in sorted(faults['injected'].items()))}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-s", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=4.0, help="Target duration of each run at the ideal rate.")
    parser.add_argument("--fault-samples", type=int, default=1000)
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine(), "latency_s": args.latency_s, "cold": []}
    process, url = start_server(args.latency_s)
    try:
        for in_flight in (1, 4, 16, 64):
            count = max(20, int(args.seconds * in_flight / args.latency_s))
            result["cold"].append(run(url, in_flight, count, f"c{in_flight}-"))
            print(json.dumps(result["cold"][-1]), flush=True)
        with tempfile.TemporaryDirectory() as directory:
            cache = VerdictCache(Path(directory) / "cache.sqlite")
            count = max(20, int(args.seconds * 16 / args.latency_s))
            run(url, 16, count, "w-", cache=cache)
            result["warm_cache"] = run(url, 16, count, "w-", cache=cache)
            cache.close()
        print(json.dumps(result["warm_cache"]), flush=True)
        count = max(20, int(args.seconds * 64 / args.latency_s))
        result["one_pool_64"] = run(url, 64, count, "p-", connections_per_client=64)
        print(json.dumps(result["one_pool_64"]), flush=True)
    finally:
        process.terminate()
        process.wait(10)
    process, url = start_server(args.latency_s, fault_rate=0.2)
    try:
        faulty = run(url, 64, args.fault_samples, "f-", timeout_s=4.0)
        faulty["injected"] = server_faults(url)
    finally:
        process.terminate()
        process.wait(10)
    clean64 = next(r for r in result["cold"] if r["in_flight"] == 64)
    result["faults"] = {**faulty, "fault_rate": 0.2, "clean_samples_per_s": clean64["samples_per_s"]}
    print(json.dumps(result["faults"]), flush=True)
    write_result("remote_throughput", result)
    write_section(markdown(result))


if __name__ == "__main__":
    main()
