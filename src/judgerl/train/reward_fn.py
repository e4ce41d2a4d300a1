"""The reward of a training config for a trainer you run yourself: ``judgerl.train.reward_function``.

``judgerl train`` builds its reward from the config's ``judge:`` and ``reward:`` sections; this module builds
the very same one (runner.build_judge and runner.build_pipeline: the judge and its verdict cache, the gate and
reward checks, the content-free defence, your functions, the unscored-fraction guard, the verdict store, the
judge validation on labelled rows, and the overlap of one step's judging with the next step's generation) and
hands it over as TRL reward functions:

    rewards = reward_function("train.yaml", num_generations=4)
    trainer = GRPOTrainer(model=..., reward_funcs=rewards.functions,
                          args=GRPOConfig(num_generations=4, reward_weights=rewards.weights, ...), ...)
    trainer.train()
    rewards.close()  # finishes the run in the verdict store and frees the judge

Only the config's ``judge:`` and ``reward:`` sections (and ``name``, ``output_dir``, ``store``, ``seed``) are
read; ``policy:``, ``data:`` and ``grpo:`` are your trainer's business and may be left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from judgerl.backends import JudgeBackend
from judgerl.train.config import TrainConfig, check_grader, parse_config, read_config_file
from judgerl.train.rewards import RewardPipeline
from judgerl.train.runner import _label_gate, build_judge, build_pipeline, judge_backend, needs_judge_backend
from judgerl.train.verdict_log import VerdictSink, close_sink, finish_run, open_verdict_store

#: what a config for reward_function may leave out, since your trainer owns them
_UNUSED_SECTIONS = {"policy": {"model": "(your trainer's policy)"}, "data": {"path": "(your trainer's dataset)"}}


class JudgeRewards:
    """A config's reward as TRL reward functions. ``functions`` and ``weights`` go to ``GRPOTrainer`` and
    ``GRPOConfig(reward_weights=...)``, in the same order; each function is async (TRL awaits it) and returns
    one reward per completion, None for an unscored one (TRL leaves it out of the group's baseline)."""

    def __init__(
        self, config: TrainConfig, pipeline: RewardPipeline, sink: VerdictSink | None, backend: JudgeBackend | None
    ) -> None:
        self.config = config
        self.pipeline = pipeline
        self._sink = sink
        self._backend = backend

    @property
    def functions(self) -> list[Callable[..., Any]]:
        return list(self.pipeline.functions())

    @property
    def weights(self) -> list[float]:
        return self.pipeline.weights()

    @property
    def names(self) -> list[str]:
        """As TRL logs them: ``rewards/<name>/mean``."""
        return self.pipeline.names()

    @property
    def run_id(self) -> str:
        return self.pipeline.run_id

    def close(self) -> None:
        """Mark the run finished in the verdict store, close it, and close the judge backend built here."""
        if self._sink is not None:
            finish_run(self._sink, self.run_id)
            close_sink(self._sink)
            self._sink = None
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> JudgeRewards:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _config(config: TrainConfig | str | Path | Mapping[str, Any]) -> TrainConfig:
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, Mapping):
        parsed = parse_config({**_UNUSED_SECTIONS, **dict(config)})
        check_grader(parsed, "<config>")
        return parsed
    path = Path(config)
    data = read_config_file(path)
    if isinstance(data, dict):
        data = {**_UNUSED_SECTIONS, **data}
    parsed = parse_config(data, str(path)).model_copy(update={"source": path.resolve()})
    check_grader(parsed, str(path))
    return parsed


def reward_function(
    config: TrainConfig | str | Path | Mapping[str, Any],
    *,
    num_generations: int,
    backend: JudgeBackend | None = None,
    run_id: str | None = None,
) -> JudgeRewards:
    """The reward ``judgerl train`` would train ``config`` with (a YAML path, a mapping or a TrainConfig), for
    your own trainer. ``num_generations`` is your trainer's completions per prompt (the groups preference
    rewards and the unscored guard read); ``backend`` replaces the configured judge (tests, notebooks)."""
    config = _config(config)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    run_id = run_id or f"{config.name}-{uuid.uuid4().hex[:8]}"
    owned = None
    if backend is None and needs_judge_backend(config):
        backend = owned = judge_backend(config)
    sink = open_verdict_store(config.store_path, None)
    try:
        judge = build_judge(config, backend)
        _label_gate(config, judge)  # judge.validation.labels: the judge checked before any step, as in train
        pipeline = build_pipeline(config, judge, run_id, num_generations, sink)
    except BaseException:
        close_sink(sink)
        if owned is not None:
            owned.close()
        raise
    return JudgeRewards(config, pipeline, sink, owned)
