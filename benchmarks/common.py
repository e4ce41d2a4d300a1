"""Helpers shared by the benchmarks: machine description, results files, the one writer of BENCHMARKS.md sections,
GSM8K-derived samples."""

from __future__ import annotations

import json
import os
import platform
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from judgerl.backends.cpu_features import read_cpu_features
from judgerl.samples import Sample

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_DATA = ROOT / "data" / "public"  # public data sets copied in with their licenses (README there)
RESULTS = ROOT / "benchmarks" / "results"
#: the pre-registered bar for a significant change (every pre-registered round uses it)
ALPHA = 0.05
BENCHMARKS = ROOT / "BENCHMARKS.md"
#: the safety recipe's validation splits (rft_safety_select.py --validation-split): each split's eval label prefix
#: (eval/LABEL-base.jsonl ...) and the suffix of its results file (rft_safety_select_<name><suffix>.json)
VALIDATION_SPLITS = {"validation": ("val", ""), "validation_broad": ("valbroad", "_broad")}


def cpu(cpuinfo: str | None = None) -> dict[str, Any]:
    """The CPU's model name and which kernel features it has (empty where /proc/cpuinfo cannot be read): results
    computed in bf16 on CPUs that differ in these differ in the last bits, and greedy decoding can then pick other
    tokens."""
    features = read_cpu_features(cpuinfo)
    return {"model": features.model, "features": features.kernel_features}


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def significant(change: dict[str, Any] | None, p: float | None, sign: int = 1) -> bool:
    """A paired change's bootstrap interval on one side of 0 (above for ``sign`` 1, below for -1) and McNemar's
    exact p below ALPHA: the pre-registered bar for better (or significantly worse)."""
    if change is None or p is None:
        return False
    bound = change["low"] if sign > 0 else -change["high"]
    return bool(bound > 0 and p < ALPHA)


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def read_result(name: str) -> dict[str, Any]:
    """A results file written by :func:`write_result`."""
    result: dict[str, Any] = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
    return result


def saved_result(name: str) -> dict[str, Any] | None:
    """benchmarks/results/NAME.json, or None where there is none yet (e.g. the file ``--merge`` adds to, before a
    round's first run is read)."""
    return read_result(name) if (RESULTS / f"{name}.json").exists() else None


