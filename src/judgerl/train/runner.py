"""``judgerl train``: build the judge, the rewards and TRL's GRPOTrainer from a config, train, save.

A run folder (``runs/<name>/`` by default) holds ``run.json`` (the run id), ``config.yaml`` and the rubric (or
grader file) as used, ``checkpoint-N/`` folders, ``metrics.jsonl``, ``completions/*.parquet`` (TRL's completions
table with the judge's verdicts and rationales), ``verdicts.sqlite`` (every verdict, by run, step and sample) and
``final/`` (the trained policy: a LoRA adapter or a full model, with its tokenizer).

Resume: ``--resume`` continues from the newest complete checkpoint and first removes the verdicts and metrics
of the steps after it, which the resumed run redoes; the store then holds each step once.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import re
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgerl.backends import JudgeBackend
from judgerl.errors import JudgerlError
from judgerl.judges.cascade import PairCascade
from judgerl.judges.content_free import ContentFreeGate
from judgerl.judges.grader_judge import GraderJudge
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.trust import TrustNotice, announce_trust
from judgerl.train.callbacks import MetricsFileCallback, ProgressCallback
from judgerl.train.collective import AccelerateCollective, on_main_process
from judgerl.train.config import TrainConfig, dump_config
from judgerl.train.data import load_prompt_rows, to_dataset
from judgerl.train.gate import run_gate
from judgerl.train.gate_labels import run_label_gate
from judgerl.train.judging import RunJudge, build_judge, judge_backend, needs_judge_backend
from judgerl.train.live_monitors import LiveMonitor, MonitorCallback, MonitoredSink, Stop
from judgerl.train.metrics import UnscoredGuard
from judgerl.train.pass_fail import (
    CHECKER_GATE,
    LABELS_GATE,
    THRESHOLDS_FILE,
    record_thresholds,
    training_thresholds,
)
from judgerl.train.policy import load_policy
from judgerl.train.rewards import RewardPipeline
from judgerl.train.rubrics import RubricJudges
from judgerl.train.verdict_log import VerdictSink, close_sink, discard_after, finish_run, open_verdict_store

logger = logging.getLogger(__name__)

#: judgerl's defaults for GRPOConfig (the config's ``grpo`` section overrides any of them)
GRPO_DEFAULTS: dict[str, Any] = {
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 25,
    "report_to": "none",
    "log_completions": True,
    "num_completions_to_print": 0,
    "gradient_checkpointing": False,
    "disable_tqdm": True,
}
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# transformers 5 renamed gradient checkpointing; TRL 1.16 still uses the old names on every step
warnings.filterwarnings("ignore", message=r".*(is_)?gradient_checkpointing.* is deprecated", category=FutureWarning)


@dataclass
class TrainResult:
    run_id: str
    run_dir: Path
    final_dir: Path
    steps: int
    seconds: float
    store_path: Path
    resumed_from: int | None
    stopped: Stop | None = None  # stopped early by a monitor warning (monitors.stop_on_warning)
    main_process: bool = True  # False in the other processes of a multi-process run (they print nothing)


def complete_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Checkpoints with their trainer state written (a kill during a save leaves one without), oldest first."""
    found = []
    for child in run_dir.glob("checkpoint-*") if run_dir.exists() else []:
        match = _CHECKPOINT.match(child.name)
        if match and child.is_dir() and (child / "trainer_state.json").exists():
            found.append((int(match.group(1)), child))
    return sorted(found)


def _run_id(run_dir: Path, resume: bool, name: str) -> str:
    """The run's id: kept on resume, new otherwise. The main process decides; the others read its choice."""
    from accelerate import PartialState

    state = PartialState()
    path = run_dir / "run.json"
    with state.main_process_first():
        if (resume or not state.is_main_process) and path.exists():
            run_id: str = json.loads(path.read_text(encoding="utf-8"))["run_id"]
            return run_id
        run_id = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        path.write_text(json.dumps({"run_id": run_id, "created": time.time()}) + "\n", encoding="utf-8")
        return run_id


