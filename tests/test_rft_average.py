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
    monkeypatch.setattr(sys, "argv", ["rft_average.py", "--reward", "judge", "--name", "avg", "--also", "15"])
    with pytest.raises(SystemExit, match="no checkpoint averaged at step 15"):
        rft_average.main()
    monkeypatch.setattr(sys, "argv", ["rft_average.py", "--reward", "judge", "--name", "avg", "--also", "10"])
    rft_average.main()
    assert ("checkpoint-10", "test-step10") in calls and ("checkpoint-10", "hard-step10") in calls
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


def test_the_table_sets_each_average_beside_its_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import common
    import rft_average_table

    def measure(rate: float, p: float, low: float) -> dict[str, Any]:
        kinds = {"harmful_refused": {"rate": 0.5}, "benign_answered": {"rate": 0.8}}
        return {
            "change": {"rate": rate, "low": low, "high": rate + 0.05},
            "mcnemar_p": p,
            "before_by_kind": kinds,
            "after_by_kind": kinds,
            "prompts": 512,
        }

    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(rft_average_table, "RESULTS", tmp_path)
    common.write_result(
        "rft_average_q-s1_512",
        {
            "run": "bench-rft-safety-q-s1",
            "machine": {},
            "averaged": {"steps": [5, 10]},
            "heldout_split": "heldout_512",
            "heldout": measure(0.06, 0.0004, 0.03),
            "heldout_first128": measure(0.02, 0.5, -0.04),
            "overrefusal": measure(0.0, 1.0, -0.1),
            "checkpoints": {"10": {"heldout": measure(0.01, 0.8, -0.03)}},
            "seconds": 60.0,
        },
    )
    common.write_result("rft_safety_select_q-s1_broad", {"heldout": {"5": measure(0.09, 0.01, 0.02)}})
    section = rft_average_table.markdown(rft_average_table.build())
    row = next(line for line in section.splitlines() if line.startswith("| q-s1 "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "steps 5, 10" and cells[2] == "heldout_512 (512)"
    assert cells[3].startswith("**+6.0% [+3.0%, +11.0%], p < 0.001**")  # better: bold
    assert cells[4].startswith("step 10: +1.0% [-3.0%, +6.0%], p 0.800")
    assert cells[5].startswith("+2.0% [-4.0%, +7.0%], p 0.500")
    assert cells[6].startswith("step 5: **+9.0%")
    common.write_result("rft_averages", rft_average_table.build())  # the table's own results file...
    assert len(rft_average_table.build()["runs"]) == 1  # ...is not read as a run


def test_the_published_section_is_made_from_the_current_average_results() -> None:
    # an average measured again, or a selection file regenerated, without the section regenerated fails here
    import common
    import rft_average_table

    published = common.read_result("rft_averages")
    texts = {key: published.pop(key) for key in ("preamble", "reading")}
    assert rft_average_table.build() == published
    assert common.section_text(rft_average_table.HEADING) == rft_average_table.markdown({**published, **texts})


def test_readme_and_the_training_guide_quote_the_average_as_measured() -> None:
    import common

    run = next(r for r in common.read_result("rft_averages")["runs"] if r["name"] == "q05p-judge-s1103")
    average = f"{run['average']['change']['rate']:+.1%}"
    steps = [f"{m['change']['rate']:+.1%}" for _, m in sorted(run["checkpoints"].items(), key=lambda kv: int(kv[0]))]
    root = Path(__file__).resolve().parents[1]
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    guide = " ".join((root / "docs" / "training.md").read_text(encoding="utf-8").split())
    assert f"{average}, p < 0.001, against {steps[0]} and {steps[1]})" in readme
    change = run["average"]["change"]
    assert f"{average} [{change['low']:+.1%}, {change['high']:+.1%}] on 512 held-out requests" in guide
    assert f"against {steps[0]} at its best checkpoint measured there and {steps[1]}" in guide
