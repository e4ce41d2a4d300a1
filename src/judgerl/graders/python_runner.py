"""Run a python grader's ``grade(sample, item)`` in a child process with a time and a memory limit.

The child is ``python -I`` (no user site, no PYTHONPATH) in an empty temporary folder, with an environment
of PATH and locale only (no API keys), in its own session. Before the grader's code runs it lowers its own
RLIMIT_AS (address space) and RLIMIT_CPU; the parent kills the whole session after ``timeout_s`` of wall
time. The grader's prints go to stderr; the result comes back as one JSON line on stdout.

Defaults follow OpenAI's documented limits for python graders (2 minutes, 2 GB of memory). Not a security
sandbox: the code can still read files and reach the network the user running judgerl can; run only graders
you trust, as with any code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

_CHILD = r"""
import json, resource, sys
memory_bytes, cpu_s = int(sys.argv[1]), int(sys.argv[2])
if memory_bytes > 0:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
if cpu_s > 0:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
payload = json.loads(sys.stdin.read())
out, sys.stdout = sys.stdout, sys.stderr
def answer(obj):
    out.write(json.dumps(obj) + "\n")
    out.flush()
try:
    namespace = {"__name__": "__grader__"}
    exec(compile(payload["source"], "<grader>", "exec"), namespace)
    grade = namespace.get("grade")
    if not callable(grade):
        answer({"error": "the source defines no grade(sample, item) function"})
    else:
        value = grade(payload["sample"], payload["item"])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            answer({"error": "grade() returned %s, not a number" % type(value).__name__})
        else:
            answer({"reward": float(value)})
except MemoryError:
    answer({"error": "MemoryError: the grader exceeded its memory limit"})
except BaseException as exc:
    answer({"error": "%s: %s" % (type(exc).__name__, str(exc)[:300])})
"""


@dataclass(frozen=True)
class PythonLimits:
    timeout_s: float = 120.0
    memory_mb: int = 2048

    def __post_init__(self) -> None:
        if not self.timeout_s > 0 or self.memory_mb < 0:
            raise ValueError("python grader limits: timeout_s must be > 0 and memory_mb >= 0")


@dataclass(frozen=True)
class PythonOutcome:
    reward: float | None
    error: str | None = None


def _environment() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
    return {key: os.environ[key] for key in keep if key in os.environ}


async def run_python_grader(
    source: str, sample: dict[str, Any], item: dict[str, Any], limits: PythonLimits
) -> PythonOutcome:
    payload = json.dumps({"source": source, "sample": sample, "item": item}).encode()
    cpu_s = math.ceil(limits.timeout_s) + 1
    with tempfile.TemporaryDirectory(prefix="judgerl-grader-") as folder:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-c",
            _CHILD,
            str(limits.memory_mb * 1024 * 1024),
            str(cpu_s),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=folder,
            env={**_environment(), "HOME": folder},
            start_new_session=True,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(payload), limits.timeout_s)
        except TimeoutError:
            _kill(process)
            await process.wait()
            return PythonOutcome(None, f"the python grader ran past its {limits.timeout_s:g} s limit and was stopped")
        finally:
            if process.returncode is None:
                _kill(process)
                await process.wait()
    return _outcome(process.returncode, stdout, stderr, limits)


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _outcome(returncode: int | None, stdout: bytes, stderr: bytes, limits: PythonLimits) -> PythonOutcome:
    lines = stdout.decode("utf-8", "replace").strip().splitlines()
    if lines:
        try:
            answer = json.loads(lines[-1])
        except json.JSONDecodeError:
            answer = None
        if isinstance(answer, dict) and "reward" in answer:
            reward = answer["reward"]
            if not math.isfinite(reward):
                return PythonOutcome(None, f"grade() returned {reward}, not a finite number")
            return PythonOutcome(float(reward))
        if isinstance(answer, dict) and "error" in answer:
            return PythonOutcome(None, f"python grader error: {answer['error']}")
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        why = "its CPU time limit" if name == "SIGXCPU" else f"signal {name}"
        return PythonOutcome(None, f"the python grader was stopped by {why}")
    tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
    if "MemoryError" in tail[0] or "Cannot allocate memory" in tail[0]:
        return PythonOutcome(None, f"the python grader exceeded its {limits.memory_mb} MB memory limit")
    return PythonOutcome(None, f"the python grader exited with code {returncode}: {tail[0][:200]}")
