"""GPU suite (issue 17): judge throughput, prefill efficiency and the judge's share of a GRPO step, on one GPU.

Parts, all with random weights built from the published Qwen2.5 architecture configs (no hub, no checkpoints):

1. ``peak``: the bf16 matmul peak of this device (8192^3 matmuls), the yardstick for prefill efficiency.
2. ``judge``: verdicts/s of a 4-criterion rubric over GSM8K-length samples, for the 1.5B and 7B architectures in
   bf16, at 1, 8 and 64 samples per ``RubricJudge.judge`` call:
   (a) log-prob with shared-prefix reuse, (b) log-prob from scratch, (c) one generated JSON reply of
   ``--gen-tokens`` tokens. (a) runs once per ``--prefill`` mode of the backend, side by side: ``grouped`` (one
   pass per prefix group: ``a_logprob_shared_prefix``) and ``batched`` (prefixes of several groups in one padded
   pass, then suffixes across groups: ``a_logprob_batched_prefill``); (b) keeps one pass per prompt. Prefill TFLOP/s
   of (a) and (b) counts the model FLOPs of every forward pass the backend runs (linear layers plus causal
   attention, padding included; the fp32 label head is left out) over the wall time of the call;
   ``raw_prefill`` is one padded batch through the model alone, what the GPU gives a plain prefill.
3. ``grpo``: TRL GRPO steps (``judgerl.train``'s JudgedGRPOTrainer and RewardPipeline, the ones ``judgerl
   train`` uses) of a 0.5B-architecture policy with the in-process 1.5B-architecture judge (log-prob, shared
   prefix), with and without judgerl's overlap; the judge's share of a step, from the trainer's own metrics.

Random weights do not write JSON, so in (c) every reply is generated for real (prefill plus greedy decoding to
the token limit, or an end-of-turn token) and its text is then replaced by a valid JSON reply for the rubric:
the judge parses it and makes no repair call, so (c) costs one generation per sample as in a trained judge. The
backend generates one prompt at a time, so (c) at 64 samples runs consecutive slices of the 64 until
``--gen-budget-s`` is spent and reports the rate over the samples it ran (``samples_measured``).

Usage (GPU, about 5 minutes; prepare the carried packages and tokenizer first with ``make gpu-carry``):
    python benchmarks/gpu_suite.py --out results.json
CPU smoke configuration (tiny architectures, fp32, 1-2 samples; run by tests/test_gpu_suite.py):
    python benchmarks/gpu_suite.py --tiny --device cpu --out /tmp/gpu_suite.json

The machine this runs on may lack trl, datasets and judgerl's own dependencies: packages that do not import are
taken from the wheels in ``.gpu-carry/wheels`` (those tagged for this interpreter), unpacked into a temporary
folder put first on ``sys.path``; ``src/`` of this checkout is put on it too. The sibling modules
``gpu_suite_packages.py`` (carried wheels, stand-ins), ``gpu_suite_models.py`` (random-weight architectures, the
matmul peak, FLOP counting) and ``gpu_suite_table.py`` (the results' markdown table) travel with it.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

# No network on the GPU machine: no hub look-ups, no telemetry (set before huggingface_hub is imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parents[1]
CARRY = Path(os.environ.get("GPU_SUITE_CARRY", ROOT / ".gpu-carry"))
# common.py is not imported: this script runs alone (runpy) on a bare GPU machine with carried wheels
SAMPLES_FILE = ROOT / "data" / "gsm8k_final_answer" / "labelled.jsonl"
BATCHES = (1, 8, 64)
TINY_BATCHES = (1, 2)
# transformers 5 renamed gradient checkpointing; TRL 1.16 still uses the old names on every step
warnings.filterwarnings("ignore", message=r".*(is_)?gradient_checkpointing.* is deprecated", category=FutureWarning)


RUBRIC_SPEC = {
    "name": "gsm8k-4",
    "instructions": "The reference is a correct worked solution whose final answer follows '####'.",
    "criteria": [
        {
            "name": "final_answer_correct",
            "text": "The final answer in the response equals the reference's final answer.",
        },
        {"name": "shows_work", "text": "The response shows the intermediate calculations."},
        {"name": "single_final_answer", "text": "The response ends by stating one final answer."},
        {"name": "on_topic", "text": "The response only discusses the math problem in the task."},
    ],
}  # fmt: skip


sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules, also under runpy
from gpu_suite_packages import FallbackCounter, add_carried_wheels, stand_in_data_packages  # noqa: E402
from gpu_suite_table import LOGPROB_VARIANTS, table  # noqa: E402

CARRIED = add_carried_wheels(CARRY / "wheels")
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import transformers  # noqa: E402

if int(transformers.__version__.split(".")[0]) < 5:
    raise SystemExit(f"judgerl's in-process judge needs transformers>=5; this Python has {transformers.__version__}")
from transformers import AutoTokenizer  # noqa: E402

# the models need torch and transformers: imported once the carried packages are on sys.path
from gpu_suite_models import (  # noqa: E402
    ARCHS,
    FlopCounter,
    arch_config,
    architecture_params,
    measure_peak,
    new_model,
    param_counts,
    random_weights,
    raw_prefill,
    release,
    sync,
)

# judgerl, in one place (modules move: prefer the package's public names).
from judgerl import Rubric, Sample  # noqa: E402
from judgerl.backends import Generation  # noqa: E402
from judgerl.judges.spec import JudgeSpec  # noqa: E402


def judgerl_training() -> tuple[Any, Any]:
    """(JudgedGRPOTrainer, RewardPipeline): imported only for the GRPO part, which needs trl."""
    from judgerl.train.rewards import RewardPipeline
    from judgerl.train.trainer import JudgedGRPOTrainer

    return JudgedGRPOTrainer, RewardPipeline


# ---- set-up ------------------------------------------------------------------------------------------------


def find_tokenizer(explicit: str | None) -> Path:
    """The packaged Qwen2.5 tokenizer: --tokenizer, else the carried copy, else the pulled judge model's."""
    home = Path(os.environ.get("JUDGERL_HOME", Path.home() / ".cache" / "judgerl"))
    candidates = [Path(explicit)] if explicit else [CARRY / "tokenizer", home / "models/qwen2.5-coder-0.5b/hf"]
    for path in candidates:
        if (path / "tokenizer.json").exists() or (path / "tokenizer_config.json").exists():
            return path
    raise SystemExit(f"no Qwen tokenizer in {', '.join(map(str, candidates))}: run `make gpu-carry` (or make setup)")


