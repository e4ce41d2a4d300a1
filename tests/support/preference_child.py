"""One of several real processes (launched by torchrun) scoring its share of GRPO groups with the preference
reward, gathering through accelerate (gloo on CPU). Writes OUT/rank<i>.json.
Usage: python -m torch.distributed.run --nproc_per_node 2 tests/support/preference_child.py OUT STORE"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: the support package and the test modules
sys.path.insert(0, str(Path(__file__).parents[2] / "src"))

from judgerl.train.collective import AccelerateCollective
from judgerl.train.verdict_log import close_sink, open_verdict_store
from support.fakes import ScriptedBackend
from test_preference_reward import GROUP_SIZE, TEXTS, _pipeline, _score, longer_wins, prompt_ids_of

if __name__ == "__main__":
    out, store = Path(sys.argv[1]), Path(sys.argv[2])
    from accelerate import PartialState

    PartialState(cpu=True)  # gloo between the processes; in training the Trainer sets this state up
    collective = AccelerateCollective()
    rank, ranks = collective.process_index, collective.num_processes
    backend = ScriptedBackend(probs=longer_wins)
    sink = open_verdict_store(store)  # as in training: every process opens the store, the main one records
    local = len(TEXTS) // ranks
    part = slice(rank * local, (rank + 1) * local)
    try:
        rewards = _score(_pipeline(backend, collective, GROUP_SIZE, sink=sink), TEXTS[part], prompt_ids_of(TEXTS)[part])
    finally:
        close_sink(sink)
    payload = {"rank": rank, "ranks": ranks, "rewards": rewards, "label_calls": len(backend.label_calls)}
    (out / f"rank{rank}.json").write_text(json.dumps(payload), encoding="utf-8")
