"""Training configs: errors name the key path; the shipped demo and scale-out configs parse and validate (GPU runs
are not possible here, so the scale-out configs are checked at the config level: judgerl's schema, TRL's
GRPOConfig, accelerate's launcher config)."""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from judgerl.errors import JudgerlError
from judgerl.train.config import dump_config, load_config, parse_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BASE: dict[str, Any] = {
    "name": "x",
    "policy": {"model": "m"},
    "data": {"path": "d.jsonl"},
    "reward": {"rubric": "r.yaml"},
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"grpo": {"num_genrations": 4}},
            r"t.yaml: grpo.num_genrations: unknown key \(did you mean 'num_generations'\?\)",
        ),
        ({"grpo": {"num_generations": "four"}}, r"t.yaml: grpo.num_generations: expected int \| None, got 'four'"),
        ({"grpo": {"reward_weights": [1.0]}}, r"grpo.reward_weights: judgerl sets this; set 'reward.weight'"),
        ({"polcy": {}}, r"t.yaml: polcy: unknown key \(did you mean 'policy'\?\)"),
        ({"policy": {"model": "m", "lora": {"rank": 8}}}, r"policy.lora.rank: unknown key"),
        ({"policy": {"model": "m", "finetune": "qlora"}}, r"policy.finetune: Input should be 'lora' or 'full'"),
        (
            {"reward": {"rubric": "r.yaml", "checks": [{"name": "c", "type": "regex", "pattern": "("}]}},
            r"reward.checks.0.pattern: not a valid regular expression",
        ),
        (
            {"reward": {"rubric": "r.yaml", "checks": [{"name": "c", "type": "shape"}]}},
            r"reward.checks.0: unknown check type",
        ),
        ({"reward": {"kind": "rubric"}}, r"reward: kind 'rubric' needs 'rubric: <path"),
        (
            {"reward": {"rubric": "r.yaml", "max_unscored_fraction": 2}},
            r"reward.max_unscored_fraction: Input should be less",
        ),
        ({"judge": {"rationales": "most"}}, r"judge.rationales: 'most' is not one of"),
        ({"data": {"path": "d", "eval": {"path": "e", "holdout": 5}}}, r"data.eval: give either 'path' or 'holdout'"),
        ({"judge": {"content_free": {"odds_ratio": 0.5}}}, r"judge.content_free.odds_ratio: Input should be greater"),
    ],
)
def test_errors_name_the_key_path(change: dict[str, Any], message: str) -> None:
    data = copy.deepcopy(BASE)
    data.update(change)
    with pytest.raises(JudgerlError, match=message):
        parse_config(data, "t.yaml")


def test_content_free_gate_settings() -> None:
    """`judge.content_free: {}` is the gate the injection suite measures (its default odds ratio and probes)."""
    from judgerl.judges.content_free import ODDS_RATIO, PROBES

    config = parse_config({**BASE, "judge": {"content_free": {}}}, "t.yaml")
    assert config.judge.content_free is not None
    assert config.judge.content_free.odds_ratio == ODDS_RATIO and config.judge.content_free.probes == list(PROBES)
    config = parse_config({**BASE, "judge": {"content_free": {"odds_ratio": 3, "probes": ["..."]}}}, "t.yaml")
    assert config.judge.content_free is not None and config.judge.content_free.odds_ratio == 3.0


def test_grpo_values_are_typed_by_trl() -> None:
    config = parse_config({**BASE, "grpo": {"learning_rate": "3e-5", "num_generations": 4}}, "t.yaml")
    assert config.grpo.arguments() == {"learning_rate": 3e-5, "num_generations": 4}  # YAML reads 3e-5 as text
    assert config.grpo.trl_options == {"learning_rate": 3e-5, "num_generations": 4}


