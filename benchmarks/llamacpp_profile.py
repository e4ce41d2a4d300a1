"""Where the llamacpp backend's time goes, beside the transformers backend in bfloat16 and float32: one judge, one
GSM8K sample's three math_reference.yaml criterion prompts, the same token ids for every engine.

For each engine: prefill tokens/s of one sequence (a short one, and a whole criterion prompt in one batch, as the
backends run it), decode tokens/s (greedy, one token a step over the KV cache), and one sample's log-prob verdicts
end to end through the backend (its three criteria in one call, the shared prefix run once). For llama.cpp the
shared-prefix pass is also split into its parts: the prefix, the KV-cache sequence copies, the suffixes' batch.
With ``--f16-copy DIR`` llama.cpp also runs the same weights dequantised to F16 (written there once), which
separates llama.cpp itself from its quantised kernels. Each figure is the best of ``--repeats`` runs (the machine
may be shared).

    PYTHONPATH=src python benchmarks/llamacpp_profile.py --model qwen2.5-coder-1.5b --f16-copy /tmp --name avx2 \\
        --note idle --write-section

Needs the model pulled with its GGUF (``judgerl models pull NAME --keep-gguf``). Keeps each run under its ``--name``
in benchmarks/results/llamacpp_profile.json (a run of the same name replaces it) and prints the BENCHMARKS.md
section ("where the time goes"), every run's part, which ``--write-section`` puts in place.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("JUDGERL_NONCE_KEY", "benchmarks")  # the same prompt text on every run

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from common import machine, saved_result, write_result, write_section  # noqa: E402
from judgerl import Rubric  # noqa: E402
from judgerl.backends import JudgePrompt  # noqa: E402
from judgerl.judges.prompts import JudgedMaterial, criterion_prompt  # noqa: E402
from judgerl.samples import load_labelled, prompt_text  # noqa: E402

GSM8K = ROOT / "data" / "gsm8k_final_answer" / "labelled.jsonl"
MATH = Rubric.load(ROOT / "examples" / "rubrics" / "math_reference.yaml")
LABELS = ["PASS", "FAIL"]
SHORT = 64  # tokens: a suffix-sized batch
HEADING = "## llama.cpp in process: where the time goes"
RESULT = "llamacpp_profile"


def sample_prompts() -> list[JudgePrompt]:
    """The first labelled GSM8K sample's criterion prompts: they share everything but the criterion."""
    sample = load_labelled(GSM8K)[0]
    material = JudgedMaterial(prompt_text(sample.prompt), sample.response, sample.reference)
    return [criterion_prompt(material, c, MATH.instructions) for c in MATH.criteria]


