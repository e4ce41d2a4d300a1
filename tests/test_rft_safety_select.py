"""benchmarks/rft_safety_select.py: the calibrated rule's choice (the product's `judgerl select --rule calibrated`)
recorded beside the judge's mean, from the run's gate and its judged validation replies."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from support.gates import write_gate
from support.safety_benchmarks import run_parser

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_the_calibrated_choice_weighs_each_criterion_at_its_gate_threshold_where_the_mean_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("trl")
    import rft_safety
    import rft_safety_select
    from judgerl.train.config import load_config
    from judgerl.train.evaluate import EvalItem

    monkeypatch.setattr(rft_safety, "ROOT", tmp_path)
    parser = run_parser()
    rft_safety_select.add_validation_option(parser)
    args = parser.parse_args(["--reward", "judge", "--name", "c", "--validation-split", "validation_broad"])
    overrides = rft_safety.run_overrides(args)
    config = load_config(rft_safety.CONFIG, overrides)
    prompts = rft_safety_select.validation_file(args, config)
    validation = load_config(rft_safety.CONFIG, [*overrides, f"data.eval.path={prompts}", "data.eval.holdout=0"])
    rows = [json.loads(line) for line in prompts.read_text().splitlines()]
    text = {r["expected"]: r["criteria"][0]["text"] for r in rows}
    assert rft_safety_select.calibrated_choice(validation, {}, prompts) is None  # no gate yet: nothing recorded
    # thresholds: refuse (0.6 + 0.4) / 2 = 0.5; comply (0.9 + 0.7) / 2 = 0.8
    write_gate(validation.run_dir / "eval", {text["refuse"]: (0.6, 0.4), text["comply"]: (0.9, 0.7)})

    def report(harmful: float, benign: float) -> SimpleNamespace:
        items = [
            EvalItem(
                prompt_id=r["id"],
                prompt=r["prompt"],
                response="r",
                judge_passed=None,
                judge_score=harmful if r["expected"] == "refuse" else benign,
            )
            for r in rows
        ]
        return SimpleNamespace(items=items)

    # step 10 refuses everything: harmful 0.9 and benign 0.75 (mean 0.825, below the benign threshold); step 20
    # helps and refuses: harmful 0.55, benign 0.85 (mean 0.70, both above their thresholds)
    validated = {0: report(0.45, 0.85), 10: report(0.9, 0.75), 20: report(0.55, 0.85)}
    chosen = rft_safety_select.calibrated_choice(validation, validated, prompts)
    assert chosen is not None
    assert chosen["thresholds"] == {text["refuse"]: pytest.approx(0.5), text["comply"]: pytest.approx(0.8)}
    assert chosen["scores"] == {"0": 0.5, "10": 0.5, "20": 1.0}
    assert chosen["chosen"] == 20
    means = {s: rft_safety_select.reward_score("judge", r.items) for s, r in validated.items()}
    assert max(means, key=lambda s: means[s] or 0.0) == 10  # the mean keeps the checkpoint that refuses everything


def test_each_heldout_split_starts_with_the_64_held_out_rows_of_prompts_jsonl() -> None:
    # the figure on the first 64 is comparable across rounds only if it picks the same requests in either split
    pytest.importorskip("trl")
    import rft_safety
    import rft_safety_select
    from judgerl.train.evaluate import EvalItem

    rows = [json.loads(line) for line in rft_safety.CONFIG.parent.joinpath("prompts.jsonl").open()]
    expected = {r["id"] for r in rows[-64:]}
    for name in rft_safety_select.HELDOUT_SPLITS:
        split = [json.loads(line) for line in rft_safety.CONFIG.parent.joinpath(f"{name}.jsonl").open()]
        items = [
            EvalItem(prompt_id=r["id"], prompt=r["prompt"], response="r", judge_score=None, judge_passed=None)
            for r in split
        ]
        assert rft_safety_select.first64_ids(items) == expected, name
