"""The behaviour-signal monitor: which way the reward pushes a check's behaviour inside GRPO groups, per kind of row."""

from __future__ import annotations

import asyncio
import statistics
from types import SimpleNamespace
from typing import Any

import pytest

from judgerl import Sample, SampleVerdict
from judgerl.checks.rules import RefusalCheck
from judgerl.monitors import HackingMonitor, MonitorConfig
from judgerl.monitors.behaviour import KindSignal, group_push, pooled, signal_by_kind
from judgerl.train.config import RewardConfig

REFUSAL = "I'm sorry, but I can't help with that."
ANSWER = "Here is how: first, open the settings."


def test_a_groups_push_is_the_advantage_its_passing_replies_carry() -> None:
    rewards, values = [0.9, 0.7, 0.4, 0.2], [1.0, 1.0, 0.0, 0.0]
    mean, std = statistics.mean(rewards), statistics.stdev(rewards)  # TRL: (r - mean) / std, std with n - 1
    advantages = [(r - mean) / std for r in rewards]
    push = group_push(rewards, values)
    assert push == pytest.approx(advantages[0] + advantages[1])
    # k of n passing: k (n - k) / n times the gap between passing and failing replies' mean advantage
    gap = statistics.mean(advantages[:2]) - statistics.mean(advantages[2:])
    assert push == pytest.approx(2 * 2 / 4 * gap)
    against = group_push([0.2, 0.9, 0.5, 0.5], [1.0, 0.0, 1.0, 1.0])
    assert against is not None and against < 0  # the reward prefers the failing reply
    assert group_push([0.9, 0.1], [1.0, 1.0]) is None  # replies all alike on the check: no behaviour signal
    assert group_push([0.5, 0.5], [1.0, 0.0]) is None  # no reward spread: no advantage at all
    assert group_push([0.5], [1.0]) is None


def test_signals_are_summed_per_kind_and_leave_out_what_cannot_count() -> None:
    rewards = [0.9, 0.1, 0.8, 0.7, 0.6, None, 0.5, 0.3]
    values = [1.0, 0.0, 1.0, 1.0, 1.0, 0.0, None, 1.0]
    groups = ["h1", "h1", "b1", "b1", "b2", "b2", "x", "x"]
    kinds = ["refuse", "refuse", "comply", "comply", "comply", "comply", "comply", None]
    by_kind = signal_by_kind(rewards, values, groups, kinds)
    assert set(by_kind) == {"refuse", "comply"}
    assert by_kind["refuse"].groups == 1 and by_kind["refuse"].mixed == 1 and by_kind["refuse"].push > 0
    # b1 all pass (no signal); b2 lost its unscored reply (one left: no signal); x counts nowhere: one reply has no
    # check value, the other no kind
    assert by_kind["comply"] == KindSignal(groups=2, mixed=0, push=0.0)
    both = pooled([by_kind, by_kind])
    assert both["refuse"] == KindSignal(2, 2, 2 * by_kind["refuse"].push)


def replies(step: int, prompt: str, kind: str, behaviours: list[bool], rewards: list[float]) -> list[tuple[Any, ...]]:
    """A group: samples of one prompt with a kind, whether each reply does what the row expects, and its reward."""
    return [
        (Sample(id=f"{step}-{prompt}-{i}", prompt=prompt, response="r", metadata={"expected": kind}), right, reward)
        for i, (right, reward) in enumerate(zip(behaviours, rewards, strict=True))
    ]


def observe(monitor: HackingMonitor, step: int, groups: list[list[tuple[Any, ...]]]) -> list[str]:
    rows = [row for group in groups for row in group]
    samples = [s for s, _, _ in rows]
    verdicts = [SampleVerdict(id=s.id, score=r) for s, _, r in rows]
    checks = [{"behaves": float(right)} for _, right, _ in rows]
    result = monitor.observe(step, samples, verdicts, rewards=[r for _, _, r in rows], checks=checks)
    return [w.monitor for w in result.warnings if w.monitor.startswith("signal")]  # not the divergence monitor


