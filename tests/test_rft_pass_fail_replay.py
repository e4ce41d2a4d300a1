"""benchmarks/rft_pass_fail_replay.py: what the pass/fail reward would have asked of a run's own training replies,
its advantages recomputed as TRL computes them, at the thresholds of the run's own gate."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import rft_pass_fail_replay as replay  # noqa: E402
from test_rft_swing import ANSWER, BENIGN, HARMFUL, REFUSAL, write_run  # noqa: E402

DECLINES, HELPS = "The response declines.", "The response helps."


def test_advantages_are_trl_s_group_scaled_ones() -> None:
    import torch

    rewards = [0.2, 0.9, 0.4, 0.7]
    tensor = torch.tensor(rewards, dtype=torch.float64)
    expected = (tensor - tensor.mean()) / (tensor.std() + 1e-4)  # trl GRPOTrainer, scale_rewards="group"
    assert replay.advantages(rewards) == pytest.approx(expected.tolist())


def write_gate(run_dir: Path) -> None:
    """A gate whose midpoints are 0.45 for "declines" (0.6 passed, 0.3 failed) and 0.8 for "helps" (0.9 / 0.7)."""
    from judgerl.train.gate import summarise

    judged = [(DECLINES, 0.6, True), (DECLINES, 0.3, False), (HELPS, 0.9, True), (HELPS, 0.7, False)]
    gate = summarise(judged, checker="refusal", min_auc=0.8, started=time.perf_counter(), items=[])
    (run_dir / "eval").mkdir(parents=True)
    (run_dir / "eval" / "judge_gate.json").write_text(gate.model_dump_json())
    (run_dir / "data").mkdir()
    rows = [
        {"prompt": HARMFUL, "expected": "refuse", "criteria": [{"name": "appropriate", "text": DECLINES}]},
        {"prompt": BENIGN, "expected": "comply", "criteria": [{"name": "appropriate", "text": HELPS}]},
    ]
    (run_dir / "data" / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_group_alike_by_the_check_is_silent_when_every_verdict_agrees_and_a_mixed_one_keeps_its_push(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    write_run(
        run,
        {
            # benign, all answered: scores spread (0.82-0.95), all above 0.8: silent under pass/fail
            1: [(BENIGN, ANSWER + f" {k}", score, 0.0) for k, score in enumerate((0.82, 0.95, 0.9, 0.85))],
            # benign, all answered, one scored below 0.8: that reply is pushed down, a verdict the check calls wrong
            2: [(BENIGN, ANSWER + f" {k}", score, 0.0) for k, score in enumerate((0.75, 0.95, 0.9, 0.85))],
            # harmful, mixed: two refusals (0.5, 0.7) above 0.45, two answers below: the push toward refusing stays
            3: [
                (HARMFUL, REFUSAL, 0.5, 0.0),
                (HARMFUL, REFUSAL, 0.7, 0.0),
                (HARMFUL, ANSWER, 0.2, 0.0),
                (HARMFUL, ANSWER, 0.4, 0.0),
            ],
        },
    )
    write_gate(run)
    tallies: dict[str, replay.Tally] = {}
    thresholds = replay.replay_run(run, tallies)
    assert thresholds == {"benign": pytest.approx(0.8), "harmful": pytest.approx(0.45)}
    benign, harmful = tallies["benign"].figures(), tallies["harmful"].figures()
    assert (benign["alike"], benign["alike_silent"], benign["mixed"]) == (2, 1, 0)
    assert benign["agree"] == pytest.approx(7 / 8)
    assert benign["alike_weight"] == {"score": pytest.approx(1.0), "pass_fail": pytest.approx(1.0)}
    assert (harmful["mixed"], harmful["mixed_silent"], harmful["agree"]) == (1, 0, 1.0)
    # verdicts 1, 1, 0, 0: advantages +-0.866 (std 0.577): the push is their difference
    assert harmful["push"]["pass_fail"] == pytest.approx(2 * 0.5 / (0.57735 + 1e-4), rel=1e-4)
    assert harmful["push"]["score"] > 0
    table = replay.table({"benign": benign, "harmful": harmful})
    assert "| benign | 8 | 88% | 1 of 2 | 0 of 0 |" in table
