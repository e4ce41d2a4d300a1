"""One replica of a served judge for multi-process training tests: judgerl's loopback stub server (an
OpenAI-compatible /v1/chat/completions with log-probabilities) whose P(PASS) grows with the judged response's
length, the way a length-biased judge does, so the length monitor has something to find and the labelled gate
rows (long = good) rank perfectly. ``--die-after N`` kills the replica (SIGKILL, requests in flight cut) when it
answers its N-th judge prompt with a response in it (not a probe): a replica lost mid-run, at the same point every time.
Usage: python tests/support/judge_replica.py [--die-after N]; prints ``READY <base_url>``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: the support package
sys.path.insert(0, str(Path(__file__).parents[2] / "src"))

from judgerl.backends import JudgePrompt
from judgerl.testing.stub_server import StubChatServer
from support.fakes import response_of

MODEL = "replica-judge"


def length_p_pass(messages: Sequence[dict[str, Any]]) -> float:
    """P(first label) from the length of the response in the judge's prompt (0.05 .. 0.95); 0.5 for a prompt
    with no response in it (the backend's probe)."""
    response = judged_response(messages)
    return 0.5 if response is None else min(0.95, 0.05 + len(response) / 60)


def judged_response(messages: Sequence[dict[str, Any]]) -> str | None:
    user = str(messages[-1].get("content", "")) if messages else ""
    if "## The assistant's response\n" not in user:
        return None
    return response_of(JudgePrompt(system="", user=user))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--die-after", type=int, default=None)
    die_after = parser.parse_args().die_after
    answered = 0

    def p_first(messages: Sequence[dict[str, Any]]) -> float:
        nonlocal answered
        response = judged_response(messages)
        answered += response is not None
        if die_after is not None and answered >= die_after:
            print(f"DYING while judging {json.dumps(response)}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return length_p_pass(messages)

    server = StubChatServer(models=[MODEL], latency_s=0.01, p_first=p_first)

    async def run() -> None:
        await server.serve()
        print(f"READY {server.base_url}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
