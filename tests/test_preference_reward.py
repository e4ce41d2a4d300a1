"""Preference rewards inside GRPO groups: hand-checked win rates, Bradley-Terry, tournaments, and groups split
over processes (simulated with threads and a gathering collective, and in two real processes)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from judgerl.backends.base import JudgePrompt
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.store import RunRecorder, VerdictStore
from judgerl.train.collective import SingleProcess
from judgerl.train.config import PreferenceSettings
from judgerl.train.preference import bradley_terry, group_rewards, schedule_pairs, win_rates
from judgerl.train.rewards import RewardPipeline
from judgerl.verdicts import PairVerdict
from support.fakes import ScriptedBackend
from support.stored import stored_samples


def _block(prompt: JudgePrompt, tag: str) -> str:
    match = re.search(rf"<{tag} \w+>\n(.*?)\n</{tag} \w+>", prompt.user, re.S)
    assert match is not None
    return match.group(1)


def longer_wins(prompt: JudgePrompt, labels: Any) -> dict[str, float]:
    """Prefers the longer response; on equal length it always says 'A' (a position bias -> a tie)."""
    first, second = _block(prompt, "response_a"), _block(prompt, "response_b")
    return {"A": 0.1, "B": 0.9} if len(second) > len(first) else {"A": 0.9, "B": 0.1}


def _verdict(winner: str | None, p_a: float | None = None) -> PairVerdict:
    return PairVerdict(
        id="x", p_a=p_a if p_a is not None else {"A": 1.0, "B": 0.0, "tie": 0.5}.get(winner or ""), winner=winner
    )  # type: ignore[arg-type]


def test_win_rate_counts_ties_as_half_and_skips_unscored() -> None:
    matches = [(0, 1), (0, 2), (1, 2)]
    verdicts = [_verdict("tie"), _verdict("B"), PairVerdict(id="u", p_a=None, winner=None, unscored_reason="x")]
    # 0: tie with 1, loses to 2 -> 0.25; 1: tie with 0, its match with 2 unscored -> 0.5; 2: beat 0 -> 1.0
    assert group_rewards(3, matches, verdicts) == [0.25, 0.5, 1.0]
    assert win_rates(2, [(0, 1, None)]) == [None, None]


def test_soft_preferences_use_the_order_averaged_probability() -> None:
    rewards = group_rewards(2, [(0, 1)], [_verdict("A", p_a=0.7)], soft=True)
    assert rewards == pytest.approx([0.7, 0.3])


def test_bradley_terry_is_a_fixed_point_of_its_equations() -> None:
    results = [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 0.5), (2, 1, 1.0)]
    probabilities = bradley_terry(3, results, prior=0.5)
    strengths = [p / (1 - p) for p in probabilities if p is not None]
    for k in range(3):
        wins = 0.5 + sum(s if k == i else 1 - s for i, j, s in results if k in (i, j))
        denominator = 2 * 0.5 / (strengths[k] + 1) + sum(
            1 / (strengths[i] + strengths[j]) for i, j, _ in results if k in (i, j)
        )
        assert wins == pytest.approx(strengths[k] * denominator, rel=1e-6)
    assert probabilities[0] > probabilities[2] > probabilities[1]
    assert bradley_terry(3, [(0, 1, None)]) == [None, None, None]


@pytest.mark.parametrize(("size", "opponents"), [(8, 2), (8, 3), (9, 4), (16, 4)])
def test_tournament_gives_each_completion_its_opponents(size: int, opponents: int) -> None:
    pairs = schedule_pairs(size, "tournament", opponents, seed=3)
    assert len(set(pairs)) == len(pairs) and all(i < j for i, j in pairs)
    degree = [sum(k in pair for pair in pairs) for k in range(size)]
    assert min(degree) >= min(opponents, size - 1) - (opponents % 2)
    assert len(pairs) < size * (size - 1) // 2
    assert schedule_pairs(size, "tournament", opponents, seed=3) == pairs  # same on every process
    assert schedule_pairs(4, "all", 1, seed=0) == list(itertools.combinations(range(4), 2))


def _pipeline(
    backend: ScriptedBackend, collective: Any, size: int, sink: Any = None, **settings: Any
) -> RewardPipeline:
    return RewardPipeline(
        run_id="run",
        num_generations=size,
        pairwise_judge=PairwiseJudge(backend),
        preference=PreferenceSettings(**settings),
        collective=collective,
        sink=sink,
    )


def _score(pipeline: RewardPipeline, texts: list[str], prompt_ids: list[str]) -> list[float | None]:
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    prompts = [[{"role": "user", "content": f"task {p}"}] for p in prompt_ids]
    kwargs = {"prompt_id": prompt_ids, "reference": [None] * len(texts), "metadata_json": ["{}"] * len(texts)}
    return asyncio.run(pipeline.functions()[0](prompts=prompts, completions=completions, **kwargs))


def test_hand_checked_group() -> None:
    """'a' and 'b' tie (the judge flips with the order); 'ccc' beats both."""
    backend = ScriptedBackend(probs=longer_wins)

    rewards = _score(_pipeline(backend, SingleProcess(), 3), ["a", "b", "ccc"], ["p"] * 3)
    assert rewards == [0.25, 0.25, 1.0]
    assert len(backend.label_calls) == 3  # three pairs, each call judging both orders
    assert all(len(call) == 2 for call in backend.label_calls)


class ThreadCollective:
    """N simulated processes in threads: ``gather`` concatenates every thread's list in rank order."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.barrier = threading.Barrier(size)
        self.slots: list[Any] = [None] * size
        self.local = threading.local()

    def rank(self, index: int) -> ThreadCollective:
        self.local.index = index
        return self

    @property
    def process_index(self) -> int:
        return int(self.local.index)

    @property
    def num_processes(self) -> int:
        return self.size

    def gather(self, values: list[Any]) -> list[Any]:
        self.slots[self.process_index] = list(values)
        self.barrier.wait()
        result = [item for slot in self.slots for item in slot]
        self.barrier.wait()
        return result


