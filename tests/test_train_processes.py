"""`judgerl train` in two processes under ``accelerate launch`` (torchrun underneath, gloo on 127.0.0.1, CPUs only)
with one served judge of two replicas, one of which dies mid-run (SIGKILL, requests in flight cut):

- run 1 (2 steps): the labelled-rows gate runs once, on the main process; the main process stores every
  completion of both ranks once, none unscored (the backend fails over to the live replica); both ranks log the
  same judge metrics, which are the gathered batch's (they match the store); the monitors warn;
- run 2 (``-m judgerl train CONFIG --resume``, up to 4 steps, ``stop_on_warning``): it continues from
  checkpoint-2 without re-running the gate, and both ranks stop at the same step, the first whose batch warns.

Two launches of two processes each; 40 to 90 s measured on a shared 2-core machine (mostly start-up: every process
imports torch, transformers and TRL).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from judgerl.errors import JudgerlError
from judgerl.store import VerdictStore
from judgerl.train.collective import on_main_process

pytest.importorskip("trl")
TESTS = Path(__file__).parent
LAUNCH_TIMEOUT_S = 300
CRITERION = "The response is a short poem about cats."
GATE_RESPONSES = {  # the labelled rows of the gate: long replies are good, as the replicas' judge thinks
    "soft cats purr and nap all day in the warm sun": True,
    "cats": False,
    "the lazy cat sleeps on the mat until the evening": True,
    "no": False,
}
BATCH = 8  # 2 processes x per_device_train_batch_size 4: one GRPO batch of 2 prompts x 4 completions per step


@dataclass
class Replica:
    process: subprocess.Popen[str]
    base_url: str


def _replica(*extra: str) -> Replica:
    process = subprocess.Popen(
        [sys.executable, str(TESTS / "support" / "judge_replica.py"), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("READY "), line
    return Replica(process, line.split()[1])


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    """Two replicas of one judge; the second dies when it judges its 6th response: the gate's 4 labelled rows are
    spread over both, so that is during training."""
    started = [_replica(), _replica("--die-after", "6")]
    try:
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.kill()
            replica.process.wait(timeout=10)


def write_run(root: Path, policy: Path, base_urls: list[str]) -> Path:
    rows = [{"id": f"p{i}", "prompt": f"write a short poem about cats {i}"} for i in range(8)]
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "rubric.yaml").write_text(
        yaml.safe_dump({"name": "poem", "use_reference": False, "criteria": [{"name": "poem", "text": CRITERION}]})
    )
    (root / "labels.jsonl").write_text(
        "".join(
            json.dumps(
                {"prompt": "write a short poem about cats", "response": text, "criterion": CRITERION, "label": label}
            )
            + "\n"
            for text, label in GATE_RESPONSES.items()
        )
    )
    config: dict[str, Any] = {
        "name": "ranks",
        "output_dir": str(root / "run"),
        "threads": 1,
        "policy": {"model": str(policy), "lora": {"r": 4, "alpha": 8}},
        "data": {"path": "data.jsonl", "reference_column": None},
        "judge": {
            "backend": "openai",
            "model": "replica-judge",
            "rationales": "none",
            "options": {"base_urls": base_urls, "retry_base_s": 0.05, "retry_max_s": 0.2},
            "validation": {"labels": "labels.jsonl", "min_auc": 0.8},
        },
        "reward": {"rubric": "rubric.yaml", "checks": [{"name": "not_empty", "type": "length", "min": 1}]},
        "monitors": {"min_samples": 8},
        "grpo": {
            "max_steps": 2,
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "max_completion_length": 6,
            "save_steps": 2,
            "use_cpu": True,
        },
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _launch(root: Path, *command: str) -> str:
    """``accelerate launch`` of two processes on this machine's CPUs; returns both ranks' output."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_ip", "127.0.0.1", "--main_process_port", str(port), *command,
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(TESTS.parent / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        launch, cwd=root, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S, env=environment, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-12000:]
    return output


def _rank_metrics(out: Path, rank: int) -> list[tuple[int, str, float]]:
    lines = (out / f"metrics-rank{rank}.jsonl").read_text().splitlines()
    return [(r["step"], r["name"], r["value"]) for r in map(json.loads, lines)]


