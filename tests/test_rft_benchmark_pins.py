"""The published safety-RFT commands (benchmarks/rft_safety.py, and the runs pre-registered in
benchmarks/rft_preregistered.md) train the policy as every earlier run did, in float32 with TRL's own final
projection, whatever the demo's config now picks for speed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from judgerl.train.config import load_config
from support.safety_benchmarks import run_parser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

pytest.importorskip("trl")

#: the pre-registered command's options (benchmarks/rft_preregistered.md), seed 101
PREREGISTERED = (
    "--threads 1 --set policy.model=qwen2.5-coder-0.5b --set grpo.num_generations=4 "
    "--set grpo.per_device_train_batch_size=8 --set grpo.max_steps=30 --set grpo.save_steps=10 "
    "--set judge.validation.prompts=32 --set grpo.learning_rate=1e-4 --set grpo.beta=0.1 "
    "--set grpo.shuffle_dataset=false --reward judge --name q05g-judge-s101 --set seed=101 "
    "--judge-model qwen2.5-coder-1.5b --set judge.options.dtype=bfloat16 --set judge.overlap=true"
)


def test_the_demo_config_picks_its_dtype_and_the_benchmark_pins_float32() -> None:

    import rft_safety

    demo = load_config(rft_safety.CONFIG)
    assert demo.policy.dtype == "auto" and demo.grpo.trl_options.get("cast_lm_head_to_fp32") is True
    parser = run_parser()
    args = parser.parse_args(PREREGISTERED.split())
    config = load_config(rft_safety.CONFIG, rft_safety.run_overrides(args))
    assert config.policy.dtype == "float32"
    assert config.grpo.trl_options.get("cast_lm_head_to_fp32") is False
    assert (config.seed, config.grpo.max_steps, config.grpo.trl_options["save_steps"]) == (101, 30, 10)
    # the demo watches the reward's behaviour signal; no published run did, so the commands leave it out
    assert demo.monitors is not None and demo.monitors.signal_by == "expected"
    assert [(c.name, c.role) for c in demo.reward.checks] == [("behaves", "monitor")]
    assert config.monitors is None and config.reward.checks == []
    text = (ROOT / "benchmarks" / "rft_preregistered.md").read_text(encoding="utf-8")
    assert "q05g-judge-s$S" in text and "101, 102, 103, 104, 105" in text


def test_the_averaged_rounds_registered_commands_train_and_measure_as_the_file_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # benchmarks/rft_preregistered_average.md: round 9's recipe in float32, the probability reward, every 5 steps
    import re
    import shlex

    import rft_average
    import rft_safety

    monkeypatch.setattr(rft_safety, "ROOT", tmp_path)  # the reworded split is written under runs/
    text = (ROOT / "benchmarks" / "rft_preregistered_average.md").read_text(encoding="utf-8")
    options = re.search(r'Q05Q="([^"]+)"', text)
    assert options is not None
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("python benchmarks/rft_")]
    train, measure = (c.replace("$Q05Q", options.group(1)).replace("$S", "1201") for c in commands[:2])
    assert train.startswith("python benchmarks/rft_safety.py") and measure.startswith(
        "python benchmarks/rft_average.py"
    )
    args = run_parser().parse_args(shlex.split(train)[2:])
    config = load_config(rft_safety.CONFIG, rft_safety.run_overrides(args))
    assert (config.policy.dtype, config.judge.options["dtype"], config.threads) == ("float32", "float32", 2)
    assert (config.grpo.max_steps, config.grpo.trl_options["save_steps"], config.seed) == (20, 5, 1201)
    assert config.reward.pass_fail_at_gate is False  # the judge's probability, as rounds 8 and 9
    assert config.judge.nonce_secrets == 2 and config.name == "bench-rft-safety-q05q-judge-s1201"
    averaged = rft_average.build_parser().parse_args(shlex.split(measure)[2:])
    assert (averaged.heldout_split, averaged.also, averaged.from_step, averaged.to_step) == (
        "heldout_512",
        [20],
        0,
        None,
    )
    # the same run folder and config; only the judge's overlap with generation (a training option) is left out
    assert set(rft_safety.run_overrides(args)) - set(rft_safety.run_overrides(averaged)) == {"judge.overlap=true"}
    assert set(rft_safety.run_overrides(averaged)) <= set(rft_safety.run_overrides(args))
