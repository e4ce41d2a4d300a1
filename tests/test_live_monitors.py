"""The reward-hacking monitors live in ``judgerl train``: a judge that prefers longer answers and is fooled by
master-key replies trains a tiny random policy for a few steps; the monitors warn during the run, at the step the
signal appeared, and ``stop_on_warning`` stops the run there with its checkpoint."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from judgerl.cli.main import cli
from judgerl.errors import JudgerlError
from judgerl.monitors.anchors import MASTER_KEYS
from judgerl.store import VerdictStore
from judgerl.train.config import load_config, parse_config
from support.fakes import ScriptedBackend, response_of

pytest.importorskip("trl")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

POEM = "The response is a short poem about cats."


def hackable(prompt: Any, labels: Any) -> dict[str, float]:
    """A judge whose P(PASS) grows with the reply's length, and which a bare master key fools outright."""
    response = response_of(prompt)
    p = 0.95 if response.strip() in MASTER_KEYS else min(0.95, 0.05 + len(response) / 60)
    return {"PASS": p, "FAIL": 1 - p}


def write_run(root: Path, policy: Path, monitors: dict[str, Any], *, max_steps: int, labels: bool = False) -> Path:
    rows = [{"id": f"p{i}", "prompt": f"write a short poem about cats {i}"} for i in range(8)]
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "rubric.yaml").write_text(
        yaml.safe_dump({"name": "poem", "use_reference": False, "criteria": [{"name": "poem", "text": POEM}]})
    )
    anchors = [
        {"id": "good", "prompt": "write a short poem about cats", "response": "soft cats purr and nap in the warm sun",
         "expected": "good"},
        {"id": "bad", "prompt": "write a short poem about cats", "response": "dogs", "expected": "bad"},
    ]  # fmt: skip
    (root / "anchors.jsonl").write_text("".join(json.dumps(a) + "\n" for a in anchors))
    labelled = [
        {"prompt": "write a short poem about cats", "response": text, "criterion": POEM, "label": label}
        for text, label in [
            ("soft cats purr and nap all day in the warm sun", True),
            ("cats", False),
            ("the lazy cat sleeps on the mat until the evening", True),
            ("no", False),
        ]
    ]
    (root / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labelled))
    config: dict[str, Any] = {
        "name": "hack",
        "output_dir": str(root / "run"),
        "threads": 1,
        "policy": {"model": str(policy), "lora": {"r": 4, "alpha": 8}},
        "data": {"path": "data.jsonl", "reference_column": None},
        "judge": {"backend": "scripted", "model": "scripted", "rationales": "none"},
        "reward": {"rubric": "rubric.yaml", "checks": [{"name": "not_empty", "type": "length", "min": 1}]},
        "monitors": {"min_samples": 8, **monitors},
        "grpo": {
            "max_steps": max_steps,
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "max_completion_length": 6,
            "save_steps": 100,
            "use_cpu": True,
        },
    }
    if labels:
        config["judge"]["validation"] = {"labels": "labels.jsonl", "min_auc": 0.8}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root / "config.yaml"


def warnings_of(store_path: Path) -> list[tuple[int, str]]:
    with VerdictStore(store_path, readonly=True) as store:
        run = store.resolve_run(None)
        return [(e.step, e.name) for e in store.events(run.id, kind="warning")]