def _prepare_run_dir(config: TrainConfig, resume: bool) -> tuple[Path, int | None, Path | None]:
    run_dir = config.run_dir
    checkpoints = complete_checkpoints(run_dir)
    if checkpoints and not resume:
        raise JudgerlError(
            f"{run_dir} already holds checkpoints of a run; continue it with --resume, or set another name "
            "or output_dir"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    if not checkpoints:
        if resume:
            logger.warning("%s: no complete checkpoint to resume from; starting from step 0", run_dir)
        return run_dir, None, None
    step, path = checkpoints[-1]
    return run_dir, step, path


def judge_trust(config: TrainConfig, backend: JudgeBackend | None) -> TrustNotice | None:
    """Log how well the run's judge was validated on its rubric (or on pairs), or warn that it was not; None
    where there is nothing to validate (no model judge, or criteria read from the rows alone)."""
    if backend is None or config.reward.kind == "none":
        return None
    if config.reward.kind == "preference":
        return announce_trust(None, backend.model_id)
    source = config.grader_path if config.reward.kind == "grader" else config.rubric_path
    return None if source is None else announce_trust(source, backend.model_id)


def build_pipeline(
    config: TrainConfig,
    judge: RunJudge | None,
    run_id: str,
    num_generations: int,
    sink: VerdictSink | None,
) -> RewardPipeline:
    reward = config.reward
    return RewardPipeline(
        run_id=run_id,
        num_generations=num_generations,
        rubric_judge=judge if isinstance(judge, RubricJudges) else None,
        pairwise_judge=judge if isinstance(judge, PairwiseJudge | PairCascade) else None,
        grader=judge if isinstance(judge, GraderJudge) else None,
        preference=reward.preference,
        checks=reward.checks,
        functions=reward.functions,
        judge_weight=reward.weight,
        sink=sink,
        guard=UnscoredGuard(reward.max_unscored_fraction, reward.unscored_window, reward.min_unscored_samples),
        collective=AccelerateCollective(),
        seed=config.seed,
        content_free=ContentFreeGate(config.judge.content_free) if config.judge.content_free else None,
    )


def reward_weights(config: TrainConfig) -> list[float]:
    """In the order of ``RewardPipeline.names()``: the judge, each reward check, each user function."""
    reward = config.reward
    return (
        ([reward.weight] if reward.kind != "none" else [])
        + [check.weight for check in reward.checks if check.role == "reward"]
        + [function.weight for function in reward.functions]
    )


def grpo_arguments(config: TrainConfig, weights: list[float]) -> Any:
    from trl import GRPOConfig

    values = {**GRPO_DEFAULTS, **config.grpo.arguments()}
    values.update(output_dir=str(config.run_dir), seed=config.seed, reward_weights=weights)
    if not _has_accelerator() and not config.grpo.is_set("bf16") and not config.grpo.is_set("fp16"):
        values["bf16"] = False  # TRL turns bf16 on by default, which a CPU-only machine refuses
    try:
        return GRPOConfig(**values)
    except ValueError as exc:
        source = config.source or "config"
        raise JudgerlError(f"{source}: grpo: {str(exc).splitlines()[0]}") from None


def _uses_cpu(config: TrainConfig) -> bool:
    return bool(config.grpo.trl_options.get("use_cpu")) or not _has_accelerator()


def _has_accelerator() -> bool:
    import torch

    return bool(torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available()))


def peft_config(config: TrainConfig) -> Any:
    if config.policy.finetune != "lora":
        return None
    from peft import LoraConfig

    lora = config.policy.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )


def _snapshot(config: TrainConfig, run_dir: Path) -> None:
    (run_dir / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    if config.rubric_path is not None and config.rubric_path.exists():
        shutil.copyfile(config.rubric_path, run_dir / "rubric.yaml")
    if config.grader_path is not None and config.grader_path.exists():
        shutil.copyfile(config.grader_path, run_dir / "grader.json")


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    backend: JudgeBackend | None = None,
    gate_dir: Path | None = None,
) -> TrainResult:
    """Run (or resume) a training run; ``backend`` replaces the configured judge (tests, notebooks). ``gate_dir``:
    where ``reward.pass_fail_at_gate`` reads judge_gate.json, for a caller that ran the gate itself (default: the
    run's folder, where ``judge.validation`` saves it)."""
    result = _train(config, resume=resume, backend=backend, gate_dir=gate_dir or config.run_dir)
    # The trainer, the policy and the optimizer's state hold each other in reference cycles (callbacks, the
    # pipeline's is_training hook), so they outlive the run until the collector's next pass; freed here, an
    # evaluation loaded next does not hold two policies at once (a 0.5B run was killed for memory there).
    gc.collect()
    return result