def merged_runs(saved: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A results file's saved per-run figures with ``runs`` added (``--merge``: a run read again replaces its saved
    figures; a run not read again, e.g. whose folder went with a session's machine, keeps them), in order of name."""
    by_name = {run["run"]: run for run in saved} | {run["run"]: run for run in runs}
    return [by_name[name] for name in sorted(by_name)]


def gsm8k_after_copy(reward: str, seed: int, suffix: str = ".jsonl") -> Path:
    """Where a GSM8K RFT run's evaluation after training is kept beside the results (written by rft_gsm8k.py, read
    by gsm8k_table.py): a seed's two runs may finish on different machines, and judge - overlap needs both."""
    return RESULTS / "rft_gsm8k_after" / f"{reward}-s{seed}{suffix}"


def find_section(document: str, heading: str) -> tuple[int, int] | None:
    """Where the section under the line ``heading`` starts and ends (at the next ``## `` heading or the end)."""
    if document.startswith(heading + "\n"):
        start = 0
    else:
        index = document.find("\n" + heading + "\n")
        if index < 0:
            return None
        start = index + 1
    end = document.find("\n## ", start + len(heading))
    return start, (end + 1 if end >= 0 else len(document))


def section_text(heading: str, path: Path = BENCHMARKS) -> str | None:
    """The section of ``path`` under ``heading``, as :func:`write_section` wrote it."""
    document = path.read_text(encoding="utf-8")
    found = find_section(document, heading)
    return document[found[0] : found[1]].rstrip("\n") + "\n" if found else None


def write_section(section: str, path: Path = BENCHMARKS) -> None:
    """Put ``section`` (its first line the ``## `` heading) into BENCHMARKS.md: in place of the section with the
    same heading, or at the end."""
    heading = section.split("\n", 1)[0]
    if not heading.startswith("## "):
        raise ValueError(f"a section starts with its '## ' heading, not {heading!r}")
    document = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    body = section.rstrip("\n") + "\n"
    found = find_section(document, heading)
    if found is None:
        document = document.rstrip("\n") + "\n\n" + body
    else:
        start, end = found
        document = document[:start] + body + ("\n" + document[end:] if end < len(document) else "")
    path.write_text(document.rstrip("\n") + "\n", encoding="utf-8")


def publish(
    name: str, result: dict[str, Any], render: Callable[[dict[str, Any]], str], texts: Path | None, write: bool
) -> str:
    """A benchmark's section: ``texts`` (a JSON file of its prose: preamble, reading...) merged into ``result``,
    rendered, printed and, with ``write``, saved as results/NAME.json and into BENCHMARKS.md."""
    if texts:
        result.update(json.loads(texts.read_text(encoding="utf-8")))
    section = render(result)
    print(section)
    if write:
        write_result(name, result)
        write_section(section)
    return section


def completion_tokens(config: Any, unset: int = 48) -> int:
    """The reply budget a benchmark samples with: the training config's ``grpo.max_completion_length`` when the
    file sets it, else ``unset`` (the demo's 48, not TRL's default)."""
    grpo = config.grpo
    return int(grpo.max_completion_length or unset) if grpo.is_set("max_completion_length") else unset


def final_number(answer: str) -> str:
    return answer.rsplit("####", 1)[1].strip().replace(",", "")


def corrupt_final(answer: str, rng: random.Random) -> str:
    """The same worked solution, with a wrong number after '####' and in the last calculation."""
    right = final_number(answer)
    wrong = (
        str(int(float(right)) + rng.choice([-7, -3, -1, 1, 2, 5, 11])) if re.fullmatch(r"-?\d+(\.\d+)?", right) else "0"
    )
    body, _ = answer.rsplit("####", 1)
    body = body.rstrip()
    if body.endswith(right):
        body = body[: -len(right)] + wrong
    return f"{body}\n#### {wrong}"


def gsm8k_pairs(count: int, seed: int = 0) -> list[tuple[Sample, Sample]]:
    """(correct, wrong-final-number) samples for `count` GSM8K problems, with the reference solution."""
    rows = [json.loads(line) for line in (PUBLIC_DATA / "gsm8k" / "train.jsonl").read_text().splitlines()]
    rng = random.Random(seed)
    chosen = rng.sample(rows, count)
    pairs = []
    for index, row in enumerate(chosen):
        good = Sample(id=f"gsm8k-{index}-ok", prompt=row["question"], response=row["answer"], reference=row["answer"])
        bad = good.model_copy(update={"id": f"gsm8k-{index}-wrong", "response": corrupt_final(row["answer"], rng)})
        pairs.append((good, bad))
    return pairs


def benchmark_config(config_file: Path, overrides: list[str]) -> Any:
    """A benchmark run's config, with torch's threads set from it and ``judge.validation`` taken out: the
    benchmark runs the gate itself (:func:`judge_gate`), not again inside train(), which removes a stale
    RUN_DIR/judge_gate.json on a fresh start."""
    from judgerl.train.config import load_config

    config = load_config(config_file, overrides)
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    return config.model_copy(update={"judge": config.judge.model_copy(update={"validation": None})})


def judge_gate(
    config_file: Path, overrides: list[str], config: Any, backend: Any, checker: str
) -> dict[str, Any] | None:
    """A benchmark's judge gate: the judge's AUC on the base policy's sampled replies against the program
    ``checker``, not enforced (the benchmark trains either way and reports it). Run once, when there is a judge
    ``backend`` and no RUN_DIR/eval/judge_gate.json yet (eval/, so a resumed run keeps it); returns the saved
    figures without their items, or None. ``config`` is the run's (the gate samples as training does); the gate's
    own settings come from the file."""
    gate_file = config.run_dir / "eval" / "judge_gate.json"
    if backend is not None and not gate_file.exists():
        _run_judge_gate(config_file, overrides, config, backend, gate_file, checker)
    if not gate_file.exists():
        return None
    gate: dict[str, Any] = json.loads(gate_file.read_text(encoding="utf-8"))
    gate.pop("items", None)
    return gate


def _run_judge_gate(
    config_file: Path, overrides: list[str], config: Any, backend: Any, gate_file: Path, checker: str
) -> None:
    from judgerl.train.config import GateSettings, load_config
    from judgerl.train.data import load_prompt_rows
    from judgerl.train.gate import run_gate
    from judgerl.train.judging import build_judge
    from judgerl.train.policy import load_policy
    from judgerl.train.rubrics import RubricJudges

    gate_file.parent.mkdir(parents=True, exist_ok=True)
    gate_config = load_config(config_file, overrides)
    judges = build_judge(gate_config, backend)
    if not isinstance(judges, RubricJudges):  # the gate judges each criterion of a rubric
        raise ValueError(f"{config_file}: the judge's gate needs a rubric reward (reward.kind: rubric)")
    rows, _ = load_prompt_rows(gate_config)
    model, tokenizer = load_policy(gate_config.policy)
    settings = gate_config.judge.validation or GateSettings(checker=checker)
    run_gate(
        settings.model_copy(update={"enforce": False}),
        rows=rows,
        model=model,
        tokenizer=tokenizer,
        judges=judges,
        max_new_tokens=completion_tokens(config),
        temperature=config.grpo.temperature,
        top_k=config.grpo.top_k or 0,
        seed=config.seed,
        save_to=gate_file,
    )
