"""Issue 28: the python grader's sandbox holds against the escapes found with real grader files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from judgerl.graders.grader import Grader
from judgerl.graders.python_runner import PythonLimits, namespace_prefix
from judgerl.graders.spec import parse_spec

NAMESPACES = pytest.mark.skipif(not namespace_prefix(), reason="no unprivileged user and PID namespaces here")


def _grade(source: str, **limits: float) -> Grader:
    spec = parse_spec({"type": "python", "name": "p", "source": source})
    return Grader(spec, python_limits=PythonLimits(**limits))  # type: ignore[arg-type]


def _wait_gone(folder: Path, seconds: float) -> list[str]:
    """Children that survive write a file after 2 s; whatever is in the folder after `seconds` escaped."""
    time.sleep(seconds)
    return sorted(p.name for p in folder.iterdir())


@NAMESPACES
def test_judgerls_environment_cannot_be_read_through_proc() -> None:
    """The old grader read OPENAI_API_KEY from /proc/<ppid>/environ: its parent was judgerl itself. Without
    namespaces the warden's own environ is unreadable, but judgerl's pid stays reachable (documented)."""
    source = (
        "import os\n"
        "def grade(sample, item):\n"
        "    seen = b''\n"
        "    for pid in (os.getppid(), int(item['v'])):\n"
        "        try:\n"
        "            seen += open('/proc/%d/environ' % pid, 'rb').read()\n"
        "        except OSError:\n"
        "            pass\n"
        "    return float(b'JUDGERL_TEST_MARKER' in seen)\n"
    )
    env = {**os.environ, "JUDGERL_TEST_MARKER": "secret"}
    # a stand-in for the server: a process whose initial environment holds the marker, running the grader
    runner = (
        "import sys; sys.path[:0] = ['src', 'tests']\n"
        "from test_grader_sandbox import _grade\n"
        "import os; print(_grade(sys.argv[1]).grade({'v': str(os.getpid())}, 'x').reward)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", runner, source], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "0.0", done.stdout + done.stderr


def test_forked_children_do_not_outlive_the_grader(tmp_path: Path) -> None:
    source = (
        "import os, time\n"
        "def grade(sample, item):\n"
        "    for i in range(20):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(2)\n"
        "            open(os.path.join(item['v'], 'alive-%d' % i), 'w').close()\n"
        "            os._exit(0)\n"
        "    return 1.0\n"
    )
    assert _grade(source, timeout_s=30).grade({"v": str(tmp_path)}, "x").reward == 1.0
    assert _wait_gone(tmp_path, 3.0) == []  # the old runner left all 20 running


def test_a_setsid_child_is_killed_and_does_not_block_the_run(tmp_path: Path) -> None:
    source = (
        "import os, time\n"
        "def grade(sample, item):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(2)\n"
        "            open(os.path.join(item['v'], 'escaped'), 'w').close()\n"
        "            time.sleep(60)\n"
        "        os._exit(0)\n"
        "    return 1.0\n"
    )
    started = time.perf_counter()
    result = _grade(source, timeout_s=5).grade({"v": str(tmp_path)}, "x")
    assert time.perf_counter() - started < 20  # the old run waited for the escaped child's stdout: 60 s
    assert result.reward == 1.0
    assert _wait_gone(tmp_path, 3.0) == []


def test_the_memory_limit_counts_every_process_of_the_grader() -> None:
    source = (
        "import os, time\n"
        "def grade(sample, item):\n"
        "    for _ in range(3):\n"
        "        if os.fork() == 0:\n"
        "            block = bytearray(200 * 1024 * 1024)\n"
        "            time.sleep(20)\n"
        "            os._exit(0)\n"
        "    time.sleep(15)\n"
        "    return 1.0\n"
    )
    result = _grade(source, timeout_s=30, memory_mb=256).grade({}, "x")
    assert result.reward is None and "memory" in (result.unscored_reason or "")  # old: 3 x 200 MB under 256 MB


@NAMESPACES
def test_the_grader_cannot_signal_judgerl_or_its_warden() -> None:
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        source = (
            "import os, signal\n"
            "def grade(sample, item):\n"
            "    for pid in (int(item['v']), os.getppid()):\n"
            "        try:\n"
            "            os.kill(pid, signal.SIGKILL)\n"
            "        except OSError:\n"
            "            pass\n"
            "    return 1.0\n"
        )
        assert _grade(source, timeout_s=30).grade({"v": str(victim.pid)}, "x").reward == 1.0
        assert victim.poll() is None  # the old grader could kill any process of judgerl's by its pid
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.parametrize("printed", ['{"reward": "abc"}', '{"reward": [1]}', '{"reward": true}', "[[[[", "1.0"])
def test_whatever_the_grader_writes_to_stdout_is_parsed_defensively(printed: str) -> None:
    source = f"import os\ndef grade(sample, item):\n    os.write(1, {printed!r}.encode() + b'\\n')\n    os._exit(0)\n"
    result = _grade(source, timeout_s=30).grade({}, "x")
    assert result.reward is None and result.unscored_reason  # the old runner raised TypeError on "abc"


def test_a_flood_of_output_is_cut_at_the_output_limit() -> None:
    """The old runner buffered everything a grader printed in judgerl's memory (a grader could print gigabytes)."""
    source = (
        "import os\n"
        "def grade(sample, item):\n"
        "    block = b'x' * (1024 * 1024)\n"
        "    for _ in range(64):\n"
        "        os.write(1, block)\n"
        "    return 1.0\n"
    )
    result = _grade(source, timeout_s=60).grade({}, "x")
    assert result.reward is None and "output limit" in (result.unscored_reason or "")