def load_samples(count: int) -> list[Sample]:
    rows = [json.loads(line) for line in SAMPLES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        Sample(id=f"s{k}", prompt=row["prompt"], response=row["response"], reference=row["reference"])
        for k, row in ((k, rows[k % len(rows)]) for k in range(count))
    ]


# ---- part 2: judge throughput ------------------------------------------------------------------------------


def json_replies(backend: Any, names: list[str]) -> Callable[..., list[Generation]]:
    """``backend.generate`` that generates for real, then replaces each reply's text with valid JSON verdicts
    (random weights write no JSON; a parse failure would add a repair generation a trained judge avoids)."""
    generate = backend.generate
    reply = json.dumps({"criteria": [{"name": n, "reason": "Checked.", "verdict": "PASS"} for n in names]})
    counted: list[int] = []

    def replaced(prompts: Any, max_new_tokens: int = 256) -> list[Generation]:
        out = generate(prompts, max_new_tokens)
        counted.extend(g.completion_tokens for g in out if g.error is None)
        # a failed generation stays failed: the judge makes it unscored, and the row counts it
        return [
            g if g.error is not None else Generation(reply, g.prompt_tokens, g.completion_tokens, g.latency_s)
            for g in out
        ]

    replaced.counted = counted  # type: ignore[attr-defined]
    return replaced


def _judge_spec(args: argparse.Namespace, dtype_name: str, device: torch.device, **fields: Any) -> JudgeSpec:
    """The in-process judge on the random-weight model (logprob, no rationales unless ``fields`` say otherwise)."""
    options = {"dtype": dtype_name, "device": str(device)}
    return JudgeSpec(model=str(args.tokenizer), options=options, **{"rationales": "none", **fields})


def configure(backend: Any, variant: str) -> None:
    """The backend as ``variant`` runs it: prefix reuse on but for (b), the batched prefill for batched (a) only."""
    backend.share_prefix = not variant.startswith("b_")
    backend.prefill = "batched" if variant == LOGPROB_VARIANTS["batched"] else "grouped"