def test_grpo_options_judgerl_reads_are_typed_fields_and_the_rest_pass_through() -> None:
    section = {"max_completion_length": 48, "temperature": "0.8", "beta": 0.1, "bf16": False}
    config = parse_config({**BASE, "grpo": section}, "t.yaml")
    assert config.grpo.max_completion_length == 48 and config.grpo.temperature == 0.8 and config.grpo.bf16 is False
    assert config.grpo.trl_options == {"beta": 0.1}
    assert config.grpo.top_p == 1.0 and not config.grpo.is_set("top_p")  # TRL's default, not passed to TRL
    assert config.grpo.arguments() == {"max_completion_length": 48, "temperature": 0.8, "bf16": False, "beta": 0.1}
    assert yaml.safe_load(dump_config(config))["grpo"] == config.grpo.arguments()  # the run folder's copy is flat
    with pytest.raises(JudgerlError, match=r"t.yaml: grpo.trl_options: unknown key"):
        parse_config({**BASE, "grpo": {"trl_options": {"anything": 1}}}, "t.yaml")


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "train.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(BASE))
    config = load_config(path, ["grpo.max_steps=7", "reward.weight=2"])
    assert config.rubric_path == path.parent / "r.yaml"
    assert config.run_dir == Path("runs/x") and config.store_path == Path("runs/x/verdicts.sqlite")
    assert config.grpo.max_steps == 7 and config.reward.weight == 2
    with pytest.raises(JudgerlError, match=r"use key\.path=value"):
        load_config(path, ["grpo.max_steps"])


def test_the_demo_config_is_valid() -> None:
    config = load_config(EXAMPLES / "demo" / "config.yaml")
    assert config.reward.row_criteria == "criteria" and (config.base_dir / config.data.path).exists()
    assert config.judge.validation is not None and config.judge.validation.checker == "refusal"
    from judgerl.train.data import load_prompt_rows

    train_rows, held = load_prompt_rows(config)
    assert len(train_rows) == 64 and len(held) == 64
    assert not {r.prompt_id for r in train_rows} & {r.prompt_id for r in held}
    assert all(r.metadata["criteria"] and r.metadata["expected"] in ("refuse", "comply") for r in train_rows + held)
    assert sum(r.metadata["expected"] == "refuse" for r in held) == 32


def test_the_ifeval_configs_are_valid() -> None:
    from judgerl.train.data import load_prompt_rows

    judged = load_config(EXAMPLES / "ifeval" / "config.yaml")
    train_rows, held = load_prompt_rows(judged)
    assert len(train_rows) == 32 and len(held) == 10
    assert not {r.prompt_id for r in train_rows} & {r.prompt_id for r in held}
    assert all(r.metadata["criteria"] and r.metadata["instruction_id_list"] for r in train_rows + held)
    checks = load_config(EXAMPLES / "ifeval" / "checks.yaml")
    assert checks.reward.kind == "none" and [c.type for c in checks.reward.checks] == ["length", "ifeval"]


SCALE_CONFIGS = sorted((EXAMPLES / "scale").glob("*.yaml"))


@pytest.mark.parametrize("path", [p for p in SCALE_CONFIGS if p.name != "rubric_support.yaml"], ids=lambda p: p.name)
def test_scale_out_configs_validate(path: Path) -> None:
    pytest.importorskip("trl")
    from judgerl.backends import backend_names
    from judgerl.train.runner import grpo_arguments, reward_weights

    config = load_config(path)
    assert config.grpo.bf16 is True
    # TRL refuses bf16 without a GPU; everything else is checked by TRL's own GRPOConfig (batch sizes, vLLM mode)
    on_cpu = config.model_copy(update={"grpo": config.grpo.model_copy(update={"bf16": False})})
    arguments = grpo_arguments(on_cpu, reward_weights(config))
    assert arguments.use_vllm and arguments.vllm_mode in ("server", "colocate")
    generation_batch = arguments.per_device_train_batch_size * arguments.steps_per_generation
    assert generation_batch % arguments.num_generations == 0 or arguments.num_generations % generation_batch == 0
    if config.rubric_path is not None:
        from judgerl.rubric import Rubric

        Rubric.load(config.rubric_path)
    if "openai" in backend_names():  # the option names match the backend's constructor (no server is contacted)
        from judgerl.backends import _LAZY

        module, cls, _ = _LAZY["openai"]
        parameters = inspect.signature(getattr(__import__(module, fromlist=[cls]), cls)).parameters
        assert set(config.judge.options) <= set(parameters), set(config.judge.options) - set(parameters)


@pytest.mark.parametrize("path", sorted((EXAMPLES / "scale" / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_parse(path: Path) -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    cluster = ClusterConfig.from_yaml_file(str(path))
    assert cluster.distributed_type in ("DEEPSPEED", "FSDP") and cluster.mixed_precision == "bf16"
    if cluster.distributed_type == "DEEPSPEED":
        assert cluster.deepspeed_config["zero_stage"] in (2, 3)
