"""Fuzzing and stall figures for the reward server (issue 28), on loopback with the scripted stand-in judge.

1. Raw HTTP framing: N seeded random requests (judgerl.testing.fuzz.framing_case: Content-Length/Transfer-Encoding
   combinations, malformed chunks, bad versions and methods, hostile JSON) sent 16 at a time to an in-process
   server; counts answers by status, 5xx, and log records with a traceback or at ERROR.
2. Every HTTP route: R seeded requests (judgerl.testing.fuzz.route_request: a valid body for /v1/judge, /v1/nova,
   /get_reward and both grader routes with one or two parts made hostile, plus GET /health and /metrics) sent
   8 at a time with the bearer token; counts by route and status, 5xx, and log records with a traceback or at
   ERROR. A Nova batch past the unscored share fails on purpose (503); that policy is off here (share 1.0).
3. The Lambda's API-Gateway events: M seeded random events (judgerl.testing.fuzz.api_gateway_event) through the
   handler; counts judged, one-line refusals, and anything else raised.
4. A write-locked verdict cache: another connection holds the cache file's write lock while 8 requests of 4
   samples run at once; /health is probed throughout. Reports the longest /health answer and the requests' time.

The judge is tests/support/serve.py's ServeBackend, a scripted stand-in (no model is loaded): these figures
measure the server, not a judge. The loops are the tests' own (judgerl.testing.fuzz, support.serve). Writes
benchmarks/results/serve_fuzz.json and the "## Reward server under fuzzing and a locked verdict cache" section
of BENCHMARKS.md.

    PYTHONPATH=src python benchmarks/serve_fuzz.py        # 5,000 framing cases, 7,000 route requests, 5,000 events
    PYTHONPATH=src python benchmarks/serve_fuzz.py --cases 300 --routes 350 --events 400 --seed 28 --requests 6 \
        --samples 3                                       # what make test runs
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(HERE)]

from common import write_result, write_section  # noqa: E402
from judgerl.judges.outcome import UnscoredPolicy  # noqa: E402
from judgerl.serve import lambda_handler  # noqa: E402
from judgerl.testing.fuzz import (  # noqa: E402
    api_gateway_event,
    framing_case,
    route_request,
    run_event,
    send_raw_all,
    send_routes,
)
from serve_load import machine_line  # noqa: E402
from support.serve import RUBRIC_PATH, judge_at_once, running, write_locked_cache  # noqa: E402

RESULTS_FILE = HERE / "results" / "serve_fuzz.json"
HEADING = "## Reward server under fuzzing and a locked verdict cache"
TOKEN = "serve-fuzz-token"


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
            statuses = send_raw_all(url, requests)
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
    counts = {"judged": 0, "refused": 0, "other": 0}
    examples: list[str] = []
    started = time.perf_counter()
    for _ in range(events):
        outcome, problem = run_event(api_gateway_event(rng))
        counts[outcome] += 1
        if problem is not None:
            examples.append(problem)
    lambda_handler.reset()
    return {
        "events": events,
        "seed": seed,
        "judged": counts["judged"],
        "refused_in_one_line": counts["refused"],
        "other_exceptions": counts["other"],
        "examples": examples[:5],
        "seconds": round(time.perf_counter() - started, 1),
    }


def fuzz_routes(count: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    requests = [route_request(rng) for _ in range(count)]
    collector = _Collector()
    logging.getLogger().addHandler(collector)
    logging.getLogger().setLevel(logging.INFO)
    settings: dict[str, Any] = {
        "token": TOKEN,
        "policy": UnscoredPolicy(max_unscored_share=1.0),
        "max_body_bytes": 1024 * 1024,
    }
    started = time.perf_counter()
    try:
        with running({"pairwise": True}, **settings) as url:
            statuses = send_routes(url, requests, token=TOKEN)
    finally:
        logging.getLogger().removeHandler(collector)
    by_route: dict[str, dict[str, int]] = {}
    for (method, path, _), status in zip(requests, statuses, strict=True):
        counts = by_route.setdefault(f"{method} {path}", {})
        counts[str(status)] = counts.get(str(status), 0) + 1
    server_errors = [(path, body[:200].decode("utf-8", "replace")) for (_, path, body), status in
                     zip(requests, statuses, strict=True) if status >= 500 or status == 0]  # fmt: skip
    return {
        "requests": count,
        "seed": seed,
        "by_route": {route: dict(sorted(c.items())) for route, c in sorted(by_route.items())},
        "server_errors_5xx_or_no_answer": len(server_errors),
        "examples_5xx": server_errors[:5],
        "tracebacks_or_errors_logged": len(collector.bad),
        "examples_logged": collector.bad[:5],
        "seconds": round(time.perf_counter() - started, 1),
    }


def locked_cache_stall(requests: int = 8, samples: int = 4) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cache.db"
        with write_locked_cache(path), running({"cache_path": str(path), "concurrency": 4}) as url:
            responses, probed = judge_at_once(url, requests, samples)
    return {
        "requests": requests,
        "samples_per_request": samples,
        "statuses": sorted({r.status_code for r in responses}),
        "requests_seconds": round(probed.work_s, 2),
        "health_probes": len(probed.health_s),
        "health_max_seconds": round(max(probed.health_s), 3),
    }


def markdown(report: dict[str, Any]) -> str:
    framing, routes, events, locked = (report[k] for k in ("framing", "routes", "lambda_events", "locked_cache"))
    before = report.get("locked_cache_before_issue_28")

    def statuses(counts: dict[str, int]) -> str:
        ordered = sorted(counts.items(), key=lambda item: -item[1])
        return ", ".join(f"{n:,} x {'no answer' if s in ('None', '0') else s}" for s, n in ordered)

    route_cells = "; ".join(
        f"{route.split(' ', 1)[1]}: {statuses(counts)}" for route, counts in routes["by_route"].items()
    )
    lines = [
        HEADING,
        "",
        f"`{report['command']}` ({report['date']})",
        "",
        f"Machine: {report['machine']}. Loopback; server and client share the machine. The judge is the scripted "
        "stand-in of `tests/support/serve.py` (no model loaded); nothing tuned on these cases. Wall time is each "
        "door's, incomplete requests waiting out the 1 s header/body deadlines 16 at a time; the whole run took "
        f"{report['seconds']} s.",
        "",
        "| door | cases | answers | 5xx | unhandled (tracebacks or ERROR logs / other exceptions) | seconds |",
        "|---|---:|---|---:|---:|---:|",
        f"| raw HTTP framing (Content-Length/Transfer-Encoding combinations, malformed chunks, bad versions, methods, "
        f"hostile JSON), seed {framing['seed']} | {framing['cases']:,} | {statuses(framing['by_status'])} | "
        f"**{framing['server_errors_5xx']}** | **{framing['tracebacks_or_errors_logged']}** | {framing['seconds']} |",
        f"| every HTTP route, a valid body with hostile parts (surrogates raw and escaped, NaN, huge integers, "
        f"deep nesting, wrong types, unknown keys), seed {routes['seed']}; unscored-share policy off | "
        f"{routes['requests']:,} | {route_cells} | **{routes['server_errors_5xx_or_no_answer']}** | "
        f"**{routes['tracebacks_or_errors_logged']}** | {routes['seconds']} |",
        f"| Lambda function-URL / API-Gateway events through the handler, seed {events['seed']} | "
        f"{events['events']:,} | {events['judged']:,} judged, {events['refused_in_one_line']:,} refused with a "
        f"one-line error | - | **{events['other_exceptions']}** | {events['seconds']} |",
        "",
        "| verdict cache write-locked by another connection throughout | samples | statuses | requests done in | "
        "longest `/health` (probes) |",
        "|---|---:|---|---:|---:|",
        f"| {locked['requests']} requests of {locked['samples_per_request']} samples at once | "
        f"{locked['requests'] * locked['samples_per_request']} | {', '.join(map(str, locked['statuses']))} | "
        f"{locked['requests_seconds']} s | {locked['health_max_seconds']} s ({locked['health_probes']}) |",
    ]
    if before:
        lines.append(
            f"| code before issue 28, {before['requests']} requests of {before['samples_per_request']} samples "
            f"(measured {before['note'].rsplit('measured ', 1)[-1].split(' ', 1)[0]}) | "
            f"{before['requests'] * before['samples_per_request']} | {', '.join(map(str, before['statuses']))} | "
            f"{before['requests_seconds']} s | {before['health_max_seconds']} s ({before['health_probes']}) |"
        )
    lines += [
        "",
        "`make test` runs the same generators and senders at hundreds of cases "
        "(`tests/test_serve_fuzz_framing.py`: 300 framing cases, 350 route requests, 400 events) and the locked "
        "cache at 6 requests of 3 samples (`tests/test_serve_hardening.py`). Raw numbers: "
        "benchmarks/results/serve_fuzz.json.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000, help="raw HTTP framing cases")
    parser.add_argument("--routes", type=int, default=7000, help="requests spread over the seven HTTP routes")
    parser.add_argument("--events", type=int, default=5000, help="API-Gateway events through the Lambda handler")
    parser.add_argument("--seed", type=int, default=1, help="framing and route seed; the events use seed + 2000")
    parser.add_argument("--requests", type=int, default=8, help="concurrent requests against the locked cache")
    parser.add_argument("--samples", type=int, default=4, help="samples per such request")
    parser.add_argument("--no-markdown", action="store_true", help="Do not touch BENCHMARKS.md.")
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": ("PYTHONPATH=src python benchmarks/serve_fuzz.py " + " ".join(sys.argv[1:])).strip(),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine_line(),
        "judge": "tests/support/serve.py ServeBackend (scripted stand-in, no model)",
        "framing": fuzz_framing(args.cases, args.seed),
        "routes": fuzz_routes(args.routes, args.seed),
        "lambda_events": fuzz_events(args.events, args.seed + 2000),  # --seed 28: the seeds make test uses
        "locked_cache": locked_cache_stall(args.requests, args.samples),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    previous = RESULTS_FILE.exists() and json.loads(RESULTS_FILE.read_text(encoding="utf-8"))
    if previous and "locked_cache_before_issue_28" in previous:  # measured once, on the code before the fix
        report["locked_cache_before_issue_28"] = previous["locked_cache_before_issue_28"]
    path = write_result("serve_fuzz", report)
    if not args.no_markdown:
        write_section(markdown(report))
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
