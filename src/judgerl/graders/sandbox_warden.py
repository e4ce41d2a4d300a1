"""The python grader's warden: the process between judgerl and a grader, run as ``python -I -S -c WARDEN``.

It is exec'd fresh (never a fork of the server) with a minimal environment. Where the system allows unprivileged
user and PID namespaces (``unshare``), the warden is PID 1 of a namespace of its own with a fresh /proc: the grader
sees no process of judgerl's, so it can neither read their ``/proc/<pid>/environ`` nor signal them, and when the
warden exits the kernel kills everything left in the namespace (forks, ``setsid`` children, daemons). Elsewhere the
warden is a child subreaper in a session of its own, marked non-dumpable (its /proc files turn root-owned): orphans
of the grader reparent to it and it sweeps them; judgerl's own processes stay reachable there (see
docs/openai-graders.md).

Either way the warden forks the grader with RLIMIT_AS, RLIMIT_CPU and RLIMIT_FSIZE (its output goes to files)
per process, polls the resident memory of the
whole group against the limit and the wall-time deadline, and at the end stops and kills every process left in
the group. Exit status: the grader's own, or ``TIMED_OUT`` / ``OVER_MEMORY``."""

from __future__ import annotations

TIMED_OUT = 124
OVER_MEMORY = 125

WARDEN = r"""
import ctypes, os, resource, signal, sys, time
memory_bytes, cpu_s, timeout_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
file_bytes, child_source = int(sys.argv[4]), sys.argv[5]
me = os.getpid()
isolated = me == 1
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE 0: /proc/<warden>/* is root-owned, unreadable to the grader
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the grader's orphans reparent here, not to init
page = os.sysconf("SC_PAGE_SIZE")

def parents():
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != b"Z":
            found[int(name)] = int(fields[1])
    return found

def members():
    table = parents()
    if isolated:
        return [pid for pid in table if pid != me]
    group, grown = set(), True
    while grown:
        grown = False
        for pid, parent in table.items():
            if pid not in group and (parent == me or parent in group):
                group.add(pid)
                grown = True
    return list(group)

def resident(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/statm" % pid) as f:
                total += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            pass
    return total

def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        reaped[pid] = status

def sweep():
    for _ in range(200):
        left = members()
        if not left:
            return
        for sig in (signal.SIGSTOP, signal.SIGKILL):  # frozen first, so that none forks while the rest die
            for pid in left:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        time.sleep(0.01)
        reap()

reaped = {}
grader = os.fork()
if grader == 0:
    try:
        if memory_bytes > 0:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        if cpu_s > 0:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        if file_bytes > 0:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        os.execv(sys.executable, [sys.executable, "-I", "-c", child_source])
    finally:
        os._exit(127)
deadline = time.monotonic() + timeout_s
verdict = None
while grader not in reaped:
    reap()
    if grader in reaped:
        break
    if time.monotonic() > deadline:
        verdict = 124
        break
    if memory_bytes > 0 and resident(members()) > memory_bytes:
        verdict = 125
        break
    time.sleep(0.05)
sweep()
if verdict is not None:
    os._exit(verdict)
status = reaped[grader]
os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
"""