def _train(config: TrainConfig, *, resume: bool, backend: JudgeBackend | None, gate_dir: Path) -> TrainResult:
    started = time.perf_counter()
    if config.threads is not None:
        import torch

        torch.set_num_threads(config.threads)
    from accelerate import PartialState

    # On CPUs a bare PartialState() ignores torchrun's ranks (no accelerator: no process group); cpu=True makes it
    # join them over gloo, before the run id and the gates below ask which process is the main one.
    main_process = PartialState(cpu=_uses_cpu(config)).is_main_process
    run_dir, resume_step, checkpoint = _prepare_run_dir(config, resume)
    run_id = _run_id(run_dir, resume, config.name)
    if main_process:
        _snapshot(config, run_dir)
    train_rows, _ = load_prompt_rows(config)
    dataset = to_dataset(train_rows)
    # the monitors' thresholds go with the run, so the report plots them against the ones that warned
    run_info: dict[str, Any] = {}
    if config.monitors is not None:
        run_info["monitors"] = config.monitors.thresholds().model_dump()
    owns_backend = backend is None
    if backend is None and needs_judge_backend(config):
        backend = judge_backend(config)
    trust = judge_trust(config, backend)
    if trust is not None:  # shown before step 1 and kept with the run, for its report's header
        run_info["judge_trust"] = trust.stored()
    sink = open_verdict_store(config.store_path, run_info or None)
    metrics_file = MetricsFileCallback(run_dir / "metrics.jsonl")
    if resume_step is not None and main_process:
        removed = discard_after(sink, run_id, resume_step)
        metrics_file.truncate_after(resume_step)
        logger.info("resuming %s from %s; removed %d verdicts of later steps", run_id, checkpoint, removed)
    elif main_process and (run_dir / "metrics.jsonl").exists():
        (run_dir / "metrics.jsonl").unlink()
    try:
        judge = build_judge(config, backend)
        arguments = grpo_arguments(config, reward_weights(config))
        live = _live_monitor(config, run_id, sink, backend)
        if live is not None:
            sink = MonitoredSink(sink, live)
        pipeline = build_pipeline(config, judge, run_id, int(arguments.num_generations), sink)
        if resume_step is None:  # the gates run once, on the main process; a failure stops every process
            on_main_process(AccelerateCollective(), lambda: _label_gate(config, judge))
        model, tokenizer = load_policy(config.policy)
        if resume_step is None:
            on_main_process(AccelerateCollective(), lambda: _judge_gate(config, judge, train_rows, model, tokenizer))
        if config.reward.pass_fail_at_gate:  # after the gate; a resumed run reads the gate it kept
            assert isinstance(judge, RubricJudges)
            pipeline.thresholds = training_thresholds(gate_dir, judge, train_rows)
            logger.info("pass/fail reward at the gate's thresholds: %s", _thresholds_text(pipeline.thresholds))
            if main_process:  # for the report: the reward was the verdict at these thresholds, not the score
                record_thresholds(config.run_dir, pipeline.thresholds)
        callbacks: list[Any] = [metrics_file, ProgressCallback()]
        monitor_callback = MonitorCallback(live, AccelerateCollective()) if live is not None else None
        if monitor_callback is not None:
            callbacks.append(monitor_callback)
        trainer = _make_trainer(config, arguments, model, tokenizer, dataset, pipeline, callbacks)
        pipeline.is_training = lambda: bool(trainer.model.training)
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        stopped = monitor_callback.stop if monitor_callback is not None else None
        final_dir = run_dir / "final"
        trainer.save_model(str(final_dir))
        if main_process:
            tokenizer.save_pretrained(str(final_dir))
        steps = int(trainer.state.global_step)
        if main_process:
            finish_run(sink, run_id)
    finally:
        close_sink(sink)
        if owns_backend and backend is not None:
            backend.close()
    seconds = time.perf_counter() - started
    summary = {
        "run_id": run_id,
        "steps": steps,
        "seconds": seconds,
        "resumed_from": resume_step,
        "stopped": dataclasses.asdict(stopped) if stopped is not None else None,
    }
    if main_process:
        (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return TrainResult(
        run_id, run_dir, final_dir, steps, seconds, config.store_path, resume_step, stopped, main_process
    )


def _live_monitor(
    config: TrainConfig, run_id: str, sink: VerdictSink, backend: JudgeBackend | None
) -> LiveMonitor | None:
    """The ``monitors`` section as a live monitor; its anchors are judged with the run's judge, cache off (a
    cached verdict could not drift)."""
    settings = config.monitors
    if settings is None:
        return None
    anchors: list[Any] = []
    anchor_judges = None
    if settings.anchors is not None:
        from judgerl.monitors.anchors import load_anchors, with_master_keys

        path = config.resolve(settings.anchors)
        if not path.is_file():
            raise JudgerlError(f"{path}: monitors.anchors: file not found")
        anchors = load_anchors(path)
        if settings.master_keys:
            anchors = with_master_keys(anchors)
        uncached = config.model_copy(update={"judge": config.judge.model_copy(update={"cache": False})})
        judges = build_judge(uncached, backend)
        assert isinstance(judges, RubricJudges)  # the config allows anchors with rubric rewards only
        anchor_judges = judges
    return LiveMonitor(settings, run_id=run_id, sink=sink, anchors=anchors, anchor_judges=anchor_judges)


def _label_gate(config: TrainConfig, judge: Any) -> None:
    """``judge.validation.labels``: the judge on a labelled file, before the policy is even loaded."""
    # an earlier attempt's figures are not this run's
    for stale in (CHECKER_GATE, LABELS_GATE, THRESHOLDS_FILE):
        (config.run_dir / stale).unlink(missing_ok=True)
    settings = config.judge.validation
    if settings is None or settings.labels is None:
        return
    if not isinstance(judge, RubricJudges):
        raise JudgerlError(f"{config.source or 'config'}: judge.validation needs a rubric reward (reward.kind: rubric)")
    labels = config.resolve(settings.labels)
    logger.info("judge validation: judging the labelled rows of %s", labels)
    run_label_gate(
        labels,
        judges=judge,
        min_auc=settings.min_auc,
        enforce=settings.enforce,
        save_to=config.run_dir / LABELS_GATE,
    )


def _thresholds_text(thresholds: dict[str, float]) -> str:
    def short(text: str) -> str:
        return text if len(text) <= 48 else text[:46].rsplit(" ", 1)[0] + "..."

    return "; ".join(f"{value:.3f} for '{short(criteria)}'" for criteria, value in thresholds.items())


def _judge_gate(config: TrainConfig, judge: Any, rows: list[Any], model: Any, tokenizer: Any) -> None:
    """``judge.validation`` with a checker: the judge on the policy's own replies before step 1."""
    settings = config.judge.validation
    if settings is None or settings.policy_checker is None:
        return
    if not isinstance(judge, RubricJudges):
        raise JudgerlError(f"{config.source or 'config'}: judge.validation needs a rubric reward (reward.kind: rubric)")
    logger.info("judge validation: sampling the policy's replies to %d training prompts", settings.prompts)
    run_gate(
        settings,
        rows=rows,
        model=model,
        tokenizer=tokenizer,
        judges=judge,
        max_new_tokens=config.grpo.max_completion_length or 256,  # TRL's default
        temperature=config.grpo.temperature,
        top_k=config.grpo.top_k or 0,
        top_p=config.grpo.top_p,
        seed=config.seed,
        save_to=config.run_dir / CHECKER_GATE,
    )
    model.train()


def _make_trainer(
    config: TrainConfig,
    arguments: Any,
    model: Any,
    tokenizer: Any,
    dataset: Any,
    pipeline: RewardPipeline,
    callbacks: list[Any],
) -> Any:
    from judgerl.train.trainer import JudgedGRPOTrainer

    trainer = JudgedGRPOTrainer(
        model=model,
        reward_funcs=pipeline.functions(),
        args=arguments,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config(config),
        callbacks=callbacks,
        pipeline=pipeline,
        overlap=config.judge.overlap,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # ProgressCallback prints a readable line instead
    return trainer