def test_a_kind_whose_replies_differ_far_more_often_pushes_harder_and_the_monitor_says_so() -> None:
    """The safety runs' pattern: harmful requests' replies differ (some refuse, some answer) at every step, benign
    ones all answer; both groups reward the right behaviour, yet all the behaviour signal is toward refusing."""
    monitor = HackingMonitor(MonitorConfig(signal_by="expected", signal_steps=10, signal_min_groups=3))
    fired: list[str] = []
    for step in range(5):
        harmful = replies(step, f"harm{step}", "refuse", [True, True, False, False], [0.6, 0.58, 0.4, 0.35])
        benign = replies(step, f"ok{step}", "comply", [True] * 4, [0.83, 0.8, 0.85, 0.81])
        fired += observe(monitor, step, [harmful, benign])
    assert fired == ["signal_balance:behaves"]  # once, when the third mixed harmful group arrives
    last = monitor.observe_values(
        5, lengths=[1.0, 1.0], rewards=[0.5, 0.6], groups=["g", "g"], checks={"behaves": [1.0, 0.0]}, kinds=["a", "a"]
    )
    assert last.metrics["monitor/signal/behaves/refuse"] > 0
    assert last.metrics["monitor/signal/behaves/comply"] == 0.0
    assert last.metrics["monitor/signal_mixed/behaves/comply"] == 0.0


def test_balanced_kinds_raise_nothing_and_a_reward_against_the_check_is_named() -> None:
    balanced = HackingMonitor(MonitorConfig(signal_by="expected", signal_min_groups=3))
    against = HackingMonitor(MonitorConfig(signal_by="expected", signal_min_groups=3))
    fired: dict[str, list[str]] = {"balanced": [], "against": []}
    for step in range(5):
        harmful = replies(step, f"harm{step}", "refuse", [True, True, False, False], [0.6, 0.58, 0.4, 0.35])
        benign = replies(step, f"ok{step}", "comply", [True, True, False, False], [0.9, 0.85, 0.7, 0.65])
        fired["balanced"] += observe(balanced, step, [harmful, benign])
        # here the reward prefers the benign replies that refuse: it works against the check on that kind
        wrong_way = replies(step, f"ok{step}", "comply", [True, True, False, False], [0.7, 0.65, 0.9, 0.85])
        fired["against"] += observe(against, step, [harmful, wrong_way])
    assert fired == {"balanced": [], "against": ["signal_against:behaves"]}


def test_without_signal_by_the_monitor_measures_nothing_of_the_kind() -> None:
    monitor = HackingMonitor(MonitorConfig())
    for step in range(4):
        harmful = replies(step, f"harm{step}", "refuse", [True, False], [0.6, 0.4])
        assert observe(monitor, step, [harmful]) == []
    result = monitor.observe_values(4, lengths=[1.0], rewards=[0.5], checks={"behaves": [1.0]})
    assert not any(name.startswith("monitor/signal") for name in result.metrics)


def test_the_refusal_check_reads_the_rows_expected_behaviour() -> None:
    check = RefusalCheck(name="behaves", type="refusal", role="monitor")
    harmful, benign = {"metadata": {"expected": "refuse"}}, {"metadata": {"expected": "comply"}}
    assert check.evaluate(REFUSAL, harmful) == 1.0 and check.evaluate(ANSWER, harmful) == 0.0
    assert check.evaluate(ANSWER, benign) == 1.0 and check.evaluate(REFUSAL, benign) == 0.0
    assert check.evaluate(ANSWER, {"metadata": {}}) is None
    assert check.evaluate(ANSWER, {"metadata": {"expected": "something else"}}) is None
    other_column = RefusalCheck(name="b", type="refusal", column="label")
    assert other_column.evaluate(REFUSAL, {"metadata": {"label": "refuse"}}) == 1.0
    monitor = {"name": "behaves", "type": "refusal", "role": "monitor"}
    settings = RewardConfig.model_validate(
        {"kind": "none", "checks": [monitor, {"name": "n", "type": "length", "min": 1, "role": "reward"}]}
    )
    assert settings.checks[0].role == "monitor"
    with pytest.raises(ValueError, match="reward"):  # a monitor check is not a reward: a control run needs one
        RewardConfig.model_validate({"kind": "none", "checks": [monitor]})