GROUP_SIZE = 4
TEXTS = ["a", "bbbb", "cc", "ddd", "eeeee", "f", "gg", "hhhhhh", "ii", "j", "kkkkkkk", "lll"]


def prompt_ids_of(texts: list[str]) -> list[str]:
    return [str(k // GROUP_SIZE) for k in range(len(texts))]  # 3 groups of 4: over 2 processes, 6 each


def _expected_rewards() -> list[float | None]:
    rewards = _score(
        _pipeline(ScriptedBackend(probs=longer_wins), SingleProcess(), GROUP_SIZE), TEXTS, prompt_ids_of(TEXTS)
    )
    assert rewards[:4] == [0.0, 1.0, 1 / 3, 2 / 3]
    return rewards


def test_groups_split_across_processes_get_the_same_rewards(tmp_path: Any) -> None:
    size, ranks, texts, prompt_ids = GROUP_SIZE, 2, TEXTS, prompt_ids_of(TEXTS)
    expected = _expected_rewards()

    collective = ThreadCollective(ranks)
    backends = [ScriptedBackend(probs=longer_wins) for _ in range(ranks)]
    sink = RunRecorder.open(tmp_path / "verdicts.sqlite")
    results: list[Any] = [None] * ranks
    local = len(texts) // ranks

    def run(rank: int) -> None:
        collective.rank(rank)
        pipeline = _pipeline(backends[rank], collective, size, sink=sink)
        part = slice(rank * local, (rank + 1) * local)
        results[rank] = _score(pipeline, texts[part], prompt_ids[part])

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(ranks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results[0] + results[1] == expected
    calls = [len(b.label_calls) for b in backends]
    assert sum(calls) == 3 * 6 and min(calls) > 0  # 18 pairs judged once, shared between the processes
    run_id = sink.run("run")
    assert len(sink.store.samples(run_id)) == len(texts)  # the main process stored every completion once
    assert len(sink.store.pairs(run_id)) == 18


def test_groups_split_across_real_processes(tmp_path: Path) -> None:
    """The same split in two real processes (torchrun, gloo on 127.0.0.1): accelerate's gather_object, the
    verdict store opened by both and written once."""
    expected = _expected_rewards()
    store = tmp_path / "verdicts.sqlite"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(port),
        str(Path(__file__).parent / "support" / "preference_child.py"), str(tmp_path), str(store),
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert done.returncode == 0, (done.stdout + done.stderr)[-12000:]
    results = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert [r["ranks"] for r in results] == [2, 2]
    assert results[0]["rewards"] + results[1]["rewards"] == expected
    assert sum(r["label_calls"] for r in results) == 3 * 6 and min(r["label_calls"] for r in results) > 0
    assert len(stored_samples(store, "run")) == len(TEXTS)  # every completion once, from the main process
    with VerdictStore(store, readonly=True) as opened:
        (run,) = opened.runs()
        assert len(opened.pairs(run.id)) == 18