def test_two_processes_one_served_judge_a_dead_replica_resume_and_stop(
    tmp_path: Path, policy_dir: Path, replicas: list[Replica]
) -> None:
    config = write_run(tmp_path, policy_dir, [replica.base_url for replica in replicas])
    first = tmp_path / "first"
    first.mkdir()
    child = str(TESTS / "support" / "train_ranks_child.py")
    output = _launch(tmp_path, child, str(first), str(config))
    run_dir = tmp_path / "run"
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]

    # the second replica died mid-run, cutting requests in flight; the backend failed over to the first
    assert replicas[1].process.wait(timeout=10) == -9
    assert replicas[0].process.poll() is None
    assert replicas[1].process.stdout is not None
    dying = json.loads(replicas[1].process.stdout.read().split("DYING while judging ", 1)[1])
    assert dying is not None and dying not in GATE_RESPONSES  # a policy completion: training was under way
    # the gate ran once, on the main process, and passed
    assert output.count("judge validation: judging the labelled rows") == 1
    assert json.loads((run_dir / "judge_gate_labels.json").read_text())["passed"] is True

    with VerdictStore(run_dir / "verdicts.sqlite", readonly=True) as store:
        run = store.resolve_run(run_id)
        samples = store.samples(run.id)
        assert store.steps(run.id) == [1, 2]
        # every completion of every rank once: positions 0..7 of each step, rank 1's at 4..7
        assert sorted((s.step, s.sample_id) for s in samples) == [
            (step, f"s{step}-{k:05d}") for step in (1, 2) for k in range(BATCH)
        ]
        assert all(s.score is not None and s.unscored_reason is None for s in samples)  # no reward lost
        means = {row["step"]: row["mean_p_pass"] for row in store.criterion_step_counts(run.id)}
        assert store.events(run.id, kind="warning")  # the length monitor warned (warn only in this run)

    ranks = [_rank_metrics(first, rank) for rank in (0, 1)]
    assert ranks[0] == ranks[1] and ranks[0]  # every rank logs the same judge metrics
    logged = {(step, name): value for step, name, value in ranks[0]}
    for step in (1, 2):
        assert logged[(step, "judge/unscored_frac")] == 0.0
        # the gathered batch's figure: the mean over both ranks' completions, as stored
        assert logged[(step, "criteria/poem/p_pass")] == pytest.approx(means[step])
    assert (run_dir / "checkpoint-2" / "trainer_state.json").exists()

    # resume with `-m judgerl`, two more steps allowed, stopping at the first monitor warning
    settings = yaml.safe_load(config.read_text())
    settings["grpo"]["max_steps"] = 4
    settings["monitors"]["stop_on_warning"] = True
    config.write_text(yaml.safe_dump(settings))
    output = _launch(tmp_path, "-m", "judgerl", "train", str(config), "--resume")
    assert "judge validation" not in output  # a resumed run does not re-run the gate
    assert output.count(f"run {run_id}: ") == 1  # one summary, from the main process
    # the summary says what the monitors stored, warnings included
    assert re.search(r"monitor warning at step \d+ \(length\): reward tracks response length", output), output[-3000:]
    stops = re.findall(r"stopping at step (\d+) \(monitors.stop_on_warning\)", output)
    assert len(stops) == 2 and stops[0] == stops[1], output[-6000:]  # both ranks, the same step
    stopped = int(stops[0])
    assert stopped == 3  # the first resumed step's batch warns (the length bias is there from step 1)
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["resumed_from"] == 2 and summary["steps"] == stopped and summary["stopped"]["step"] == stopped
    assert (run_dir / f"checkpoint-{stopped}" / "trainer_state.json").exists()
    with VerdictStore(run_dir / "verdicts.sqlite", readonly=True) as store:
        run = store.resolve_run(run_id)
        samples = store.samples(run.id)
        assert store.steps(run.id) == list(range(1, stopped + 1))
        assert sorted((s.step, s.sample_id) for s in samples) == [
            (step, f"s{step}-{k:05d}") for step in range(1, stopped + 1) for k in range(BATCH)
        ]
        assert [(e.step, e.name) for e in store.events(run.id, kind="stop")] == [(stopped, "monitor:length")]
        assert run.finished is not None


@pytest.mark.parametrize(
    "error", [None, JudgerlError("judge validation: AUC 0.40 is below the bar 0.80"), RuntimeError("judge crashed")]
)
def test_a_gate_runs_on_the_main_process_and_its_failure_stops_every_process(error: Exception | None) -> None:
    """on_main_process with two simulated processes: the action runs once, on rank 0; its failure reaches rank 1
    as a JudgerlError with the same message (rank 1 must not wait in a later collective for a rank that quit)."""
    from test_preference_reward import ThreadCollective

    collective = ThreadCollective(2)
    ran_on: list[int] = []
    raised: list[BaseException | None] = [None, None]

    def gate() -> None:
        ran_on.append(collective.process_index)
        if error is not None:
            raise error

    def process(index: int) -> None:
        collective.rank(index)
        try:
            on_main_process(collective, gate)
        except Exception as exc:
            raised[index] = exc

    threads = [threading.Thread(target=process, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert ran_on == [0]
    if error is None:
        assert raised == [None, None]
    else:
        assert raised[0] is error
        assert isinstance(raised[1], JudgerlError) and str(raised[1]) == str(error)
