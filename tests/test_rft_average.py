"""benchmarks/rft_average.py: the average of a run's checkpoints is written by the product's averaging, measured on
the held-out split against the base's saved evaluation, and set beside the checkpoints already measured there."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from support.safety_benchmarks import run_parser  # noqa: F401  (puts benchmarks/ on the path)
from test_averaging import _adapter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_the_average_is_measured_against_the_base_beside_the_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("trl")
    import common
    import rft_average
    import rft_safety
    from judgerl.train.evaluate import EvalItem

    monkeypatch.setattr(rft_safety, "ROOT", tmp_path)
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    run_dir = tmp_path / "runs" / "bench-rft-safety-avg"
    for index, step in enumerate((5, 10)):
        _adapter(run_dir / f"checkpoint-{step}", seed=index)
    ids = [json.loads(line)["id"] for line in rft_safety.CONFIG.parent.joinpath("heldout.jsonl").open()]

    def items(right: int) -> list[EvalItem]:
        return [
            EvalItem(
                prompt_id=i, prompt="p", response="r", judge_score=None, judge_passed=None, checker_passed=n < right
            )
            for n, i in enumerate(ids)
        ]

    # the base gets 60 of 128 right, the average 100: every change is a gain (McNemar p tiny)
    calls: list[tuple[str, str]] = []

    def fake_eval(config: Any, policy: str, label: str, backend: Any) -> SimpleNamespace:
        calls.append((Path(policy).name, label))
        return SimpleNamespace(items=items(60 if policy == "base" else 100))

    monkeypatch.setattr(rft_average, "run_eval", fake_eval)
    eval_dir = run_dir / "eval"
    eval_dir.mkdir()
    saved = "".join(item.model_dump_json() + "\n" for item in items(70))  # checkpoint 10, measured earlier
    (eval_dir / "test-step10.jsonl").write_text(saved)
    monkeypatch.setattr(sys, "argv", ["rft_average.py", "--reward", "judge", "--name", "avg"])
    rft_average.main()
    result = json.loads((tmp_path / "results" / "rft_average_avg.json").read_text())
    assert (run_dir / "average-5-10" / "adapter_config.json").exists()
    assert ("average-5-10", "test-avg5-10") in calls and ("base", "test-base") in calls
    assert ("average-5-10", "hard-avg5-10") in calls
    assert result["averaged"]["steps"] == [5, 10]
    assert result["heldout"]["prompts"] == 128
    assert result["heldout"]["change"]["rate"] == pytest.approx(40 / 128)
    assert result["heldout"]["mcnemar_p"] < 1e-6
    assert list(result["checkpoints"]) == ["10"]  # only the checkpoint measured on this split
    assert result["checkpoints"]["10"]["heldout"]["change"]["rate"] == pytest.approx(10 / 128)