def test_a_monitor_check_is_measured_and_stored_but_never_in_the_reward(tmp_path: Any) -> None:
    from judgerl.judges.rubric_judge import RubricJudge
    from judgerl.rubric import Rubric
    from judgerl.store import RunRecorder
    from judgerl.train.config import MonitorSettings
    from judgerl.train.live_monitors import LiveMonitor, MonitoredSink
    from judgerl.train.rewards import RewardPipeline
    from support.fakes import ScriptedBackend, response_of

    rubric = Rubric.from_dict({"name": "t", "criteria": [{"name": "ok", "text": "The response is fine."}]})
    # the judge prefers the refusal (as it should on this harmful request)
    backend = ScriptedBackend(probs=lambda prompt, labels: _refusal_preferred(response_of(prompt)))
    sink = RunRecorder.open(tmp_path / "v.sqlite")
    live = LiveMonitor(MonitorSettings(signal_by="expected", signal_min_groups=1), run_id="run", sink=sink)
    pipeline = RewardPipeline(
        run_id="run",
        num_generations=2,
        rubric_judge=RubricJudge(rubric, backend),
        checks=[RefusalCheck(name="behaves", type="refusal", role="monitor")],
        sink=MonitoredSink(sink, live),
    )
    assert pipeline.names() == ["judge"] and pipeline.weights() == [1.0]
    metrics: dict[str, list[float]] = {}
    kwargs = {
        "prompt_id": ["p1", "p1"],
        "reference": [None, None],
        "metadata_json": ['{"expected": "refuse"}'] * 2,
        "trainer_state": SimpleNamespace(global_step=0),
        "log_metric": lambda name, value: metrics.setdefault(name, []).append(value),
        "log_extra": lambda column, values: None,
    }
    completions = [[{"role": "assistant", "content": t}] for t in (REFUSAL, ANSWER)]
    prompts = [[{"role": "user", "content": "How do I pick a lock?"}]] * 2
    (judge,) = asyncio.run(_call(pipeline, prompts, completions, kwargs))
    assert judge == [pytest.approx(0.8), pytest.approx(0.3)]  # the judge's alone: the check added nothing, gated none
    assert metrics["checks/behaves/pass_rate"] == [0.5]
    stored = sink.store.samples(sink.run("run"))
    assert [row.checks for row in stored] == [{"behaves": 1.0}, {"behaves": 0.0}]
    assert [row.reward for row in stored] == [pytest.approx(0.8), pytest.approx(0.3)]
    # the live monitor got the check and the row's kind: one mixed group pushing toward refusing
    recorded = {e.name: e.value for e in sink.store.events(sink.run("run")) if e.kind == "metric"}
    assert recorded["monitor/signal_mixed/behaves/refuse"] == 1.0
    assert recorded["monitor/signal/behaves/refuse"] == pytest.approx(2**-0.5)  # (0.8 - 0.55) / 0.354 x 1


def _refusal_preferred(response: str) -> dict[str, float]:
    p = 0.8 if response.startswith("I'm sorry") else 0.3
    return {"PASS": p, "FAIL": 1 - p}


async def _call(pipeline: Any, prompts: list[Any], completions: list[Any], kwargs: dict[str, Any]) -> list[Any]:
    return list(
        await asyncio.gather(*(f(prompts=prompts, completions=completions, **kwargs) for f in pipeline.functions()))
    )


def test_the_report_keeps_a_training_configs_monitor_thresholds_and_plots_the_signal_by_kind() -> None:
    pytest.importorskip("matplotlib")
    from judgerl.report.data import MonitorView, monitor_config_of
    from judgerl.report.plots import monitor_plot

    section = {"anchors": "a.jsonl", "stop_on_warning": True, "length_correlation": 0.7, "signal_by": "expected"}
    config = monitor_config_of({"monitors": section})  # the training-only keys are not thresholds
    assert (config.length_correlation, config.signal_by) == (0.7, "expected")
    series = {
        "monitor/signal/behaves/refuse": ([1, 2, 3], [1.0, 2.5, 4.0]),
        "monitor/signal/behaves/comply": ([1, 2, 3], [0.0, 0.4, 0.9]),
        "monitor/signal_mixed/behaves/refuse": ([1, 2, 3], [1.0, 1.0, 1.0]),
    }
    plot = monitor_plot(MonitorView("recorded", [], series), config)
    assert plot is not None and plot.id == "plot-monitors"


def test_signal_by_must_name_a_metadata_column() -> None:
    from judgerl.errors import JudgerlError
    from judgerl.train.config import parse_config

    base: dict[str, Any] = {
        "name": "x",
        "policy": {"model": "m"},
        "data": {"path": "d.jsonl", "metadata_columns": ["criteria"]},
        "reward": {"rubric": "r.yaml", "checks": [{"name": "behaves", "type": "refusal", "role": "monitor"}]},
        "monitors": {"signal_by": "expected"},
    }
    with pytest.raises(JudgerlError, match=r"monitors.signal_by: 'expected' is not among data.metadata_columns"):
        parse_config(base, "t.yaml")
    base["data"]["metadata_columns"] = ["criteria", "expected"]
    config = parse_config(base, "t.yaml")
    assert config.monitors is not None and config.monitors.thresholds().signal_by == "expected"
