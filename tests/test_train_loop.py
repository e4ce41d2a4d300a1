"""GRPO training on a tiny random policy with a scripted judge: parameters change, judging is logged, verdicts
are stored once per step, a run killed with SIGKILL resumes, and a judge that stops scoring stops the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from judgerl.errors import JudgerlError
from judgerl.train.config import load_config
from support.fakes import ScriptedBackend, criterion_of, response_of
from support.stored import run_finished, stored_samples, stored_steps

pytest.importorskip("trl")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
TESTS = Path(__file__).parent


def write_run(root: Path, policy_path: Path, **overrides: Any) -> Path:
    """A config, a small dataset and a rubric in ``root``; returns the config path."""
    rows = [{"id": f"p{i}", "prompt": f"write a short poem about cats {i}", "reference": "yes"} for i in range(8)]
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "rubric.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "use_reference": False,
                "criteria": [
                    {"name": "says_yes", "text": "The response says yes."},
                    {"name": "brief", "text": "The response is brief."},
                ],
            }
        )
    )
    config: dict[str, Any] = {
        "name": "tiny",
        "output_dir": str(root / "run"),
        "threads": 1,
        "policy": {"model": str(policy_path), "lora": {"r": 4, "alpha": 8}},
        "data": {"path": "data.jsonl", "metadata_columns": []},
        "judge": {"backend": "scripted", "model": "scripted"},
        "reward": {"rubric": "rubric.yaml", "checks": [{"name": "not_empty", "type": "length", "min": 1}]},
        "grpo": {
            "max_steps": 3,
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "max_completion_length": 6,
            "learning_rate": 0.05,
            "save_steps": 2,
            "use_cpu": True,
        },
    }
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        if field:
            config[section][field] = value
        else:
            config[key] = value
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def judge_probs(prompt: Any, labels: Any) -> dict[str, float]:
    response = response_of(prompt)
    if "says yes" in criterion_of(prompt):
        p = 0.95 if "yes" in response else 0.05
    else:
        p = max(0.05, 1 - len(response.split()) / 8)
    return {"PASS": p, "FAIL": 1 - p}


def test_grpo_steps_train_the_policy_and_explain_every_reward(tmp_path: Path, policy_dir: Path) -> None:
    from judgerl.train.runner import train

    pytest.importorskip("tensorboard")
    config = load_config(write_run(tmp_path, policy_dir, grpo__report_to=["tensorboard"]))
    result = train(config, backend=ScriptedBackend(probs=judge_probs, reply=lambda p: "it does not say yes"))
    assert result.steps == 3

    from safetensors.torch import load_file

    adapter = load_file(result.final_dir / "adapter_model.safetensors")
    lora_b = [tensor for name, tensor in adapter.items() if "lora_B" in name]
    assert lora_b and any(float(t.abs().sum()) > 0 for t in lora_b)  # LoRA B starts at zero: training moved it

    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    for key in (
        "rewards/judge/mean",
        "criteria/says_yes/pass_rate",
        "criteria/brief/p_pass",
        "judge/unscored_frac",
        "judge/latency_s",
        "judge/prompt_tokens",
        "judge/wait_s",
        "judge/wait_fraction",
        "checks/not_empty/pass_rate",
    ):
        assert all(r.get(key) is not None for r in steps), key

    rows = stored_samples(result.store_path, result.run_id)
    assert stored_steps(result.store_path, result.run_id) == [1, 2, 3]
    assert run_finished(result.store_path, result.run_id)
    assert len(rows) == 3 * 4 and len({(r.step, r.sample_id) for r in rows}) == 12
    failed = [r for r in rows if any(c.passed is False for c in r.criteria)]
    assert failed and all(c.rationale for r in failed for c in r.criteria if c.passed is False)

    import pandas as pd

    table = pd.read_parquet(sorted((result.run_dir / "completions").glob("*.parquet"))[-1])
    assert {"judge_verdict", "rationale", "judge"} <= set(table.columns)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next((result.run_dir / "runs").iterdir())))
    events.Reload()
    assert "train/criteria/says_yes/pass_rate" in events.Tags()["scalars"]


def test_full_finetuning_changes_the_weights(tmp_path: Path, policy_dir: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from judgerl.train.runner import train

    config = load_config(
        write_run(tmp_path, policy_dir, policy={"model": str(policy_dir), "finetune": "full"}, grpo__max_steps=1)
    )
    result = train(config, backend=ScriptedBackend(probs=judge_probs))
    before, after = load_file(policy_dir / "model.safetensors"), load_file(result.final_dir / "model.safetensors")
    changed = [name for name in before if name in after and not torch.equal(before[name], after[name])]
    assert changed


def test_a_bfloat16_policy_trains_its_lora_adapter_in_float32(tmp_path: Path, policy_dir: Path) -> None:
    """``policy.dtype: bfloat16`` (what ``auto`` picks on a CPU with AVX512-BF16): the frozen weights stay bf16, the
    adapter is trained and saved in float32 (PEFT's own casting), and the trained policy loads in bf16."""
    import torch
    from safetensors.torch import load_file

    from judgerl.train.policy import load_trained_policy
    from judgerl.train.runner import train

    config = load_config(
        write_run(tmp_path, policy_dir, policy={"model": str(policy_dir), "dtype": "bfloat16"}, grpo__max_steps=2)
    )
    result = train(config, backend=ScriptedBackend(probs=judge_probs))
    assert result.steps == 2
    adapter = load_file(result.final_dir / "adapter_model.safetensors")
    lora_b = [tensor for name, tensor in adapter.items() if "lora_B" in name]
    assert lora_b and all(t.dtype == torch.float32 for t in adapter.values())
    assert any(float(t.abs().sum()) > 0 for t in lora_b)  # LoRA B starts at zero: training moved it
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(r["loss"] == r["loss"] for r in records if "loss" in r)  # no NaN loss in bf16
    model, _ = load_trained_policy(result.final_dir, config.policy)
    assert next(model.parameters()).dtype == torch.bfloat16


def test_a_judge_that_stops_scoring_stops_the_run(tmp_path: Path, policy_dir: Path) -> None:
    from judgerl.train.runner import train

    config = load_config(
        write_run(
            tmp_path,
            policy_dir,
            reward={"rubric": "rubric.yaml", "max_unscored_fraction": 0.5, "min_unscored_samples": 4},
        )
    )
    broken = ScriptedBackend(probs=lambda prompt, labels: "connection refused")
    with pytest.raises(JudgerlError, match=r"left 4 of the last 4 samples unscored .*connection refused"):
        train(config, backend=broken)


def test_existing_checkpoints_need_resume(tmp_path: Path, policy_dir: Path) -> None:
    from judgerl.train.runner import train

    config = load_config(write_run(tmp_path, policy_dir, grpo__max_steps=2))
    train(config, backend=ScriptedBackend(probs=judge_probs))
    with pytest.raises(JudgerlError, match=r"already holds checkpoints .* --resume"):
        train(config, backend=ScriptedBackend(probs=judge_probs))


def _child(config: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(TESTS.parent / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(TESTS / "support" / "train_child.py"), str(config), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_resume_after_kill_keeps_the_store_consistent(tmp_path: Path, policy_dir: Path) -> None:
    config_path = write_run(
        tmp_path,
        policy_dir,
        judge={"backend": "scripted", "model": "scripted", "options": {"delay_s": 0.05}},
        grpo__max_steps=8,
    )
    run_dir = tmp_path / "run"
    child = _child(config_path)
    deadline = time.time() + 240
    try:
        while not (run_dir / "checkpoint-4" / "trainer_state.json").exists():
            assert child.poll() is None, child.stdout.read().decode()[-3000:] if child.stdout else ""
            assert time.time() < deadline, "no checkpoint-4 in time"
            time.sleep(0.1)
        child.send_signal(signal.SIGKILL)  # mid-run: step 5 or 6 is under way or already stored
    finally:
        child.wait(timeout=60)
    config = load_config(config_path)
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    before = stored_steps(config.store_path, run_id)
    assert before[:4] == [1, 2, 3, 4] and before[-1] < 8
    assert not run_finished(config.store_path, run_id)  # the report shows it as running or interrupted

    resumed = _child(config_path, "--resume")
    output = resumed.communicate(timeout=300)[0].decode()
    assert resumed.returncode == 0, output[-3000:]
    assert "8 steps" in output
    rows = stored_samples(config.store_path, run_id)
    assert stored_steps(config.store_path, run_id) == list(range(1, 9))
    assert run_finished(config.store_path, run_id)
    assert len(rows) == 8 * 4  # each step once, with its 4 completions
    metric_steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    reward_steps = [
        s
        for s, line in zip(metric_steps, (run_dir / "metrics.jsonl").read_text().splitlines(), strict=True)
        if '"reward"' in line
    ]
    assert reward_steps == list(range(1, 9))


@pytest.mark.parametrize("overlap", [False, True])
def test_overlap_starts_judging_before_the_reward_call(tmp_path: Path, policy_dir: Path, overlap: bool) -> None:
    """With overlap, judging starts when completions are decoded, so the step waits less than the judge works;
    without it the step waits at least as long as the judge works (beta > 0 adds a reference pass to overlap)."""
    from judgerl.train.runner import train

    def slow(prompt: Any, labels: Any) -> dict[str, float]:
        time.sleep(0.05)
        return judge_probs(prompt, labels)

    config = load_config(
        write_run(
            tmp_path,
            policy_dir,
            judge={"backend": "scripted", "model": "scripted", "overlap": overlap},
            grpo__max_steps=2,
            grpo__beta=0.1,
        )
    )
    result = train(config, backend=ScriptedBackend(probs=slow))
    steps = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [s for s in steps if "reward" in s]
    assert len(steps) == 2 and all(s["kl"] is not None for s in steps)
    for step in steps:
        if overlap:
            assert step["judge/wait_s"] < step["judge/busy_s"]
        else:
            assert step["judge/wait_s"] >= step["judge/busy_s"]


def test_config_judge_backend_end_to_end(tmp_path: Path, policy_dir: Path, tiny_judge_dir: Path) -> None:
    """The judge named in the config (the in-process transformers backend on a tiny random judge) rewards
    training: real label probabilities, every verdict scored and stored."""
    from judgerl.train.runner import train

    config = load_config(
        write_run(
            tmp_path, policy_dir, judge={"backend": "transformers", "model": str(tiny_judge_dir)}, grpo__max_steps=2
        )
    )
    result = train(config)
    rows = stored_samples(result.store_path, result.run_id)
    assert len(rows) == 8 and all(r.scored and r.judge_model == str(tiny_judge_dir) for r in rows)
    probabilities = {c.p_pass for r in rows for c in r.criteria}
    assert len(probabilities) > 1 and all(p is not None and 0 < p < 1 for p in probabilities)


def test_nonce_secrets_average_every_training_verdict_with_overlap(tmp_path: Path, policy_dir: Path) -> None:
    """judge.nonce_secrets in training (overlapped judging): every criterion of every completion is asked under two
    distinct nonces, and its stored P(PASS) is the mean of the two."""
    import re

    from judgerl.train.runner import train

    def by_nonce(prompt: Any, labels: Any) -> dict[str, float]:
        nonce = re.search(r"marked with the code ([0-9a-f]{10})", prompt.system)
        assert nonce is not None
        p = 0.2 + 0.6 * int(nonce.group(1)[:2], 16) / 255
        return {"PASS": p, "FAIL": 1 - p}

    config = load_config(
        write_run(
            tmp_path,
            policy_dir,
            judge={"backend": "scripted", "model": "scripted", "overlap": True, "nonce_secrets": 2},
            grpo__max_steps=1,
            grpo__beta=0.1,
        )
    )
    backend = ScriptedBackend(probs=by_nonce)
    result = train(config, backend=backend)
    asked: dict[tuple[str, str], list[float]] = {}
    for prompt in (p for call in backend.label_calls for p in call):
        asked.setdefault((response_of(prompt), criterion_of(prompt)), []).append(by_nonce(prompt, None)["PASS"])
    rows = stored_samples(result.store_path, result.run_id)
    assert len(rows) == 4 and all(r.scored for r in rows)
    texts = {"says_yes": "The response says yes.", "brief": "The response is brief."}
    for row in rows:
        for criterion in row.criteria:
            values = asked[(row.response, texts[criterion.name])]
            assert len(set(values)) == 2
            assert criterion.p_pass == pytest.approx(sum(values) / 2)


def test_the_trained_policy_is_freed_when_train_returns(
    tmp_path: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an evaluation right after training loads another policy: the trained one (with its trainer and optimizer
    # state, held in reference cycles) must be gone by then, not left for the collector's next pass
    import gc
    import weakref

    from judgerl.train import runner

    loaded: list[weakref.ref[Any]] = []
    real_load = runner.load_policy

    def load_and_watch(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        model, tokenizer = real_load(*args, **kwargs)
        loaded.append(weakref.ref(model))
        return model, tokenizer

    monkeypatch.setattr(runner, "load_policy", load_and_watch)
    config = load_config(write_run(tmp_path, policy_dir, grpo__max_steps=1))
    gc.collect()
    gc.disable()  # only train() itself may free the cycles
    try:
        runner.train(config, backend=ScriptedBackend(probs=judge_probs, reply=lambda p: "no"))
        assert len(loaded) == 1 and loaded[0]() is None
    finally:
        gc.enable()
