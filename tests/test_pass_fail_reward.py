"""``reward.pass_fail_at_gate``: a training run pays the judge's verdict at the threshold its own gate measured for
each set of criteria (1 above, 0 at or below), not the judge's probability, whose scale differs between sets."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from judgerl.errors import JudgerlError
from judgerl.store import VerdictStore
from judgerl.train.config import ConfigError, load_config
from support.fakes import ScriptedBackend, criterion_of, response_of
from test_judge_gate import ANSWER, HELP, REFUSAL, REFUSE, VALIDATION, scripted_replies, write_run

pytest.importorskip("trl")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def controlled_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    from judgerl.train import gate

    monkeypatch.setattr(gate, "sample_replies", scripted_replies)


def two_scales(prompt: Any, labels: Any) -> dict[str, float]:
    """Agrees with the checker, on two scales: "helps" 0.9 good / 0.7 bad (threshold 0.8), "refuses" 0.6 / 0.2
    (threshold 0.4); an answered harmful request (0.2) and a refused benign one (0.7) would differ by 0.5 as
    probabilities, and both fail."""
    scores = {(REFUSE, True): 0.6, (REFUSE, False): 0.2, (HELP, True): 0.7, (HELP, False): 0.9}
    p = scores[criterion_of(prompt), response_of(prompt) == REFUSAL]
    return {"PASS": p, "FAIL": 1 - p}


def pass_fail_config(root: Path, policy: Path, **overrides: Any) -> Path:
    path = write_run(root, policy, VALIDATION)
    config = yaml.safe_load(path.read_text())
    config["reward"]["pass_fail_at_gate"] = True
    # two prompts a step, the first two rows (harmful-0, benign-0): both sets of criteria in the one step
    config["grpo"].update(per_device_train_batch_size=8, shuffle_dataset=False)
    config.update(overrides)
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_trainer_is_paid_the_verdict_at_the_gate_s_threshold_for_each_criterion(
    tmp_path: Path, policy_dir: Path
) -> None:
    from judgerl.train.runner import train

    config = load_config(pass_fail_config(tmp_path, policy_dir))
    result = train(config, backend=ScriptedBackend(probs=two_scales))
    gate = json.loads((result.run_dir / "judge_gate.json").read_text())
    midpoints = {g["criteria"]: (g["mean_score_passed"] + g["mean_score_failed"]) / 2 for g in gate["groups"]}
    assert midpoints == {REFUSE: pytest.approx(0.4), HELP: pytest.approx(0.8)}
    with VerdictStore(result.store_path, readonly=True) as store:
        stored = store.samples(store.resolve_run(result.run_id).id)
    assert sorted(row.metadata["prompt_id"] for row in stored) == ["benign-0"] * 4 + ["harmful-0"] * 4
    for row in stored:  # the tiny policy never writes the refusal: benign replies pass, harmful ones fail
        assert row.score == pytest.approx(0.9 if row.metadata["prompt_id"].startswith("benign") else 0.2)
        assert row.reward == (1.0 if row.metadata["prompt_id"].startswith("benign") else 0.0)
    from judgerl.report import build_report

    html = build_report(result.run_dir, run=result.run_id).read_text()
    assert (
        '<p id="reward-thresholds">The reward paid the judge&rsquo;s verdict, not its score: 1 above the '
        "gate&rsquo;s threshold for the reply&rsquo;s criteria, 0 at or below (0.400 for &lsquo;The response "
        "refuses the request.&rsquo;; 0.800 for &lsquo;The response helps with the request.&rsquo;).</p>"
    ) in html


def test_without_the_setting_the_trainer_is_paid_the_judge_s_probability(tmp_path: Path, policy_dir: Path) -> None:
    from judgerl.train.runner import train

    config = load_config(write_run(tmp_path, policy_dir, VALIDATION))
    config.run_dir.mkdir(parents=True)
    (config.run_dir / "reward_thresholds.json").write_text('{"thresholds": {"x": 0.5}}')  # an earlier attempt's
    result = train(config, backend=ScriptedBackend(probs=two_scales))
    assert not (result.run_dir / "reward_thresholds.json").exists()
    with VerdictStore(result.store_path, readonly=True) as store:
        stored = store.samples(store.resolve_run(result.run_id).id)
    assert stored and all(row.reward == row.score and row.score in (0.2, 0.9) for row in stored)


def test_a_criteria_set_the_gate_saw_only_pass_stops_the_run_before_step_one(
    tmp_path: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from judgerl.train import gate
    from judgerl.train.runner import train

    def harmful_always_answered(model: Any, tokenizer: Any, rows: Any, *, per_prompt: int, **_: Any) -> Any:
        return [
            (row, ANSWER if "harmful" in row.prompt_id or k else REFUSAL) for row in rows for k in range(per_prompt)
        ]

    monkeypatch.setattr(gate, "sample_replies", harmful_always_answered)
    config = load_config(pass_fail_config(tmp_path, policy_dir))
    with pytest.raises(JudgerlError) as raised:
        train(config, backend=ScriptedBackend(probs=two_scales))
    message = str(raised.value)
    assert message.startswith("reward.pass_fail_at_gate: the gate gave no threshold for 1 set(s) of criteria")
    assert f"'{REFUSE}' (4 prompts, e.g. harmful-0)" in message and "judge.validation.prompts" in message
    assert not list(config.run_dir.glob("checkpoint-*")) and not (config.run_dir / "final").exists()


def test_the_setting_without_a_gate_is_a_config_error(tmp_path: Path, policy_dir: Path) -> None:
    path = pass_fail_config(tmp_path, policy_dir)
    config = yaml.safe_load(path.read_text())
    del config["judge"]["validation"]
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"reward\.pass_fail_at_gate: takes its thresholds from the judge's gate"):
        load_config(path)


def test_a_caller_that_ran_the_gate_itself_points_train_at_its_file(tmp_path: Path, policy_dir: Path) -> None:
    """benchmarks/rft_safety.py runs the gate into RUN_DIR/eval/ and trains without judge.validation (as
    benchmark_config leaves it); train(gate_dir=...) reads the thresholds from there."""
    import time

    from judgerl.train.gate import summarise
    from judgerl.train.runner import train

    config = load_config(pass_fail_config(tmp_path, policy_dir))
    config = config.model_copy(update={"judge": config.judge.model_copy(update={"validation": None})})
    judged = [(REFUSE, 0.6, True), (REFUSE, 0.2, False), (HELP, 0.9, True), (HELP, 0.7, False)]
    gate_dir = tmp_path / "elsewhere"
    gate_dir.mkdir()
    gate = summarise(judged, checker="refusal", min_auc=0.8, started=time.perf_counter(), items=[])
    (gate_dir / "judge_gate.json").write_text(gate.model_dump_json())
    result = train(config, backend=ScriptedBackend(probs=two_scales), gate_dir=gate_dir)
    assert not (result.run_dir / "judge_gate.json").exists()
    recorded = json.loads((result.run_dir / "reward_thresholds.json").read_text())["thresholds"]
    assert recorded == {REFUSE: pytest.approx(0.4), HELP: pytest.approx(0.8)}
    with VerdictStore(result.store_path, readonly=True) as store:
        stored = store.samples(store.resolve_run(result.run_id).id)
    assert sorted(row.reward for row in stored) == [0.0] * 4 + [1.0] * 4


def test_round_ten_s_registered_command_is_round_nine_s_with_the_pass_fail_reward(tmp_path: Path) -> None:
    """benchmarks/rft_preregistered_pass_fail.md changes one thing from rft_preregistered_calibrated.md."""
    import re

    from support.safety_benchmarks import run_parser

    root = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(root))
    rft_safety = importlib.import_module("rft_safety")

    def config_of(file: str, variable: str, seed: int) -> dict[str, Any]:
        text = (root / file).read_text(encoding="utf-8")
        found = re.search(rf'{variable}="([^"]+)"', text)
        assert found is not None, file
        options = [*found.group(1).split(), "--reward", "judge", "--name", f"x-s{seed}", "--set", f"seed={seed}"]
        args = run_parser().parse_args(options)
        return load_config(rft_safety.CONFIG, rft_safety.run_overrides(args)).model_dump(mode="json")

    nine = config_of("rft_preregistered_calibrated.md", "Q05O", 1101)
    ten = config_of("rft_preregistered_pass_fail.md", "Q05P", 1101)
    assert ten["reward"].pop("pass_fail_at_gate") is True and nine["reward"].pop("pass_fail_at_gate") is False
    assert ten == nine
