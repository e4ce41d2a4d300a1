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
