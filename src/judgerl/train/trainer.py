"""GRPOTrainer with two additions for judged rewards (trl==1.16.0 is pinned; these hooks follow its source).

- ``judge/wait_fraction``: the share of step time spent waiting for rewards, logged beside TRL's ``step_time``.
- ``overlap``: in trl 1.16 GRPOTrainer runs async reward functions on a daemon event loop, concurrently with each
  other, but only after generation and after the policy/reference log-probabilities of the batch are computed.
  With overlap on, judging starts the moment the completions are decoded, so it runs during those forward
  passes (worth it with a remote judge and ``beta > 0``, or ``steps_per_generation`` misaligned with
  gradient accumulation; on one CPU both compete for the same cores). Generation itself cannot overlap with
  judging in GRPOTrainer; trl.experimental.async_grpo does that with a vLLM server.
"""

from __future__ import annotations

from typing import Any

from trl import GRPOTrainer

from judgerl.train.rewards import RewardPipeline


class JudgedGRPOTrainer(GRPOTrainer):
    def __init__(self, *args: Any, pipeline: RewardPipeline, overlap: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pipeline = pipeline
        self.overlap = overlap
        self._batch_inputs: list[dict[str, Any]] | None = None

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        self._batch_inputs = inputs
        try:
            result: dict[str, Any] = super()._generate_and_score_completions(inputs)
        finally:
            self._batch_inputs = None
        return result

    def _generate(self, prompts: list[Any]) -> Any:
        output = super()._generate(prompts)
        inputs = self._batch_inputs
        if self.overlap and inputs is not None and self._training() and getattr(self, "async_loop", None):
            completion_ids, completions = output[1], output[3]
            # the same keyword arguments TRL's _calculate_rewards builds
            keys = [key for key in inputs[0] if key not in ("prompt", "completion", "completion_ids")]
            kwargs: dict[str, Any] = {key: [example[key] for example in inputs] for key in keys}
            kwargs.update(
                trainer_state=self.state,
                log_extra=self._log_completion_extra,
                log_metric=self._log_metric,
                completion_ids=completion_ids,
            )
            original_prompts = [example["prompt"] for example in inputs]
            self.pipeline.prefetch(original_prompts, completions, kwargs, self.async_loop)
        return output

    def _training(self) -> bool:
        return bool(getattr(self.model, "training", False))

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        metrics = self._metrics["train"]
        waits, steps = metrics.get("judge/wait_s"), metrics.get("step_time")
        if self._training() and waits and steps and sum(steps) > 0:
            metrics["judge/wait_fraction"] = [min(1.0, sum(waits) / sum(steps))]
        super().log(logs, start_time)
