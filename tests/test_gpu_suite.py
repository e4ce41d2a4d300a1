"""benchmarks/gpu_suite.py in its tiny CPU configuration, so the GPU suite cannot rot between GPU runs: every part
runs end to end (matmul peak, the judge variants at each batch size, (a) with the grouped and the batched prefill
side by side, raw prefill, GRPO steps with and without overlap) and writes positive, finite figures."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from support.real_models import pulled_model_dir

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_suite.py"
TESTS = Path(__file__).parent
LOGPROB = ("a_logprob_shared_prefix", "a_logprob_batched_prefill")  # (a), grouped and batched prefill
VARIANTS = (*LOGPROB, "b_logprob_no_reuse", "c_generate_one_json")


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def run_tiny(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    tokenizer = Path(pulled_model_dir("qwen2.5-coder-0.5b"))
    out = tmp_path / "gpu_suite.json"
    command = [sys.executable, str(SCRIPT), "--tiny", "--device", "cpu", "--tokenizer", str(tokenizer)]
    run_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    done = subprocess.run(
        [*command, "--out", str(out), *extra], capture_output=True, text=True, timeout=240, env=run_env
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8")), done.stdout


@pytest.mark.timeout(300)
def test_tiny_configuration_runs_every_part(tmp_path: Path) -> None:
    payload, stdout = run_tiny(tmp_path)
    assert positive(payload["peak"]["tflops"])
    # the hand-built full-size configs have the published Qwen2.5 parameter counts (within 1%)
    assert sorted(payload["architectures"]) == ["qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b"]
    for name, counts in payload["architectures"].items():
        assert abs(counts["total"] / counts["published"] - 1) < 0.01, (name, counts)
    assert [part["architecture"] for part in payload["judge"]] == ["qwen2.5-1.5b", "qwen2.5-7b"]
    for part in payload["judge"]:
        assert positive(part["params"]["total"]) and positive(part["params"]["non_embedding"])
        assert positive(part["raw_prefill"]["tflops"])
        for variant in VARIANTS:
            rows = part["variants"][variant]
            assert sorted(rows, key=int) == [str(b) for b in payload["batches"]]
            for row in rows.values():
                assert positive(row["verdicts_per_s"]) and positive(row["seconds"]), (variant, row)
                assert row["samples_measured"] >= 1 and row["unscored_samples"] == 0, (variant, row)
                assert row["verdicts"] == 4 * row["samples_measured"]
                # (a) really shares the prefix: no fall-back to one prompt at a time (seen on transformers 5.17)
                assert row["prefix_fallbacks"] == 0, (variant, row)
        assert sorted(part["variants"]) == sorted(VARIANTS)
        for variant in LOGPROB:
            for batch, row in part["variants"][variant].items():
                assert positive(row["ratio_to_c"]) and positive(row["prefill_tflops"])
                assert positive(part["variants"]["b_logprob_no_reuse"][batch]["prefill_tflops"])
                # prefix reuse runs fewer tokens (padding counted) than reading every criterion's prompt from scratch
                assert row["tokens_run"] < part["variants"]["b_logprob_no_reuse"][batch]["tokens_run"], variant
        for row in part["variants"]["c_generate_one_json"].values():
            assert positive(row["mean_generated_tokens"]) and row["mean_generated_tokens"] <= part["gen_tokens"]
            assert row["generations"] == row["samples_measured"], row  # one JSON reply per sample, no repair
    # the untied 7B stand-in has its own output matrix: more parameters than the tied 1.5B stand-in
    assert payload["judge"][1]["params"]["total"] > payload["judge"][0]["params"]["total"]
    grpo = payload["grpo"]
    for key in ("no_overlap", "overlap"):
        row = grpo[key]
        assert row["steps"] == grpo["max_steps"], row
        for name in ("step_s", "judge_busy_s", "judge_busy_share"):
            assert positive(row[name]), (key, name, row)
        assert 0 <= row["judge_wait_share"] <= 1 and math.isfinite(row["judge_wait_s"]), row
    assert "(a) grouped/(c)" in stdout and "(a) batched/(c)" in stdout and "GRPO step" in stdout


def wheel_of(distribution: str, folder: Path) -> None:
    """This venv's installed copy of a distribution, zipped as a wheel (what `make gpu-carry` downloads)."""
    import importlib.metadata

    dist = importlib.metadata.distribution(distribution)
    name = f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}-py3-none-any.whl"
    with zipfile.ZipFile(folder / name, "w") as archive:
        for file in dist.files or []:
            if not str(file).startswith(".."):  # console scripts live outside site-packages
                archive.write(Path(str(dist.locate_file(file))), str(file))


@pytest.mark.timeout(300)
def test_grpo_runs_on_a_machine_without_trl_pandas_pyarrow_datasets_pydantic(tmp_path: Path) -> None:
    """The GPU machine has torch, transformers, peft and accelerate only: trl and judgerl's dependencies come
    from the carried wheels, and pandas, pyarrow and datasets (not carried: too large) are stood in for."""
    carry = tmp_path / "carry"
    (carry / "wheels").mkdir(parents=True)
    for distribution in ("trl", "pydantic", "pydantic_core", "annotated_types", "typing_inspection"):
        wheel_of(distribution, carry / "wheels")
    hidden = "trl,pydantic,pydantic_core,annotated_types,typing_inspection,pandas,pyarrow,datasets"
    tokenizer = Path(pulled_model_dir("qwen2.5-coder-0.5b"))
    out = tmp_path / "bare.json"
    bare_site = TESTS / "support" / "bare_site.py"
    command = [sys.executable, str(bare_site), hidden, str(SCRIPT), "--tiny", "--device", "cpu"]
    command += ["--tokenizer", str(tokenizer), "--parts", "grpo", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GPU_SUITE_CARRY": str(carry), "PYTHONPATH": ""}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(w.split("-")[0] for w in payload["machine"]["carried_wheels"]) == sorted(
        ["trl", "pydantic", "pydantic_core", "annotated_types", "typing_inspection"]
    )
    assert payload["grpo"]["stand_ins"] == ["pandas", "pyarrow", "datasets"]
    for key in ("no_overlap", "overlap"):
        assert positive(payload["grpo"][key]["step_s"]) and positive(payload["grpo"][key]["judge_busy_s"])


def test_carried_pure_wheel_is_importable(tmp_path: Path) -> None:
    """A package missing here is unpacked from a carried wheel and imports; one that imports is left alone."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "gpu_suite_probe-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("gpu_suite_probe/__init__.py", "VALUE = 7\n")
        archive.writestr("gpu_suite_probe-1.0.dist-info/METADATA", "Name: gpu-suite-probe\nVersion: 1.0\n")
    with zipfile.ZipFile(wheels / "json-9.9-py3-none-any.whl", "w") as archive:
        archive.writestr("json/__init__.py", "raise ImportError('the carried copy must not shadow json')\n")
    code = (
        "import sys, runpy; sys.argv = ['x']; "
        f"ns = runpy.run_path({str(SCRIPT)!r}, run_name='gpu_suite'); "
        f"print(ns['add_carried_wheels'](__import__('pathlib').Path({str(wheels)!r}))); "
        "import gpu_suite_probe, json; print(gpu_suite_probe.VALUE)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["['gpu_suite_probe-1.0-py3-none-any.whl']", "7"]