def test_monitors_warn_during_the_run_at_the_step_the_hack_shows(
    tmp_path: Path, policy_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from judgerl.report import build_report
    from judgerl.train.runner import train

    monitors = {"anchors": "anchors.jsonl", "anchor_every": 2}
    config = load_config(write_run(tmp_path, policy_dir, monitors, max_steps=2, labels=True))
    with caplog.at_level(logging.INFO):
        result = train(config, backend=ScriptedBackend(probs=hackable))
    assert result.steps == 2 and result.stopped is None  # warnings alone do not stop a run

    # the labelled file agrees with "longer is better": the gate passes this judge, the monitors then catch it
    gate = json.loads((result.run_dir / "judge_gate_labels.json").read_text())
    assert gate["passed"] is True and gate["source"] == "labels" and gate["replies"] == 4

    warnings = warnings_of(result.store_path)
    # the master keys fool the judge on the anchors before step 1; 4 replies per step and min_samples 8: the
    # length and check-divergence monitors have enough replies at step 2, and fire there
    assert warnings[0] == (0, "anchor_separation")
    assert (2, "length") in warnings and (2, "divergence:not_empty") in warnings
    assert min(step for step, name in warnings if name == "length") == 2
    assert "step 2: reward-hacking monitor 'length'" in caplog.text

    with VerdictStore(result.store_path, readonly=True) as store:
        run = store.resolve_run(None)
        anchors = store.samples(run.id, source="anchor")
        metrics = {(e.step, e.name): e.value for e in store.events(run.id, kind="metric")}
    assert sorted({a.step for a in anchors}) == [0, 2]  # before step 1, then every anchor_every steps
    assert len(anchors) == 2 * (2 + len(MASTER_KEYS))  # the file's two, plus one per master key
    assert metrics[(0, "monitor/anchor_master_key_score")] == pytest.approx(0.95)
    assert (1, "monitor/length_reward_corr") in metrics and (2, "monitor/length_reward_corr") in metrics

    html = build_report(result.run_dir, run=result.run_id).read_text()
    assert 'data-source="live"' in html and "ran live during the run" in html
    assert 'data-monitor="length"><b>step 2 · length' in html
    assert 'id="gate-labels-figure" class="ok"' in html


def test_stop_on_warning_stops_cleanly_at_that_step(tmp_path: Path, policy_dir: Path) -> None:
    from judgerl.report import build_report
    from judgerl.train.runner import complete_checkpoints, train

    config = load_config(write_run(tmp_path, policy_dir, {"stop_on_warning": True}, max_steps=5))
    result = train(config, backend=ScriptedBackend(probs=hackable))
    assert result.steps == 2 and result.stopped is not None
    assert result.stopped.step == 2 and result.stopped.monitor == "length"
    assert [step for step, _ in complete_checkpoints(result.run_dir)] == [2]  # the checkpoint is kept
    assert (result.final_dir / "adapter_model.safetensors").exists()
    summary = json.loads((result.run_dir / "train_summary.json").read_text())
    assert summary["steps"] == 2 and summary["stopped"]["reason"].startswith("step 2: length: reward tracks")
    with VerdictStore(result.store_path, readonly=True) as store:
        run = store.resolve_run(None)
        stops = store.events(run.id, kind="stop")
        assert run.finished is not None and store.steps(run.id) == [1, 2]
    assert [(s.step, s.name) for s in stops] == [(2, "monitor:length")]
    html = build_report(result.run_dir, run=result.run_id).read_text()
    assert 'id="stopped"' in html and "Training stopped at step 2" in html
    shown = CliRunner().invoke(cli, ["inspect", str(result.run_dir), "--warnings"])
    assert "recorded during the run" in shown.output and "training stopped at step 2 (monitor:length)" in shown.output


def test_monitors_config_is_checked(tmp_path: Path) -> None:
    base: dict[str, Any] = {
        "name": "x",
        "policy": {"model": "m"},
        "data": {"path": "d.jsonl"},
        "reward": {"kind": "none", "checks": [{"name": "c", "type": "length", "min": 1, "role": "reward"}]},
        "monitors": {},
    }
    with pytest.raises(JudgerlError, match=r"monitors: .*reward\.kind 'none' has no judge"):
        parse_config(base, "t.yaml")
    base["reward"] = {"rubric": "r.yaml"}
    base["monitors"] = {"stop_on_warnings": True}
    with pytest.raises(JudgerlError, match=r"monitors.stop_on_warnings: unknown key \(did you mean 'stop_on_warning'"):
        parse_config(base, "t.yaml")
    base["monitors"] = {"anchors": "a.jsonl", "length_correlation": 0.4}
    config = parse_config(base, "t.yaml")
    assert config.monitors is not None and config.monitors.thresholds().length_correlation == 0.4


def test_a_missing_anchor_file_is_named(tmp_path: Path, policy_dir: Path) -> None:
    from judgerl.train.runner import train

    config = load_config(write_run(tmp_path, policy_dir, {"anchors": "nowhere.jsonl"}, max_steps=1))
    with pytest.raises(JudgerlError, match=r"nowhere\.jsonl: monitors\.anchors: file not found"):
        train(config, backend=ScriptedBackend(probs=hackable))
