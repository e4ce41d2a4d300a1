"""judgerl.train.reward_function: `judgerl train`'s reward for a trainer you build yourself. The documented script
(examples/own-trainer/train_with_trl.py, shown whole in docs/training.md) runs a real TRL GRPOTrainer on a tiny
random policy with a scripted judge; the pieces `judgerl train` has (gates, content-free defence, cache, store,
guard) are checked on the returned functions."""

from __future__ import annotations

import asyncio
import runpy
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from judgerl.errors import JudgerlError
from judgerl.train import JudgeRewards, reward_function
from judgerl.train.metrics import TooManyUnscored
from support.serve import RUBRIC_PATH

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "own-trainer" / "train_with_trl.py"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def scripted_config(tmp_path: Path, **reward: Any) -> dict[str, Any]:
    """examples/own-trainer/reward.yaml with the scripted judge in place of the 0.5B model."""
    config: dict[str, Any] = yaml.safe_load((SCRIPT.parent / "reward.yaml").read_text())
    config["judge"] = {**config["judge"], "backend": "support.serve:ServeBackend", "model": "scripted"}
    config["reward"] = {**config["reward"], "rubric": str(RUBRIC_PATH), **reward}
    config["output_dir"] = str(tmp_path / "run")
    return config


def score(rewards: JudgeRewards, texts: list[str]) -> dict[str, list[float | None]]:
    kwargs = {"trainer_state": None, "log_metric": lambda *a: None, "log_extra": lambda *a: None}
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    prompts = [[{"role": "user", "content": "q"}] for _ in texts]

    async def call() -> list[Any]:
        return list(await asyncio.gather(*(f(prompts, completions, **kwargs) for f in rewards.functions)))

    return dict(zip(rewards.names, asyncio.run(call()), strict=True))


def test_the_functions_carry_the_gates_and_the_store(tmp_path: Path) -> None:
    config = scripted_config(tmp_path)
    with reward_function(config, num_generations=2) as rewards:
        assert rewards.names == ["judge"] and rewards.weights == [1.0]
        long_reply = "good " * 200  # past the length gate: 0 without asking the judge
        parts = score(rewards, ["good answer", "bad answer", long_reply, "good again"])
        assert parts["judge"] == pytest.approx([0.9, 0.2, 0.0, 0.9])
        run_id = rewards.run_id
    store = sqlite3.connect(tmp_path / "run" / "verdicts.sqlite")
    (count,) = store.execute("SELECT COUNT(*) FROM samples").fetchone()
    assert count == 4
    (finished,) = store.execute("SELECT finished IS NOT NULL FROM runs WHERE name = ?", (run_id,)).fetchone()
    assert finished == 1


def test_the_content_free_defence_applies_as_in_train(tmp_path: Path) -> None:
    config = scripted_config(tmp_path)
    config["judge"]["content_free"] = {}  # probes pass the scripted safety gate as well as any reply does
    with reward_function(config, num_generations=2) as rewards:
        assert rewards.pipeline.content_free is not None
        assert score(rewards, ["good answer", "good again"])["judge"] == [0.0, 0.0]


def test_the_unscored_guard_stops_a_run_that_cannot_be_judged(tmp_path: Path) -> None:
    config = scripted_config(tmp_path, max_unscored_fraction=0.25, unscored_window=1, min_unscored_samples=2)
    with reward_function(config, num_generations=2) as rewards, pytest.raises(TooManyUnscored):
        score(rewards, ["ERROR", "ERROR", "ERROR", "good"])


def test_a_bad_config_fails_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(JudgerlError, match="reward"):
        reward_function({"name": "x", "reward": {"kind": "rubric", "nonsense": 1}}, num_generations=2)


def test_the_documented_script_trains_with_trl(
    tmp_path: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "reward.yaml"
    config.write_text(yaml.safe_dump(scripted_config(tmp_path)))
    argv = [str(SCRIPT), "--policy", str(policy_dir), "--config", str(config), "--max-steps", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(SCRIPT), run_name="__main__")
    store = sqlite3.connect(tmp_path / "run" / "verdicts.sqlite")
    (count,) = store.execute("SELECT COUNT(*) FROM samples").fetchone()
    assert count == 4  # one step: 1 prompt x 4 generations judged and stored
    (name,) = store.execute("SELECT name FROM runs").fetchone()
    assert name.startswith("own-trainer-")


def test_the_script_is_shown_whole_in_the_docs() -> None:
    docs = (ROOT / "docs" / "training.md").read_text()
    assert SCRIPT.read_text().strip() in docs
