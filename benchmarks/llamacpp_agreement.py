"""Does a judge behind llama.cpp's OpenAI-compatible server say what the in-process judge says?

Starts `python -m llama_cpp.server` on 127.0.0.1 with the packaged Qwen2.5-Coder-0.5B GGUF, judges
tests/data/arithmetic_judged.jsonl (8 questions, a right and a wrong answer each) against two criteria of
examples/rubrics/math_reference.yaml through the openai backend (logprob mode), judges the same samples with
the in-process transformers backend, and compares: hard verdicts at 0.5 and at each judge's median, rank
correlation of P(PASS), and how well each separates right from wrong final answers (AUC).

    PYTHONPATH=src python benchmarks/llamacpp_agreement.py --gguf PATH.gguf --local-model DIR_OR_NAME

Writes benchmarks/results/llamacpp_agreement.json and the '## llama.cpp server vs in-process judge' section
of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("JUDGERL_NONCE_KEY", "tests")  # the same prompts as the integration test

from common import write_result, write_section  # noqa: E402
from judgerl import Rubric  # noqa: E402
from judgerl.judges.spec import JudgeSpec  # noqa: E402
from judgerl.samples import load_samples  # noqa: E402
from judgerl.stats import roc_auc  # noqa: E402

HEADING = "## llama.cpp server vs in-process judge"


def start_llama_server(gguf: str, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", "2048", "--model_alias", "qwen-judge", "--n_threads", str(threads)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=5):
                return process, base_url
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError("llama.cpp server did not start")


def spearman(a: list[float], b: list[float]) -> float:
    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=values.__getitem__)
        result = [0.0] * len(values)
        for position, index in enumerate(order):
            result[index] = float(position)
        return result

    return statistics.correlation(ranks(a), ranks(b))


def compare(remote: list[float], local: list[float], labels: list[bool]) -> dict[str, float]:
    median_r, median_l = statistics.median(remote), statistics.median(local)
    pairs = list(zip(remote, local, strict=True))
    return {
        "n": len(pairs),
        "hard_agreement_at_0.5": sum((r >= 0.5) == (q >= 0.5) for r, q in pairs) / len(pairs),
        "hard_agreement_at_own_median": sum((r >= median_r) == (q >= median_l) for r, q in pairs) / len(pairs),
        "spearman": spearman(remote, local),
        "mean_p_pass_remote": statistics.mean(remote),
        "mean_p_pass_local": statistics.mean(local),
        "auc_remote": roc_auc(remote, labels),
        "auc_local": roc_auc(local, labels),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--local-model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    math = Rubric.load(ROOT / "examples" / "rubrics" / "math_reference.yaml")
    rubric = Rubric.from_dict(
        {"instructions": math.instructions, "criteria": [c.model_dump() for c in math.criteria[:2]]}
    )
    samples = load_samples(ROOT / "tests" / "data" / "arithmetic_judged.jsonl")
    labels = [bool(s.metadata["correct"]) for s in samples]
    process, base_url = start_llama_server(args.gguf, args.threads)
    try:
        options = {"base_urls": [base_url], "timeout_s": 600, "max_concurrency": 1}
        remote_spec = JudgeSpec(backend="openai", model="qwen-judge", options=options, rationales="none", concurrency=1)
        remote = remote_spec.build_backend()
        remote.check()
        started = time.perf_counter()
        remote_verdicts = remote_spec.single_rubric_judge(rubric, remote).judge(samples)
        remote_s = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(30)
    local_spec = JudgeSpec(model=args.local_model, rationales="none", concurrency=1)
    local = local_spec.build_backend()
    started = time.perf_counter()
    local_verdicts = local_spec.single_rubric_judge(rubric, local).judge(samples)
    local_s = time.perf_counter() - started
    local.close()
    result: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        },
        "remote_wall_s": round(remote_s, 1),
        "local_wall_s": round(local_s, 1),
        "criteria": {},
    }
    for index, criterion in enumerate(rubric.criteria):
        remote_p = [float(v.criteria[index].p_pass or 0.0) for v in remote_verdicts]
        local_p = [float(v.criteria[index].p_pass or 0.0) for v in local_verdicts]
        result["criteria"][criterion.name] = {
            **compare(remote_p, local_p, labels),
            "remote": remote_p,
            "local": local_p,
        }
    write_result("llamacpp_agreement", result)
    write_section(markdown(result))
    print(
        json.dumps(
            {k: {m: v for m, v in c.items() if m not in ("remote", "local")} for k, c in result["criteria"].items()}
        )
    )


def markdown(result: dict[str, Any]) -> str:
    """The BENCHMARKS.md section, from the results file."""
    lines = [
        HEADING,
        "",
        "`PYTHONPATH=src python benchmarks/llamacpp_agreement.py --gguf <Qwen2.5-Coder-0.5B GGUF> --local-model "
        "<converted model>` (results: `benchmarks/results/llamacpp_agreement.json`). 16 samples (8 arithmetic "
        "questions, a right and a wrong answer each), two criteria of `math_reference.yaml`, logprob mode. Remote: "
        "llama-cpp-python 0.3.36's server with the Q4_K_M GGUF, through the openai backend. In-process: the "
        "transformers backend on the same weights converted from that GGUF. "
        f"Machine: {result['machine']['processor']}, {result['machine']['cpu_count']} CPUs (shared; remote "
        f"{result['remote_wall_s']} s, in-process {result['local_wall_s']} s for the 32 verdicts).",
        "",
        "| criterion | hard verdicts agree at 0.5 | at each judge's median | Spearman of P(PASS) "
        "| mean P(PASS) remote / in-process | AUC right vs wrong, remote / in-process |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, c in result["criteria"].items():
        lines.append(
            f"| {name} | {c['hard_agreement_at_0.5']:.0%} | {c['hard_agreement_at_own_median']:.0%} | "
            f"{c['spearman']:.2f} | {c['mean_p_pass_remote']:.2f} / {c['mean_p_pass_local']:.2f} | "
            f"{c['auc_remote']:.2f} / {c['auc_local']:.2f} |"
        )
    lines += [
        "",
        "The two judges rank alike but are calibrated apart: over chat completions the label must be the first "
        'token of the reply, while in-process the answer is prefilled with "Verdict:", and that shifts P(PASS) '
        "a long way for a 0.5B judge. Hard verdicts therefore need per-judge thresholds (`judgerl calibrate` keys "
        "them by judge model), not a shared 0.5.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
