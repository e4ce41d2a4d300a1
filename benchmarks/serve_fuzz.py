"""Fuzzing and stall figures for the reward server (issue 28), on loopback with the scripted stand-in judge.

1. Raw HTTP framing: N seeded random requests (judgerl.testing.fuzz.framing_case: Content-Length/Transfer-Encoding
   combinations, malformed chunks, bad versions and methods, hostile JSON) sent 16 at a time to an in-process
   server; counts answers by status, 5xx, and log records with a traceback or at ERROR.
2. The Lambda's API-Gateway events: M seeded random events (judgerl.testing.fuzz.api_gateway_event) through the
   handler; counts judged, one-line refusals, and anything else raised.
3. A write-locked verdict cache: another connection holds the cache file's write lock while 8 requests of 4
   samples run at once; /health is probed throughout. Reports the longest /health answer and the requests' time.

Writes benchmarks/results/serve_fuzz.json. The stand-in judge is tests/support/serve.py's ServeBackend.

    PYTHONPATH=src python benchmarks/serve_fuzz.py                      # 5,000 framing cases, 5,000 events
    PYTHONPATH=src python benchmarks/serve_fuzz.py --cases 300 --events 400 --seed 28 --requests 6 --samples 3
                                                                        # what make test runs
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(HERE)]

from common import write_result  # noqa: E402
from judgerl.errors import JudgerlError  # noqa: E402
from judgerl.judges.cache import VerdictCache  # noqa: E402
from judgerl.serve import lambda_handler  # noqa: E402
from judgerl.testing.fuzz import api_gateway_event, framing_case, send_raw  # noqa: E402
from serve_load import machine_line  # noqa: E402
from support.serve import RUBRIC_PATH, running  # noqa: E402


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.bad: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.bad.append(record.getMessage()[:200])


def fuzz_framing(cases: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    requests = [framing_case(rng) for _ in range(cases)]
    collector = _Collector()
    logging.getLogger().addHandler(collector)
    logging.getLogger().setLevel(logging.INFO)
    started = time.perf_counter()
    try:
        with running({}, body_timeout_s=1.0, header_timeout_s=1.0) as url:
            host, port = url.removeprefix("http://").split(":")
            with ThreadPoolExecutor(16) as pool:
                statuses = list(pool.map(lambda data: send_raw(host, int(port), data), requests))
    finally:
        logging.getLogger().removeHandler(collector)
    counts: dict[str, int] = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return {
        "cases": cases,
        "seed": seed,
        "by_status": dict(sorted(counts.items())),
        "server_errors_5xx": sum(1 for s in statuses if s is not None and s >= 500),
        "tracebacks_or_errors_logged": len(collector.bad),
        "examples_logged": collector.bad[:5],
        "seconds": round(time.perf_counter() - started, 1),
    }


def fuzz_events(events: int, seed: int) -> dict[str, Any]:
    os.environ["JUDGERL_RUBRIC"] = str(RUBRIC_PATH)
    os.environ["JUDGERL_BACKEND"] = "support.serve:ServeBackend"
    lambda_handler.reset()
    rng = random.Random(seed)
    judged = refused = other = 0
    examples: list[str] = []
    started = time.perf_counter()
    for _ in range(events):
        event = api_gateway_event(rng)
        try:
            lambda_handler.handler(event, lambda_handler.LocalContext())
            judged += 1
        except JudgerlError as exc:
            refused += 1 if "\n" not in str(exc) else 0
            other += 1 if "\n" in str(exc) else 0
        except Exception as exc:  # what must never happen: counted, with examples
            other += 1
            examples.append(f"{type(exc).__name__}: {str(exc)[:120]}")
    lambda_handler.reset()
    return {
        "events": events,
        "seed": seed,
        "judged": judged,
        "refused_in_one_line": refused,
        "other_exceptions": other,
        "examples": examples[:5],
        "seconds": round(time.perf_counter() - started, 1),
    }


def locked_cache_stall(requests: int = 8, samples: int = 4) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cache.db"
        VerdictCache(path).close()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        other.execute("INSERT INTO verdicts VALUES ('held', '{}', 0)")
        latencies: list[float] = []
        statuses: list[int] = []
        try:
            with running({"cache_path": str(path), "concurrency": 4}) as url:
                stop = threading.Event()

                def probe() -> None:
                    with httpx.Client(timeout=120) as client:
                        while not stop.is_set():
                            began = time.perf_counter()
                            client.get(f"{url}/health")
                            latencies.append(time.perf_counter() - began)
                            time.sleep(0.05)

                def post(r: int) -> None:
                    body = {
                        "samples": [
                            {"id": f"{r}-{i}", "prompt": "q", "response": f"good {r} {i}"} for i in range(samples)
                        ]
                    }
                    statuses.append(httpx.post(f"{url}/v1/judge", json=body, timeout=300).status_code)

                prober = threading.Thread(target=probe)
                prober.start()
                began = time.perf_counter()
                posters = [threading.Thread(target=post, args=(r,)) for r in range(requests)]
                for thread in posters:
                    thread.start()
                for thread in posters:
                    thread.join()
                judged_s = time.perf_counter() - began
                stop.set()
                prober.join()
        finally:
            other.execute("ROLLBACK")
            other.close()
    return {
        "requests": requests,
        "samples_per_request": samples,
        "statuses": sorted(set(statuses)),
        "requests_seconds": round(judged_s, 2),
        "health_probes": len(latencies),
        "health_max_seconds": round(max(latencies), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000, help="raw HTTP framing cases")
    parser.add_argument("--events", type=int, default=5000, help="API-Gateway events through the Lambda handler")
    parser.add_argument("--seed", type=int, default=1, help="framing seed; the events use seed + 2000")
    parser.add_argument("--requests", type=int, default=8, help="concurrent requests against the locked cache")
    parser.add_argument("--samples", type=int, default=4, help="samples per such request")
    args = parser.parse_args()
    report = {
        "machine": machine_line(),
        "framing": fuzz_framing(args.cases, args.seed),
        "lambda_events": fuzz_events(args.events, args.seed + 2000),  # --seed 28: the seeds make test uses
        "locked_cache": locked_cache_stall(args.requests, args.samples),
    }
    path = write_result("serve_fuzz", report)
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