def judge_part(name: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    config = arch_config(name, args.tiny, tokenizer)
    rubric = Rubric.from_dict(RUBRIC_SPEC)
    names = [c.name for c in rubric.criteria]
    batches = TINY_BATCHES if args.tiny else BATCHES
    samples = load_samples(max(batches))
    dtype_name = "float32" if dtype == torch.float32 else "bfloat16"
    with random_weights(config, device):
        backend: Any = _judge_spec(args, dtype_name, device).build_backend()
    release(device)
    counts = param_counts(backend.model)
    published = ARCHS[name]["published_params"]
    print(
        f"{name}{' (tiny)' if args.tiny else ''}: {counts['total'] / 1e6:.1f}M parameters "
        f"({counts['non_embedding'] / 1e6:.1f}M without embeddings; published {published / 1e6:.0f}M)",
        flush=True,
    )
    backend.generate = json_replies(backend, names)
    # (a) and (b) are the same judge and weights; the backend's prefix reuse is switched per variant.
    logprob = _judge_spec(args, dtype_name, device).single_rubric_judge(rubric, backend)
    # (c) is one generated JSON reply with its verdicts parsed from the text: the generate mode of a backend without
    # label probabilities (with them, generate mode reads each verdict from them and writes a reason after)
    backend.supports_logprobs = False
    generate = _judge_spec(args, dtype_name, device, mode="generate", max_new_tokens=args.gen_tokens)
    one_json = generate.single_rubric_judge(rubric, backend)
    backend.supports_logprobs = True
    judges = {
        **{LOGPROB_VARIANTS[mode]: logprob for mode in args.prefill},
        "b_logprob_no_reuse": logprob,
        "c_generate_one_json": one_json,
    }
    counter = FlopCounter(backend._body, config)
    fallbacks = FallbackCounter()
    problems: list[str] = []
    for variant, judge in judges.items():  # warm-up: first-call allocations and kernel selection
        configure(backend, variant)
        judge.judge(samples[:1])
    variants: dict[str, dict[str, Any]] = {}
    for variant, judge in judges.items():
        configure(backend, variant)
        rows = variants.setdefault(variant, {})
        for batch in batches:
            chosen = samples[:batch]
            budget = args.gen_budget_s if variant.startswith("c_") else math.inf
            done, elapsed, unscored = 0, 0.0, 0
            backend.generate.counted.clear()
            counter.reset()
            fallbacks.count = 0
            while done < len(chosen) and elapsed < budget:
                piece = chosen[done : done + (8 if variant.startswith("c_") else len(chosen))]
                sync(device)
                started = time.perf_counter()
                verdicts = judge.judge(piece)
                sync(device)
                elapsed += time.perf_counter() - started
                done += len(piece)
                unscored += sum(v.score is None for v in verdicts)
            n = done * len(names)
            row: dict[str, Any] = {
                "samples": batch,
                "samples_measured": done,
                "verdicts": n,
                "seconds": elapsed,
                "verdicts_per_s": n / elapsed,
                "unscored_samples": unscored,
                "tokens_run": counter.tokens,
                "prefix_fallbacks": fallbacks.count,
            }
            if unscored or fallbacks.count:
                problems.append(
                    f"{name} {variant} x{batch}: {unscored} unscored samples, {fallbacks.count} shared-prefix "
                    f"fall-backs ({fallbacks.first or 'see the log'})"
                )
            if variant.startswith("c_"):
                generated = backend.generate.counted
                row["generations"] = len(generated)  # one per sample: no repair calls
                row["mean_generated_tokens"] = sum(generated) / max(1, len(generated))
            else:
                row["prefill_tflops"] = counter.flops / elapsed / 1e12
            rows[str(batch)] = row
            print(f"  {variant} x{batch}: {row['verdicts_per_s']:.2f} verdicts/s ({elapsed:.2f} s)", flush=True)
    counter.close()
    fallbacks.close()
    for batch in batches:
        for mode in args.prefill:
            a = variants[LOGPROB_VARIANTS[mode]][str(batch)]
            a["ratio_to_c"] = a["verdicts_per_s"] / variants["c_generate_one_json"][str(batch)]["verdicts_per_s"]
    prefill = raw_prefill(backend.model, device, *((1, 64) if args.tiny else (8, 512)), config.vocab_size)
    result = {
        "architecture": name,
        "tiny": args.tiny,
        "dtype": dtype_name,
        "params": counts,
        "published_params": published,
        "gen_tokens": args.gen_tokens,
        "distinct_samples": min(max(batches), len(SAMPLES_FILE.read_text(encoding="utf-8").splitlines())),
        "variants": variants,
        "raw_prefill": prefill,
        "problems": problems,
    }
    backend.close()
    del backend, judges, logprob, counter
    release(device)
    return result


# ---- part 3: GRPO step ---------------------------------------------------------------------------------------


def grpo_part(args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    stood_in = stand_in_data_packages()
    import datasets
    import trl
    from peft import LoraConfig
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOConfig

    trainer_cls, pipeline_cls = judgerl_training()
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    rubric = Rubric.from_dict(RUBRIC_SPEC)
    dtype_name = "float32" if dtype == torch.float32 else "bfloat16"
    with random_weights(arch_config("qwen2.5-1.5b", args.tiny, tokenizer), device):
        spec = _judge_spec(args, dtype_name, device)
        backend = spec.build_backend()
    judge = spec.single_rubric_judge(rubric, backend)
    rows = [json.loads(line) for line in SAMPLES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    dataset = datasets.Dataset.from_list(
        [{"prompt": r["prompt"], "reference": r["reference"], "prompt_id": r["id"]} for r in rows]
    )
    shape: dict[str, Any] = (
        dict(per_device_train_batch_size=2, num_generations=2, max_completion_length=8, max_steps=2)
        if args.tiny
        else dict(per_device_train_batch_size=16, num_generations=8, max_completion_length=128, max_steps=4)
    )
    results: dict[str, Any] = {
        "policy": "qwen2.5-0.5b",
        "judge": "qwen2.5-1.5b (log-prob, shared prefix)",
        "trl": trl.__version__,
        "beta": 0.04,
        "finetune": "LoRA r=16 on all linear layers (judgerl's default); the reference pass runs with it off",
        "stand_ins": stood_in,
        **shape,
    }
    for overlap in (False, True):
        policy = new_model(arch_config("qwen2.5-0.5b", args.tiny, tokenizer), dtype, device, seed=1)
        pipeline = pipeline_cls(run_id="gpu-suite", num_generations=shape["num_generations"], rubric_judge=judge)
        with tempfile.TemporaryDirectory() as out:
            config = GRPOConfig(
                output_dir=out,
                learning_rate=1e-6,
                beta=0.04,  # a reference pass after generation: what judgerl's overlap hides judging behind
                logging_steps=1,
                save_strategy="no",
                report_to="none",
                disable_tqdm=True,
                log_completions=False,
                bf16=dtype == torch.bfloat16,
                use_cpu=device.type == "cpu",
                seed=0,
                reward_weights=pipeline.weights(),
                **shape,
            )
            trainer = trainer_cls(
                model=policy,
                reward_funcs=pipeline.functions(),
                args=config,
                train_dataset=dataset,
                processing_class=tokenizer,
                peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"),
                pipeline=pipeline,
                overlap=overlap,
            )
            trainer.remove_callback(PrinterCallback)  # the suite prints its own line per mode
            pipeline.is_training = lambda trainer=trainer: bool(trainer.model.training)
            started = time.perf_counter()
            trainer.train()
            wall = time.perf_counter() - started
            logs = [e for e in trainer.state.log_history if "step_time" in e and "judge/busy_s" in e]
        measured = logs[1:] or logs  # the first step pays for warm-up
        step = sum(e["step_time"] for e in measured) / len(measured)
        busy = sum(e["judge/busy_s"] for e in measured) / len(measured)
        wait = sum(e["judge/wait_s"] for e in measured) / len(measured)
        length = sum(e.get("completions/mean_length", 0.0) for e in measured) / len(measured)
        results["overlap" if overlap else "no_overlap"] = {
            "steps": len(logs),
            "steps_measured": len(measured),
            "train_wall_s": wall,
            "step_s": step,
            "judge_busy_s": busy,
            "judge_wait_s": wait,
            "judge_busy_share": busy / step,
            "judge_wait_share": wait / step,
            "mean_completion_tokens": length,
        }
        print(
            f"  grpo overlap={overlap}: step {step:.2f} s, judge busy {busy:.2f} s, waited for {wait:.2f} s "
            f"({wait / step:.1%} of the step)",
            flush=True,
        )
        del trainer, policy, pipeline
        release(device)
    backend.close()
    release(device)
    return results


# ---- report ------------------------------------------------------------------------------------------------


def machine(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "device": str(device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "carried_wheels": CARRIED,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=props.total_memory / 2**30, cuda=torch.version.cuda)
    info["transformers"] = transformers.__version__
    return info


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny architectures, fp32, 1-2 samples (CPU smoke run)")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--out", default="gpu_suite.json", help="results JSON path")
    parser.add_argument("--tokenizer", default=None, help="Qwen2.5 tokenizer folder (default: carried or pulled)")
    parser.add_argument("--models", default="qwen2.5-1.5b,qwen2.5-7b", help="judge architectures, comma-separated")
    parser.add_argument("--gen-tokens", type=int, default=None, help="(c) reply length (default 120; tiny 16)")
    parser.add_argument("--gen-budget-s", type=float, default=None, help="(c) seconds per cell (default 25; tiny 2)")
    parser.add_argument("--parts", default="judge,grpo", help="judge, grpo or both (the peak always runs)")
    parser.add_argument(
        "--prefill",
        default="grouped,batched",
        help="the backend's prefill modes that (a) runs with, side by side: grouped, batched or both",
    )
    parser.add_argument("--deadline-s", type=float, default=420.0, help="parts not started by then are skipped")
    args = parser.parse_args(argv)
    args.prefill = list(dict.fromkeys(args.prefill.split(",")))
    if not args.prefill or set(args.prefill) - set(LOGPROB_VARIANTS):
        parser.error(f"--prefill takes {' and/or '.join(LOGPROB_VARIANTS)}, comma-separated")
    args.tokenizer = find_tokenizer(args.tokenizer)
    args.gen_tokens = args.gen_tokens or (16 if args.tiny else 120)
    args.gen_budget_s = args.gen_budget_s or (2.0 if args.tiny else 25.0)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.float32 if args.tiny or device.type == "cpu" else torch.bfloat16
    started = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"machine": machine(device), "tiny": args.tiny, "errors": [], "skipped": []}
    payload["batches"] = list(TINY_BATCHES if args.tiny else BATCHES)

    def save() -> None:  # after every part: a part that fails or overruns keeps the others' figures
        payload["seconds"] = time.perf_counter() - started
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    def attempt(label: str, part: Callable[[], Any]) -> Any:
        if time.perf_counter() - started > args.deadline_s:
            payload["skipped"].append(f"{label}: past the {args.deadline_s:.0f} s deadline")
            print(f"{label}: skipped, past the deadline", flush=True)
            return None
        try:
            return part()
        except Exception as exc:
            payload["errors"].append(f"{label}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            return None
        finally:
            release(device)
            save()

    print(f"{payload['machine']}", flush=True)
    payload["architectures"] = architecture_params(AutoTokenizer.from_pretrained(args.tokenizer))
    payload["peak"] = measure_peak(device, dtype, *((256, 20) if args.tiny else (8192, 100)))
    print(f"matmul peak: {payload['peak']['tflops']:.2f} TFLOP/s", flush=True)
    save()
    parts = set(args.parts.split(","))
    if "judge" in parts:
        payload["judge"] = []
        for name in args.models.split(","):
            result = attempt(f"judge {name}", functools.partial(judge_part, name, args, device, dtype))
            if result is not None:
                payload["judge"].append(result)
                payload["errors"].extend(f"judge {name}: {problem}" for problem in result["problems"])
    if "grpo" in parts:
        grpo = attempt("grpo", lambda: grpo_part(args, device, dtype))
        if grpo is not None:
            payload["grpo"] = grpo
    save()
    print(f"\nwritten {out} ({payload['seconds']:.0f} s)\n\n{table(payload)}", flush=True)
    if payload["errors"] or payload["skipped"]:
        print("\n".join(["", "NOT COMPLETE:", *payload["errors"], *payload["skipped"]]), flush=True)
        raise SystemExit(1)
    return payload


if __name__ == "__main__":
    main()
