"""Run a python grader's ``grade(sample, item)`` in a sandbox with a time and a memory limit for its whole group.

Grader files come from other people, so the grader runs behind a warden (:mod:`judgerl.graders.sandbox_warden`):
a fresh ``python -I -S`` exec, never a fork of judgerl, with an explicit environment of PATH and locale only, in an
empty temporary folder and a session of its own; where unprivileged namespaces are available, in user and PID
namespaces with a fresh /proc (judgerl's processes are invisible: no /proc/<pid>/environ to read, no pid to
signal). The warden limits every process's address space (RLIMIT_AS) and CPU time, the resident memory of the
whole group, and wall time, and kills every process of the group when the grader ends or a limit is reached.
The grader's prints go to stderr; its result comes back as one JSON line on stdout, read defensively: anything but
a finite number is an unscored row with a reason.

Defaults follow OpenAI's documented limits for python graders (2 minutes, 2 GB of memory). The network is not
blocked and files the user can read stay readable (docs/openai-graders.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from judgerl.graders.sandbox_warden import OVER_MEMORY, TIMED_OUT, WARDEN

_CHILD = r"""
import json, sys
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


#: the warden gets this long past the grader's limit to sweep the group before judgerl kills the warden itself
_GRACE_S = 5.0
#: the largest file (its output included) a grader may write: past it the grader is stopped by SIGXFSZ
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
_UNSHARE = ("--user", "--map-current-user", "--pid", "--fork", "--mount-proc", "--kill-child")


def _environment(folder: str) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")
    return {**{key: os.environ[key] for key in keep if key in os.environ}, "HOME": folder, "TMPDIR": folder}


@functools.cache
def namespace_prefix() -> tuple[str, ...]:
    """``unshare`` with user and PID namespaces when this system allows them unprivileged, else nothing."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        probe = subprocess.run([unshare, *_UNSHARE, "true"], capture_output=True, timeout=10, env=_environment("/"))
    except (OSError, subprocess.SubprocessError):
        return ()
    return (unshare, *_UNSHARE) if probe.returncode == 0 else ()


async def run_python_grader(
    source: str, sample: dict[str, Any], item: dict[str, Any], limits: PythonLimits
) -> PythonOutcome:
    payload = json.dumps({"source": source, "sample": sample, "item": item}).encode()
    cpu_s = math.ceil(limits.timeout_s) + 1
    prefix = await asyncio.to_thread(namespace_prefix)
    memory = str(limits.memory_mb * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="judgerl-grader-") as folder:
        # files, not pipes: what the grader prints is bounded by RLIMIT_FSIZE on disk, never buffered in judgerl
        paths = [os.path.join(folder, name) for name in (".payload", ".stdout", ".stderr")]
        with open(paths[0], "wb") as handle:
            handle.write(payload)
        with open(paths[0], "rb") as stdin, open(paths[1], "wb") as out, open(paths[2], "wb") as err:
            process = await asyncio.create_subprocess_exec(
                *prefix,
                sys.executable,
                "-I",
                "-S",
                "-c",
                WARDEN,
                memory,
                str(cpu_s),
                repr(limits.timeout_s),
                str(MAX_OUTPUT_BYTES),
                _CHILD,
                stdin=stdin,
                stdout=out,
                stderr=err,
                cwd=folder,
                env=_environment(folder),
                start_new_session=True,
                close_fds=True,
            )
        try:
            await asyncio.wait_for(process.wait(), limits.timeout_s + _GRACE_S)
        except TimeoutError:
            _kill(process)
            await process.wait()
            return _timed_out(limits)
        finally:
            if process.returncode is None:
                _kill(process)
                await process.wait()
        stdout, stderr = _tail(paths[1]), _tail(paths[2])
    return _outcome(process.returncode, stdout, stderr, limits)


def _tail(path: str, size: int = 64 * 1024) -> bytes:
    """The end of a file the grader wrote (it may have removed it: nothing then)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - size))
            return handle.read()
    except OSError:
        return b""


def _timed_out(limits: PythonLimits) -> PythonOutcome:
    return PythonOutcome(None, f"the python grader ran past its {limits.timeout_s:g} s limit and was stopped")


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _outcome(returncode: int | None, stdout: bytes, stderr: bytes, limits: PythonLimits) -> PythonOutcome:
    if returncode == TIMED_OUT:
        return _timed_out(limits)
    if returncode == OVER_MEMORY:
        return PythonOutcome(None, f"the python grader's processes exceeded its {limits.memory_mb} MB memory limit")
    lines = stdout.decode("utf-8", "replace").strip().splitlines()
    answer: Any = None
    if lines:
        with contextlib.suppress(ValueError, RecursionError):
            answer = json.loads(lines[-1][:10_000])
    if isinstance(answer, dict) and "reward" in answer:
        reward = answer["reward"]
        if isinstance(reward, bool) or not isinstance(reward, int | float):
            return PythonOutcome(None, f"the python grader answered {str(reward)[:80]!r}, not a number")
        if not math.isfinite(reward):
            return PythonOutcome(None, f"grade() returned {reward}, not a finite number")
        return PythonOutcome(float(reward))
    if isinstance(answer, dict) and "error" in answer:
        return PythonOutcome(None, f"python grader error: {str(answer['error'])[:300]}")
    if returncode is not None and (returncode < 0 or 128 < returncode < 128 + 65):
        number = -returncode if returncode < 0 else returncode - 128
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
        why = {"SIGXCPU": "its CPU time limit", "SIGXFSZ": f"its {MAX_OUTPUT_BYTES // 2**20} MB output limit"}.get(
            name, f"signal {name}"
        )
        return PythonOutcome(None, f"the python grader was stopped by {why}")
    tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
    if "File too large" in tail[0]:  # Python ignores SIGXFSZ: the write past RLIMIT_FSIZE raised EFBIG
        return PythonOutcome(None, f"the python grader wrote past its {MAX_OUTPUT_BYTES // 2**20} MB output limit")
    if "MemoryError" in tail[0] or "Cannot allocate memory" in tail[0]:
        return PythonOutcome(None, f"the python grader exceeded its {limits.memory_mb} MB memory limit")
    return PythonOutcome(None, f"the python grader exited with code {returncode}: {tail[0][:200]}")
