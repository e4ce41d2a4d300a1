"""A training config whose judge is a cascade runs end to end: the rubric reward and the preference reward."""

from __future__ import annotations

from pathlib import Path

import pytest

from judgerl.store import VerdictStore
from judgerl.train.config import load_config
from support.cascade import WEAK_THEN_STRONG, StageBackend

pytest.importorskip("trl")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_cascade_judges_a_training_run_and_the_store_records_its_stages(tmp_path: Path, policy_dir: Path) -> None:
    from judgerl.train.runner import train
    from test_train_loop import write_run

    config = load_config(write_run(tmp_path, policy_dir, judge={"cascade": WEAK_THEN_STRONG}, grpo__max_steps=1))
    StageBackend.calls.clear()
    result = train(config)  # the backends come from the config: one per stage
    assert result.steps == 1
    store = VerdictStore(result.store_path, readonly=True)
    try:
        stages = [tuple(row) for row in store.cascade_stages(store.resolve_run(result.run_id).id)]
    finally:
        store.close()
    # tiny random replies never say "clear": the weak judge is unsure of all of them, the strong one decides
    assert stages == [("sample", 2, "strong", 4)]
    assert StageBackend.calls["weak"] == StageBackend.calls["strong"] > 0


def test_a_cascade_gives_preference_rewards(tmp_path: Path, policy_dir: Path) -> None:
    from judgerl.train.runner import train
    from test_train_loop import write_run

    reward = {"kind": "preference", "preference": {"tie_margin": 0.05}}
    path = write_run(tmp_path, policy_dir, judge={"cascade": WEAK_THEN_STRONG}, reward=reward, grpo__max_steps=1)
    config = load_config(path)
    assert all(stage.tie_margin == 0.05 for stage in config.judge.with_tie_margin(0.05).cascade)
    StageBackend.calls.clear()
    result = train(config)
    assert result.steps == 1
    # the weak judge's position bias makes every pair's orders disagree: the strong judge decides each
    assert StageBackend.calls["strong"] > 0
