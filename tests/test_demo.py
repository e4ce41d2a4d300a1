"""The demo's last word (`judgerl.demo.conclusion`) claims an improvement only when the paired interval is above
zero and McNemar's test agrees, and a judge that fails the gate ends the demo before step 1 with the gate's line,
not a traceback. The demo's full run (real models, ~14 min) is timed by hand: docs/training.md, "The demo"."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from judgerl import demo
from judgerl.errors import JudgerlError


def test_an_interval_above_zero_with_few_changed_replies_is_not_called_an_improvement() -> None:
    # this demo's own run on 2026-11-30: 4 of 64 replies changed, all for the better
    style, text = demo.conclusion({"rate": 0.062, "low": 0.016, "high": 0.125}, 0.125, changed=4, steps=8)
    assert style == "yellow" and "only 4 held-out replies changed (McNemar p=0.125)" in text
    assert "improved:" not in text and demo.BENCHMARK in text


def test_a_change_not_called_significant_says_what_the_test_could_have_seen() -> None:
    from judgerl.stats import detectable_change

    # 10 of 64 held-out replies changed: the smallest true gain the test finds 4 times in 5 at that share
    _, text = demo.conclusion({"rate": -0.094, "low": -0.188, "high": 0.0}, 0.109, changed=10, steps=8, prompts=64)
    gain = detectable_change(64, 10 / 64)
    assert (
        gain is not None
        and f"(10 of 64 held out), the test finds a true gain 4 times in 5 only from {gain:+.1%}" in text
    )
    _, few = demo.conclusion({"rate": 0.062, "low": 0.016, "high": 0.125}, 0.125, changed=4, steps=8, prompts=64)
    assert "(4 of 64 held out), the test finds no true gain 4 times in 5" in few
    _, unsized = demo.conclusion({"rate": 0.0, "low": -0.05, "high": 0.1}, 0.5, changed=4, steps=8)
    assert "4 times in 5" not in unsized  # no held-out size given: nothing said of power
    _, gained = demo.conclusion({"rate": 0.102, "low": 0.047, "high": 0.156}, 0.001, changed=13, steps=30, prompts=64)
    assert "4 times in 5" not in gained  # a significant gain needs no such sentence


def test_an_improvement_needs_the_interval_and_the_test() -> None:
    style, text = demo.conclusion({"rate": 0.102, "low": 0.047, "high": 0.156}, 0.001, changed=13, steps=30)
    assert style == "green" and text.startswith("the independent measure improved") and "p=0.001" in text
    for low, p_value in ((0.0, 0.001), (-0.05, 0.3)):
        style, text = demo.conclusion({"rate": 0.0, "low": low, "high": 0.1}, p_value, changed=2, steps=8)
        assert style == "yellow" and text.startswith("no significant independent improvement at this budget (8 steps")
    assert "leans worse" not in text
    assert demo.conclusion(None, None, changed=0, steps=8)[0] == "yellow"


def test_a_fall_the_test_does_not_confirm_is_named_with_its_figures() -> None:
    # the demo on an AVX2-only machine, 2026-12-07: harmful requests refused 17/32 -> 9/32, the interval's top at 0
    style, text = demo.conclusion({"rate": -0.094, "low": -0.188, "high": 0.0}, 0.109, changed=10, steps=8)
    assert style == "yellow" and text.startswith("no significant independent improvement at this budget (8 steps")
    assert "leans worse (-9.4% [-18.8%, +0.0%], McNemar p=0.109), not significantly" in text


def test_a_significant_harm_is_said_as_worse() -> None:
    # the fresh-clone demo run of issue 30: -17.2% [-28.1%, -6.2%], McNemar p 0.007
    style, text = demo.conclusion({"rate": -0.172, "low": -0.281, "high": -0.062}, 0.007, changed=15, steps=8)
    assert style == "bold red" and text.startswith("WORSE: the trained policy is significantly worse")
    assert "-17.2% [-28.1%, -6.2%]" in text and "no significant" not in text and demo.BENCHMARK not in text
    style, text = demo.conclusion({"rate": -0.06, "low": -0.11, "high": -0.01}, 0.09, changed=5, steps=8)
    assert style == "red" and text.startswith("worse: the paired interval is below zero")


def test_changed_counts_flipped_checker_verdicts_by_prompt() -> None:
    def item(prompt_id: str, passed: bool | None) -> Any:
        return SimpleNamespace(prompt_id=prompt_id, checker_passed=passed)

    before = [item("a", True), item("b", False), item("c", False), item("d", None)]
    after = [item("b", True), item("a", True), item("c", False), item("d", True), item("e", True)]
    assert demo._changed(before, after) == 2  # b (fail -> pass) and d (unchecked counts as not passed); e is new


def test_a_failed_gate_ends_the_demo_before_training_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from judgerl.cli import eval_cmd
    from judgerl.judges.spec import JudgeSpec
    from judgerl.train import evaluate, runner

    closed: list[bool] = []
    monkeypatch.setattr(JudgeSpec, "build_backend", lambda self: SimpleNamespace(close=lambda: closed.append(True)))
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: SimpleNamespace(items=[]))
    monkeypatch.setattr(eval_cmd, "report_table", lambda reports: "held-out table")

    def gate_fails(config: Any, backend: Any = None) -> Any:
        raise JudgerlError("judge validation: AUC 0.05 (within each criterion) on 32 replies is below the bar 0.80")

    monkeypatch.setattr(runner, "train", gate_fails)
    result = CliRunner().invoke(demo.demo, ["--output-dir", str(tmp_path / "run"), "--steps", "1"])
    assert result.exit_code == 0, result.output
    assert "training stopped before step 1: judge validation: AUC 0.05" in " ".join(result.output.split())
    assert closed == [True] and "3/3" not in result.output

    def other_error(config: Any, backend: Any = None) -> Any:
        raise JudgerlError("policy model 'x' not found")

    monkeypatch.setattr(runner, "train", other_error)
    result = CliRunner().invoke(demo.demo, ["--output-dir", str(tmp_path / "run2")])
    assert isinstance(result.exception, JudgerlError) and closed == [True, True]


def test_the_demo_says_what_the_monitors_saw_before_its_last_word(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import judgerl.report
    from judgerl.cli import eval_cmd
    from judgerl.judges.spec import JudgeSpec
    from judgerl.train import evaluate, runner
    from judgerl.train.evaluate import EvalItem
    from support.monitor_runs import record_signal_run

    store = tmp_path / "store.sqlite"
    record_signal_run(store, run="demo-run")
    monkeypatch.setattr(JudgeSpec, "build_backend", lambda self: SimpleNamespace(close=lambda: None))
    passed = iter([[True, False, True, True], [True, True, True, True]])  # before, after

    def evaluated(*args: Any, **kwargs: Any) -> Any:
        items = [
            EvalItem(
                prompt_id=f"{kind}{i}", prompt="p", response="r", judge_score=None, judge_passed=None, checker_passed=ok
            )
            for i, (kind, ok) in enumerate(zip(["harmful", "benign"] * 2, next(passed), strict=True))
        ]
        return SimpleNamespace(items=items, checker="refusal")

    monkeypatch.setattr(evaluate, "evaluate", evaluated)
    monkeypatch.setattr(eval_cmd, "report_table", lambda reports: "held-out table")
    monkeypatch.setattr(judgerl.report, "build_report", lambda run_dir, run: run_dir / "report.html")
    trained = SimpleNamespace(run_dir=tmp_path, final_dir=tmp_path / "final", store_path=store, run_id="demo-run")
    monkeypatch.setattr(runner, "train", lambda config, backend=None: trained)
    result = CliRunner().invoke(demo.demo, ["--output-dir", str(tmp_path / "run"), "--steps", "1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "reward's push toward passing check 'behaves' by kind of row (at step 4): comply +0.00" in text
    assert "monitor warning at step 2 (signal_balance:behaves)" in text
    assert text.index("monitor warning") < text.index("no significant independent improvement")