def best(repeats: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeats))


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def write_f16_copy(source: Path, target: Path) -> Path:
    """``source`` with every matrix dequantised to F16 (vectors to F32), its metadata (tokenizer, chat template)
    unchanged: the same weights without llama.cpp's quantised kernels."""
    import gguf
    import numpy as np
    from gguf.quants import dequantize

    if target.exists():
        return target
    reader = gguf.GGUFReader(str(source))
    arch_field = reader.fields["general.architecture"]
    writer = gguf.GGUFWriter(str(target.with_suffix(".part")), bytes(arch_field.parts[arch_field.data[0]]).decode())
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.file_type"):
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            sub = field.types[-1]
            if sub == gguf.GGUFValueType.STRING:
                values: Any = [bytes(field.parts[i]).decode("utf-8", "replace") for i in field.data]
            else:
                values = [field.parts[i].tolist()[0] for i in field.data]
            writer.add_key_value(field.name, values, kind, sub_type=sub)
        elif kind == gguf.GGUFValueType.STRING:
            writer.add_key_value(field.name, bytes(field.parts[field.data[0]]).decode("utf-8", "replace"), kind)
        else:
            writer.add_key_value(field.name, field.parts[field.data[0]].tolist()[0], kind)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    for tensor in reader.tensors:
        values = dequantize(tensor.data, tensor.tensor_type).reshape([int(n) for n in reversed(tensor.shape)])
        writer.add_tensor(tensor.name, values.astype(np.float16 if values.ndim > 1 else np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    target.with_suffix(".part").rename(target)
    return target


def profile_llamacpp(
    model: str, prompts: list[JudgePrompt], threads: int, repeats: int, label: str = "Q4_K_M"
) -> dict[str, Any]:
    import llama_cpp as lc

    from judgerl.backends.llamacpp_backend import LlamaCppBackend
    from judgerl.backends.llamacpp_engine import _Entry
    from judgerl.backends.prefix_plan import plan_prefix_groups

    backend = LlamaCppBackend(model, threads=threads)
    engine = backend.engine
    ids = [backend.encode(p) for p in prompts]
    full = ids[0]
    memory = engine._memory

    def prefill(tokens: list[int]) -> float:
        lc.llama_memory_clear(memory, True)
        entries = [_Entry(t, p, 0, p == len(tokens) - 1) for p, t in enumerate(tokens)]
        return timed(lambda: engine._decode(entries))

    def decode(steps: int) -> float:
        lc.llama_memory_clear(memory, True)
        logits, _ = engine._decode([_Entry(t, p, 0, p == len(full) - 1) for p, t in enumerate(full)])[0]
        start = time.perf_counter()
        for k in range(steps):
            token = int(logits.argmax())
            logits, _ = engine._decode([_Entry(token, len(full) + k, 0, True)])[0]
        return time.perf_counter() - start

    (group, shared), *_ = plan_prefix_groups(ids, list(range(len(ids))), max_batch=backend.max_batch, padded=False)
    assert sorted(group) == list(range(len(ids))) and shared, "the criteria should share one prefix"

    def shared_parts() -> dict[str, float]:
        lc.llama_memory_clear(memory, True)
        t_prefix = timed(lambda: engine._decode([_Entry(t, p, 0, False) for p, t in enumerate(full[:shared])]))
        start = time.perf_counter()
        for seq in range(1, len(ids) + 1):
            lc.llama_memory_seq_cp(memory, 0, seq, -1, -1)
        t_copy = time.perf_counter() - start
        entries = [
            _Entry(t, shared + k, seq, k == len(ids[seq - 1]) - shared - 1)
            for seq in range(1, len(ids) + 1)
            for k, t in enumerate(ids[seq - 1][shared:])
        ]
        t_suffix = timed(lambda: engine._decode(entries))
        lc.llama_memory_clear(memory, True)
        return {"prefix_s": t_prefix, "copy_s": t_copy, "suffixes_s": t_suffix}

    prefill(full[:SHORT])  # warm-up
    steps = 16
    parts = min((shared_parts() for _ in range(repeats)), key=lambda d: sum(d.values()))
    result = {
        "engine": f"llama.cpp {label} (no extra weight buffers)",
        "system_info": lc.llama_print_system_info().decode().strip(),
        "prompt_tokens": len(full),
        "shared_prefix_tokens": shared,
        "suffix_tokens": sum(len(i) - shared for i in ids),
        "prefill_short_tok_s": SHORT / best(repeats, lambda: prefill(full[:SHORT])),
        "prefill_prompt_tok_s": len(full) / best(repeats, lambda: prefill(full)),
        "decode_tok_s": steps / best(repeats, lambda: decode(steps)),
        "shared_pass": parts,
        "sample_verdicts_s": best(repeats, lambda: timed(lambda: backend.label_probs(prompts, LABELS))),
    }
    backend.close()
    return result


def profile_transformers(
    model: str, dtype: str, prompts: list[JudgePrompt], threads: int, repeats: int
) -> dict[str, Any]:
    import torch

    from judgerl.backends.batched_prefill import cache_of
    from judgerl.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(model, dtype=dtype, threads=threads)
    full = backend._encode(prompts[0])

    def prefill(tokens: list[int]) -> float:
        def run() -> None:
            with torch.inference_mode():
                out = backend._body(input_ids=torch.tensor([tokens]))
                backend._logits(out.last_hidden_state[0, -1])

        return timed(run)

    def decode(steps: int) -> float:
        with torch.inference_mode():
            out = backend._body(input_ids=torch.tensor([full]), use_cache=True)
            start = time.perf_counter()
            for _ in range(steps):
                token = int(backend._logits(out.last_hidden_state[0, -1]).argmax())
                step = torch.tensor([[token]])
                out = backend._body(input_ids=step, use_cache=True, **{backend._cache_arg: cache_of(out)})
            return time.perf_counter() - start

    prefill(full[:SHORT])  # warm-up
    steps = 16
    result = {
        "engine": f"transformers {backend.dtype_name}",
        "prompt_tokens": len(full),
        "prefill_short_tok_s": SHORT / best(repeats, lambda: prefill(full[:SHORT])),
        "prefill_prompt_tok_s": len(full) / best(repeats, lambda: prefill(full)),
        "decode_tok_s": steps / best(repeats, lambda: decode(steps)),
        "sample_verdicts_s": best(repeats, lambda: timed(lambda: backend.label_probs(prompts, LABELS))),
    }
    backend.close()
    gc.collect()
    return result


def table(rows: list[dict[str, Any]], n_criteria: int) -> list[str]:
    lines = [
        f"| engine | prefill tok/s, {SHORT} tokens | prefill tok/s, whole prompt | decode tok/s "
        f"| one sample's {n_criteria} log-prob verdicts, s |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['prefill_short_tok_s']:.0f} | {r['prefill_prompt_tok_s']:.0f} "
            f"| {r['decode_tok_s']:.1f} | {r['sample_verdicts_s']:.2f} |"
        )
    return lines


def _cpu_units(run: dict[str, Any]) -> str:
    """The CPU's matrix units as llama.cpp reports them (its system info, kept with each run)."""
    info = run["rows"][0].get("system_info", "")
    have = [name for flag, name in (("AVX512_BF16 = 1", "AVX512-BF16"), ("AMX_INT8 = 1", "AMX")) if flag in info]
    if have:
        return " and ".join(have)
    return "AVX2 and no native bf16" if "AVX2 = 1" in info else "no AVX2"


def _run_section(run: dict[str, Any]) -> list[str]:
    rows = {r["engine"].split(" (")[0]: r for r in run["rows"]}
    llama = run["rows"][0]
    bf16, fp32 = rows["transformers bfloat16"], rows["transformers float32"]
    parts = llama["shared_pass"]
    n = len(MATH.criteria)
    pass_s = sum(parts.values())
    m = run["machine"]
    units = _cpu_units(run)
    q_fp32 = llama["prefill_prompt_tok_s"] / fp32["prefill_prompt_tok_s"]
    q_bf16 = llama["prefill_prompt_tok_s"] / bf16["prefill_prompt_tok_s"]
    t_fp32 = llama["sample_verdicts_s"] / fp32["sample_verdicts_s"]
    t_bf16 = llama["sample_verdicts_s"] / bf16["sample_verdicts_s"]
    goal = 3 * fp32["prefill_prompt_tok_s"]
    reach = [(name, r["prefill_prompt_tok_s"]) for name, r in rows.items() if r["prefill_prompt_tok_s"] >= goal]
    reached = (
        "of these engines only " + " and ".join(f"{name} gets there ({rate:.0f})" for name, rate in reach)
        if reach
        else "none of these engines gets there"
    )
    fastest = min(run["rows"], key=lambda r: r["sample_verdicts_s"])["engine"].split(" (")[0]
    d_fp32 = llama["decode_tok_s"] / fp32["decode_tok_s"]
    d_bf16 = llama["decode_tok_s"] / bf16["decode_tok_s"]
    f16 = rows.get("llama.cpp F16 copy")
    lines = [
        f"Run `{run['name']}`: {run['model']} ({llama['prompt_tokens']} tokens a prompt, "
        f"{llama['shared_prefix_tokens']} shared) on {m['processor']}, {m['cpu_count']} CPUs with {units}, "
        f"{run['note']} (load average {run['load_average']['start']} at the start, {run['load_average']['end']} at "
        f"the end); {run['threads']} threads, best of {run['repeats']} runs of each figure; torch {m['torch']}, "
        f"llama-cpp-python {run['llama_cpp']}.",
        "",
        *table(run["rows"], n),
        "",
        f"llama.cpp's shared-prefix pass for this sample took {pass_s:.2f} s: the "
        f"{llama['shared_prefix_tokens']}-token prefix {parts['prefix_s']:.2f} s, {n} KV-cache sequence copies "
        f"{parts['copy_s'] * 1e3:.2f} ms, the "
        f"{llama['suffix_tokens']} suffix tokens as one batch {parts['suffixes_s']:.2f} s.",
        "",
        f"A log-prob verdict is a prefill: llama.cpp's Q4_K_M prefills a whole prompt at {q_fp32:.1f}x transformers' "
        f"float32 tokens/s and {q_bf16:.1f}x its bfloat16 ones, while the sequence copies that share the prefix cost "
        f"nothing; so one sample's verdicts took {t_fp32:.2f}x float32's time and {t_bf16:.1f}x bfloat16's, and "
        f"{fastest} judged fastest. 3x the float32 judge's verdicts/s needs about 3x its prefill rate, {goal:.0f} "
        f"tokens/s; {reached}. Decoding {'is where' if d_fp32 > 1 and d_bf16 > 1 else 'is not where'} llama.cpp's "
        f"4-bit weights pay: {d_fp32:.1f}x float32's tokens/s and {d_bf16:.1f}x bfloat16's"
        f"{', short of 5x' if max(d_fp32, d_bf16) < 5 else ''}; and a rationale also prefills its prompt, so its "
        "tokens/s gain less than decoding alone.",
        "",
    ]
    if f16 is not None:
        slower = f16["prefill_prompt_tok_s"] < llama["prefill_prompt_tok_s"]
        lines += [
            f"The same weights dequantised to F16 ran {'slower' if slower else 'faster'} in llama.cpp "
            f"({f16['prefill_prompt_tok_s']:.0f} prefill and {f16['decode_tok_s']:.1f} decode tokens/s)"
            + (
                f": at {run['threads']} threads its CPU matrix products, quantised or not, stay below transformers' "
                "bfloat16 ones, which on this CPU run as oneDNN AMX kernels (`ONEDNN_VERBOSE=1` shows "
                "`brg_matmul:avx10_1_512_amx` for a bfloat16 linear layer; float32 ones run on MKL's GEMM instead). "
                "The backend loads llama.cpp without extra weight buffer types, which the crash above requires; those "
                "are its repacked and AMX layouts for quantised weights, the part of llama.cpp's speed on this CPU "
                "that could not be measured here."
                if "AMX" in units
                else "."
            ),
            "",
        ]
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The BENCHMARKS.md section, from the results file: one part per run (a machine, named by ``--name``)."""
    lines = [
        HEADING,
        "",
        "`PYTHONPATH=src python benchmarks/llamacpp_profile.py --model MODEL --threads N --f16-copy DIR --name RUN "
        "--write-section` (results: `benchmarks/results/llamacpp_profile.json`, each run under its name). One "
        f"labelled GSM8K sample's {len(MATH.criteria)} `math_reference.yaml` criterion prompts, the same token ids "
        "for every engine of a run.",
        "",
    ]
    for run in result["runs"]:
        lines += _run_section(run)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="catalog model pulled with --keep-gguf")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each measurement; the best is kept")
    parser.add_argument("--name", default="default", help="the run's name in the results file (one per machine)")
    parser.add_argument("--note", default="shared with other jobs", help="the machine's state, for the section")
    parser.add_argument("--f16-copy", type=Path, help="folder for an F16 copy of the GGUF, profiled as well")
    parser.add_argument(
        "--write-section", action="store_true", help="write the section into the top-level benchmarks document"
    )
    args = parser.parse_args()

    from judgerl.models.catalog import gguf_path

    prompts = sample_prompts()
    load_before = os.getloadavg()[0]
    rows = [profile_llamacpp(args.model, prompts, args.threads, args.repeats)]
    kept = gguf_path(args.model)
    if args.f16_copy and kept is not None:
        copy = write_f16_copy(kept, args.f16_copy / f"{kept.stem}.F16.gguf")
        rows.append(profile_llamacpp(str(copy), prompts, args.threads, args.repeats, label="F16 copy"))
    for dtype in ("bfloat16", "float32"):
        rows.append(profile_transformers(args.model, dtype, prompts, args.threads, args.repeats))
    import llama_cpp

    run = {
        "name": args.name,
        "note": args.note,
        "model": args.model,
        "threads": args.threads,
        "repeats": args.repeats,
        "load_average": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        "machine": machine(),
        "llama_cpp": llama_cpp.__version__,
        "rows": rows,
    }
    saved = saved_result(RESULT) or {"runs": []}
    payload = {"runs": [r for r in saved["runs"] if r["name"] != args.name] + [run]}
    path = write_result(RESULT, payload)
    section = markdown(payload)
    if args.write_section:
        write_section(section)
    print(section)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
