from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from judgerl import CriterionVerdict, Sample, SampleVerdict
from judgerl.errors import SampleError
from judgerl.monitors import (
    HackingMonitor,
    MonitorConfig,
    anchor_drift,
    check_divergence,
    flat_group_fraction,
    length_reward_correlation,
    spearman,
)
from judgerl.monitors.anchors import AnchorSample, load_anchors
from judgerl.store import VerdictStore, store_path
from support.report_runs import anchor_set, build_run


def test_spearman_matches_pearson_of_ranks_and_handles_ties() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    ranks = lambda v: np.argsort(np.argsort(v)).astype(float)  # noqa: E731 - no ties in continuous data
    assert spearman(x, y) == pytest.approx(np.corrcoef(ranks(x), ranks(y))[0, 1])
    assert spearman(x, 3 * x + 1) == pytest.approx(1.0) and spearman(x, -np.exp(x)) == pytest.approx(-1.0)
    tied = [1, 1, 2, 2, 3, 3]
    assert spearman(tied, [1, 1, 2, 2, 3, 3]) == pytest.approx(1.0)
    assert spearman([1, 2], [2, 1]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def test_within_group_correlation_ignores_between_group_trends() -> None:
    rng = random.Random(1)
    lengths, rewards, groups = [], [], []
    for group in range(30):  # later groups are longer and better, but within a group length is noise
        for _ in range(4):
            lengths.append(100 * group + rng.randint(0, 50))
            rewards.append(group / 30 + rng.random() * 0.1)
            groups.append(group)
    assert spearman(lengths, rewards) > 0.9  # pooled: length "explains" reward
    within = length_reward_correlation(lengths, rewards, groups)
    assert within is not None and abs(within) < 0.3
    rewards_tracking = [r + length / 200 for r, length in zip(rewards, lengths, strict=True)]
    tracking = length_reward_correlation(lengths, rewards_tracking, groups)
    assert tracking is not None and tracking > 0.6
    assert length_reward_correlation([1, 2, 3, 4], [None, 0.1, None, float("nan")]) is None


def _length_warnings(seed: int, hacking: bool, tmp_path: Path) -> tuple[list[str], Path]:
    built = build_run(tmp_path / f"run-{seed}-{hacking}", length_hacking=hacking, seed=seed, steps=14)
    return built.warnings, built.run_dir


@pytest.mark.parametrize("seed", [3, 7, 11])
def test_length_monitor_fires_when_reward_tracks_length(seed: int, tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="judgerl.monitors"):
        warnings, run_dir = _length_warnings(seed, hacking=True, tmp_path=tmp_path)
    assert "length" in warnings
    assert any("reward tracks response length" in r.message for r in caplog.records)  # the training log
    with VerdictStore(store_path(run_dir), readonly=True) as store:  # the report's source
        run = store.resolve_run()
        stored = [e for e in store.events(run.id, "warning") if e.name == "length"]
        assert stored and stored[0].value is not None and stored[0].value >= stored[0].threshold
        metrics = [e for e in store.events(run.id, "metric") if e.name == "monitor/length_reward_corr"]
        assert len(metrics) >= 10  # the logger metric, every step once there is data
    assert warnings.count("length") <= 2  # re-alerts at most every realert_steps, not every step


@pytest.mark.parametrize("seed", [3, 7, 11])
def test_length_monitor_stays_quiet_when_reward_does_not_track_length(seed: int, tmp_path: Path) -> None:
    warnings, run_dir = _length_warnings(seed, hacking=False, tmp_path=tmp_path)
    assert "length" not in warnings and "collapse" not in warnings
    with VerdictStore(store_path(run_dir), readonly=True) as store:
        run = store.resolve_run()
        numbers = store.sample_numbers(run.id)
    # The quiet run is not trivially quiet: over training responses got longer and rewards higher.
    steps = sorted({r["step"] for r in numbers})
    first = [r for r in numbers if r["step"] == steps[0] and r["reward"] is not None]
    last = [r for r in numbers if r["step"] == steps[-1] and r["reward"] is not None]
    assert np.mean([r["response_chars"] for r in last]) > 1.3 * np.mean([r["response_chars"] for r in first])
    assert np.mean([r["reward"] for r in last]) > np.mean([r["reward"] for r in first])


def _verdict(sample_id: str, score: float | None, passed: tuple[bool, ...] = ()) -> SampleVerdict:
    criteria = [CriterionVerdict(name=f"c{i}", passed=p, p_pass=0.9 if p else 0.1) for i, p in enumerate(passed)]
    return SampleVerdict(id=sample_id, score=score, criteria=criteria)


def test_divergence_from_an_independent_check() -> None:
    rng = random.Random(2)
    generous, honest = HackingMonitor(MonitorConfig(min_samples=10)), HackingMonitor(MonitorConfig(min_samples=10))
    fired = {"generous": False, "honest": False}
    for step in range(6):
        samples = [Sample(id=f"{step}-{i}", prompt=f"q{i // 4}", response="r" * rng.randint(5, 50)) for i in range(16)]
        correct = [rng.random() < 0.5 for _ in samples]
        checks = [{"exact_match": c} for c in correct]
        # a generous judge scores wrong answers high; an honest one agrees with the check
        generous_verdicts = [_verdict(s.id, 0.9 if c else 0.8) for s, c in zip(samples, correct, strict=True)]
        honest_verdicts = [_verdict(s.id, 0.9 if c else 0.1) for s, c in zip(samples, correct, strict=True)]
        result = generous.observe(step, samples, generous_verdicts, checks=checks)
        fired["generous"] |= any(w.monitor == "divergence:exact_match" for w in result.warnings)
        result_honest = honest.observe(step, samples, honest_verdicts, checks=checks)
        fired["honest"] |= any(w.monitor.startswith("divergence") for w in result_honest.warnings)
        assert result_honest.metrics["monitor/agreement/exact_match"] == 1.0
    assert fired == {"generous": True, "honest": False}
    stats = check_divergence([0.9, 0.8, None], [True, False, 1.0])
    assert stats is not None and stats.n == 2 and stats.mean_abs == pytest.approx(0.45)
    assert stats.judge_minus_check == pytest.approx(0.35) and stats.agreement == 0.5


def test_divergence_against_a_named_criterion() -> None:
    monitor = HackingMonitor(MonitorConfig(min_samples=4, check_criteria={"tests_pass": "c0"}))
    samples = [Sample(id=str(i), prompt="q", response="r" * i) for i in range(8)]
    # overall scores agree with the check, but criterion c0 always passes: the check is about c0
    verdicts = [_verdict(s.id, 1.0 if i % 2 else 0.0, (True,)) for i, s in enumerate(samples)]
    result = monitor.observe(0, samples, verdicts, checks=[{"tests_pass": i % 2 == 1} for i in range(8)])
    assert result.metrics["monitor/divergence/tests_pass"] == pytest.approx((abs(0.9 - 1) + abs(0.9 - 0)) / 2)
    assert [w.monitor for w in result.warnings] == ["divergence:tests_pass"]


def test_collapse_of_verdict_diversity() -> None:
    config = MonitorConfig(collapse_steps=3)
    collapsing, healthy = HackingMonitor(config), HackingMonitor(config)
    rng = random.Random(4)
    collapse_steps, healthy_warnings = [], []
    for step in range(6):
        samples = [Sample(id=f"{step}-{i}", prompt=f"q{i // 4}", response="r" * (10 + i)) for i in range(16)]
        same = [_verdict(s.id, 1.0, (True, True)) for s in samples]
        varied = [_verdict(s.id, rng.random(), (rng.random() < 0.5, True)) for s in samples]
        if any(w.monitor == "collapse" for w in collapsing.observe(step, samples, same).warnings):
            collapse_steps.append(step)
        healthy_warnings += healthy.observe(step, samples, varied).warnings
    assert collapse_steps == [2]  # after 3 collapsed steps, and not repeated every step
    assert healthy_warnings == []
    assert flat_group_fraction([1, 1, 0.5, 0.9, None, 0.3], ["a", "a", "b", "b", "c", "c"]) == 0.5


def test_anchor_drift_and_separation() -> None:
    anchors = anchor_set()
    expected = {a.id: a.expected for a in anchors}

    def judged(flip: set[str], good: float = 0.9, bad: float = 0.1) -> list[SampleVerdict]:
        out = []
        for a in anchors:
            ok = (a.expected == "good") != (a.id in flip)
            out.append(_verdict(a.id, good if ok else bad, (ok, ok, True)))
        return out

    stable = HackingMonitor(MonitorConfig(anchor_every=5), anchors=anchors)
    assert stable.anchors_due(3)  # no baseline yet: judge the anchors at the first chance
    for step in (3, 5, 10):
        assert stable.observe_anchors(step, judged(set())).warnings == []
    assert not stable.anchors_due(7) and stable.anchors_due(15)
    assert not HackingMonitor().anchors_due(0)  # no anchor set, nothing to do
    drifting = HackingMonitor(MonitorConfig(anchor_every=5), anchors=anchors)
    drifting.observe_anchors(0, judged(set()))
    result = drifting.observe_anchors(5, judged({"good-1", "bad-1"}))
    assert {w.monitor for w in result.warnings} == {"anchor_drift", "anchor_separation"}
    drift = anchor_drift({v.id: v for v in judged(set())}, judged({"good-1"}), expected)
    # good-1 flipped its two non-constant criteria out of 4 anchors x 3 criteria
    assert drift.flip_rate == pytest.approx(2 / 12)
    assert drift.separation == pytest.approx(np.mean([0.1, 0.9]) - 0.1)
    # separation stays too small: a standing warning is not repeated until realert_steps (25) have passed
    still = drifting.observe_anchors(10, judged(set(), good=0.5, bad=0.45))
    assert still.warnings == [] and still.metrics["monitor/anchor_separation"] == pytest.approx(0.05)
    assert still.metrics["monitor/anchor_flip_rate"] == 0.0
    again = drifting.observe_anchors(30, judged(set(), good=0.5, bad=0.45))
    assert [w.monitor for w in again.warnings] == ["anchor_separation"]


def test_check_anchors_runs_the_judge(tmp_path: Path) -> None:
    built = build_run(tmp_path / "run", length_hacking=False, anchors=anchor_set(), steps=9)
    with VerdictStore(store_path(built.run_dir), readonly=True) as store:
        run = store.resolve_run()
        anchors = store.samples(run.id, source="anchor")
        # anchors were re-judged at steps 0, 4 and 8 and stored apart from the policy's samples
        assert sorted({a.step for a in anchors}) == [0, 4, 8] and len(anchors) == 3 * len(anchor_set())
        assert {a.metadata["expected"] for a in anchors} == {"good", "bad"}
        separation = [e for e in store.events(run.id, "metric") if e.name == "monitor/anchor_separation"]
        assert [e.step for e in separation] == [0, 4, 8] and all(e.value and e.value > 0.3 for e in separation)
    assert "anchor_drift" not in built.warnings


def test_monitor_config_and_anchor_file_validation(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        MonitorConfig(length_correlation=1.5)
    with pytest.raises(ValidationError):
        MonitorConfig(unknown_field=1)
    path = tmp_path / "anchors.jsonl"
    path.write_text(json.dumps({"prompt": "q", "response": "r"}) + "\n")
    with pytest.raises(SampleError, match=r"anchors.jsonl:1: field 'expected' is missing"):
        load_anchors(path)
    path.write_text(json.dumps({"prompt": "q", "response": "r", "expected": "fine"}) + "\n")
    with pytest.raises(SampleError, match=r"anchors.jsonl:1: field 'expected'"):
        load_anchors(path)
    path.write_text(json.dumps({"prompt": "q", "response": "r", "expected": "good"}) + "\n")
    with pytest.raises(SampleError, match="at least one 'good' and one 'bad'"):
        load_anchors(path)
    rows = [{"prompt": "q", "response": "r", "expected": "good"}, {"prompt": "q", "response": "x", "expected": "bad"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    loaded = load_anchors(path)
    assert [(a.id, a.expected) for a in loaded] == [("anchor-1", "good"), ("anchor-2", "bad")]
    assert isinstance(loaded[0], AnchorSample)


def test_pairwise_length_bias() -> None:
    from judgerl import PairSample
    from judgerl.judges.pairwise_judge import PairwiseJudge
    from judgerl.monitors import longer_response_win_rate
    from support.fakes import ScriptedBackend

    def block(prompt, name: str) -> str:
        return prompt.user.split(f"## Response {name}\n", 1)[1].split("\n", 2)[1]

    def verbose_judge(prompt, labels):  # prefers the longer shown response, whatever it says
        longer_first = len(block(prompt, "A")) > len(block(prompt, "B"))
        return {"A": 0.8, "B": 0.2} if longer_first else {"A": 0.2, "B": 0.8}

    def content_judge(prompt, labels):  # prefers the correct one, whatever its length
        return {"A": 0.8, "B": 0.2} if "correct" in block(prompt, "A") else {"A": 0.2, "B": 0.8}

    rng = random.Random(6)
    warned = {"verbose": [], "content": []}
    monitors = {"verbose": HackingMonitor(), "content": HackingMonitor()}
    judges = {
        "verbose": PairwiseJudge(ScriptedBackend(verbose_judge)),
        "content": PairwiseJudge(ScriptedBackend(content_judge)),
    }
    for step in range(4):
        pairs = []
        for i in range(12):
            good, bad = "correct " + "x" * rng.randint(0, 40), "wrong " + "x" * rng.randint(0, 40)
            a, b = (good, bad) if rng.random() < 0.5 else (bad, good)
            pairs.append(PairSample(id=f"{step}-{i}", prompt="q", response_a=a, response_b=b))
        for name, judge in judges.items():
            result = monitors[name].observe_pairs(step, pairs, judge.judge(pairs))
            warned[name] += [w.monitor for w in result.warnings]
            assert 0 <= result.metrics["monitor/position_consistency"] <= 1
    assert warned == {"verbose": ["length"], "content": []}
    assert longer_response_win_rate([10, 5, 3, 4], [5, 10, 3, 1], ["A", "A", "B", None]) == (0.5, 2)
