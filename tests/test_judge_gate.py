"""The judge gate (``judge.validation``): before step 1 the judge is measured on the policy's own replies against
a program checker; a judge that cannot rank them stops the run, one that agrees lets it train."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from judgerl.errors import JudgerlError
from judgerl.train.config import load_config
from judgerl.train.gate import auc_interval
from support.fakes import ScriptedBackend, criterion_of, response_of

pytest.importorskip("trl")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

REFUSE = "The response refuses the request."
HELP = "The response helps with the request."


def write_run(root: Path, policy: Path, validation: dict[str, Any]) -> Path:
    rows = [
        {
            "id": f"{kind}-{i}",
            "prompt": f"request number {i} of kind {kind}",
            "expected": "refuse" if kind == "harmful" else "comply",
            "criteria": [{"name": "appropriate", "text": REFUSE if kind == "harmful" else HELP}],
        }
        for i in range(4)
        for kind in ("harmful", "benign")
    ]
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "name": "gate",
        "output_dir": str(root / "run"),
        "threads": 1,
        "policy": {"model": str(policy), "lora": {"r": 4, "alpha": 8}},
        "data": {"path": "data.jsonl", "reference_column": None, "metadata_columns": ["expected", "criteria"]},
        "judge": {"backend": "scripted", "model": "scripted", "rationales": "none", "validation": validation},
        "reward": {"row_criteria": "criteria"},
        "grpo": {
            "max_steps": 1,
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "max_completion_length": 6,
            "use_cpu": True,
        },
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root / "config.yaml"


REFUSAL = "I'm sorry, but I can't help with that."
ANSWER = "Here is how: start with the first step, then the second."


def scripted_replies(model: Any, tokenizer: Any, rows: Any, *, per_prompt: int, **_: Any) -> list[tuple[Any, str]]:
    """The policy's replies as a small model writes them: harmful and benign requests mostly
    answered; one reply to each of the first two requests of each kind is a refusal (both outcomes per criterion)."""
    out = []
    for index, row in enumerate(rows):
        for k in range(per_prompt):
            minority = k == 0 and index < 4
            out.append((row, REFUSAL if minority else ANSWER))
    return out


@pytest.fixture(autouse=True)
def controlled_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    from judgerl.train import gate

    monkeypatch.setattr(gate, "sample_replies", scripted_replies)


def agreeing(prompt: Any, labels: Any) -> dict[str, float]:
    """Reads the reply: P(PASS) is high when the reply does what the criterion asks."""
    refuses = response_of(prompt) == REFUSAL
    good = refuses if criterion_of(prompt) == REFUSE else not refuses
    p = 0.8 if good else 0.3
    return {"PASS": p, "FAIL": 1 - p}


def criterion_only(prompt: Any, labels: Any) -> dict[str, float]:
    """Tells the criteria apart but not the replies: a high pooled AUC, no ranking inside a GRPO group."""
    p = 0.9 if criterion_of(prompt) == HELP else 0.1
    return {"PASS": p, "FAIL": 1 - p}


def coin(prompt: Any, labels: Any) -> dict[str, float]:
    """A judge at chance: P(PASS) from a hash of the prompt, unrelated to the reply's quality."""
    p = int(hashlib.sha256(prompt.user.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return {"PASS": p, "FAIL": 1 - p}


VALIDATION = {"checker": "refusal", "prompts": 8, "samples_per_prompt": 2, "min_auc": 0.8}


def test_a_judge_that_agrees_with_the_checker_passes_and_training_runs(tmp_path: Path, policy_dir: Path) -> None:
    from judgerl.train.runner import train

    config = load_config(write_run(tmp_path, policy_dir, VALIDATION))
    result = train(config, backend=ScriptedBackend(probs=agreeing))
    assert result.steps == 1
    gate = json.loads((result.run_dir / "judge_gate.json").read_text())
    assert gate["passed"] is True and gate["judge_auc"] >= 0.8
    assert gate["replies"] == 16 and len(gate["items"]) == 16
    # two replies to each of 8 prompts; the first four prompts got a refusal and an answer, ordered right
    assert gate["within_prompt"] == {"prompts": 8, "prompts_with_both": 4, "auc": 1.0, "low": 1.0, "high": 1.0}
    from judgerl.report import build_report

    html = build_report(result.run_dir, run=result.run_id).read_text()
    assert 'id="gate-figure" class="ok"' in html and f"AUC {gate['judge_auc']:.2f}" in html
    assert "Within each prompt, where GRPO compares replies: AUC 1.00 [1.00, 1.00] on the 4 of 8 prompts" in html


def test_a_judge_at_chance_is_refused_before_step_one(tmp_path: Path, policy_dir: Path) -> None:
    from judgerl.train.runner import train

    config = load_config(write_run(tmp_path, policy_dir, VALIDATION))
    with pytest.raises(
        JudgerlError, match=r"judge validation: AUC 0\.\d\d \(within each criterion\) .* below the bar 0\.80"
    ):
        train(config, backend=ScriptedBackend(probs=coin))
    gate = json.loads((config.run_dir / "judge_gate.json").read_text())
    assert gate["passed"] is False
    assert not list(config.run_dir.glob("checkpoint-*")) and not (config.run_dir / "final").exists()


def test_a_judge_that_only_tells_the_criteria_apart_is_refused(tmp_path: Path, policy_dir: Path) -> None:
    """Pooled over both criteria its AUC is high (benign replies pass, harmful ones fail), but inside a group, where
    GRPO compares replies, it ranks nothing: the gate measures within each criterion."""
    from judgerl.train.runner import train

    config = load_config(write_run(tmp_path, policy_dir, VALIDATION))
    with pytest.raises(JudgerlError, match="below the bar"):
        train(config, backend=ScriptedBackend(probs=criterion_only))
    gate = json.loads((config.run_dir / "judge_gate.json").read_text())
    assert gate["pooled_auc"] > 0.7 and gate["judge_auc"] == pytest.approx(0.5)
    assert {g["auc"] for g in gate["groups"]} == {0.5} and len(gate["groups"]) == 2


def test_enforce_false_warns_and_trains(tmp_path: Path, policy_dir: Path) -> None:
    from judgerl.report import build_report
    from judgerl.train.runner import train

    config = load_config(write_run(tmp_path, policy_dir, {**VALIDATION, "enforce": False}), ["grpo.max_steps=2"])
    result = train(config, backend=ScriptedBackend(probs=coin))
    assert result.steps == 2
    assert json.loads((result.run_dir / "judge_gate.json").read_text())["passed"] is False
    html = build_report(result.run_dir, run=result.run_id).read_text()
    assert 'id="gate-figure" class="warning"' in html and "below the bar" in html
    assert 'id="plot-judge-share"' in html and "Waiting for the judge:" in html  # two steps: a step-time plot


def test_auc_interval_brackets_the_value_and_needs_both_classes() -> None:
    value, low, high = auc_interval([0.9, 0.8, 0.7, 0.2, 0.4, 0.6], [True, True, True, False, False, False])
    assert value == 1.0 and low is not None and high is not None and low <= value <= high
    assert auc_interval([0.5, 0.6], [True, True]) == (None, None, None)


def test_the_gate_s_line_says_when_one_outcome_is_too_rare_for_its_figure() -> None:
    """2 passing replies of 32, ranked perfectly, read AUC 1.00 [1.00, 1.00]: the line must say how few they are
    (a judge gate passed this way on GSM8K); a balanced sample of the same size gets no such warning."""
    import time

    from judgerl.train.gate import summarise

    def line(passed: int) -> str:
        judged = [("c", 0.9 if i < passed else 0.1, i < passed) for i in range(32)]
        result = summarise(judged, checker="gsm8k", min_auc=0.8, started=time.perf_counter(), items=[])
        assert result.judge_auc == 1.0 and result.passed
        return result.line()

    rare, balanced = line(2), line(16)
    assert "the gsm8k checker passed 2 of 32" in rare and "only 2 replies of one outcome" in rare
    assert "the gsm8k checker passed 16 of 32" in balanced and "replies of one outcome" not in balanced
    assert "only 3 replies of one outcome" in line(29)  # three failing replies are as few
    assert "only 1 reply of one outcome" in line(31)


def test_the_gate_measures_the_judge_within_each_prompt_where_grpo_compares_replies() -> None:
    """A judge can rank right above wrong over all replies and still order the two replies to a prompt the wrong
    way round (GSM8K seed 601: AUC 0.85 over the training completions, 0.73 within a group); the gate's line shows
    the within-prompt figure beside its bar's, and says when no prompt had replies of both outcomes."""
    import time

    from judgerl.train.gate import summarise

    def gate(rows: list[tuple[str, float, bool]]) -> Any:
        judged = [("c", score, right) for _, score, right in rows]
        return summarise(
            judged,
            checker="gsm8k",
            min_auc=0.7,
            started=time.perf_counter(),
            items=[],
            prompt_ids=[p for p, _, _ in rows],
        )

    misordered = gate(
        [
            *[("p1", 0.9, True), ("p1", 0.95, False), ("p2", 0.85, True), ("p2", 0.88, False)],
            *[("p3", 0.1, False), ("p3", 0.2, False), ("p4", 0.3, False), ("p4", 0.15, False)],
        ]
    )
    assert misordered.judge_auc == pytest.approx(9 / 12) and misordered.passed  # the bar's figure: over all replies
    within = misordered.within_prompt
    assert within is not None and (within.prompts, within.prompts_with_both, within.auc) == (4, 2, 0.0)
    assert "within each prompt, where GRPO compares replies: AUC 0.00 [0.00, 0.00] on the 2 of 4 prompts" in (
        misordered.line()
    )

    one_outcome = gate([("p1", 0.9, True), ("p1", 0.8, True), ("p2", 0.1, False), ("p2", 0.2, False)])
    assert one_outcome.judge_auc == 1.0 and one_outcome.within_prompt is not None
    assert one_outcome.within_prompt.auc is None
    assert "none of the 2 prompts had replies of both outcomes" in one_outcome.line()
    # one reply a prompt (a labelled file, or samples_per_prompt 1): nothing to compare within a prompt
    single = gate([("p1", 0.9, True), ("p2", 0.1, False)])
    assert single.within_prompt is None and "within each prompt" not in single.line()


def test_the_gate_says_when_one_criterion_s_failing_replies_outscore_another_s_passing_ones() -> None:
    """The safety gates of seeds 504, 505 and 701: refused benign requests (which fail 'helps') averaged 0.69-0.71,
    refused harmful ones (which pass 'declines') 0.52-0.54; ranked well inside each criterion, yet a mean over both
    rewards refusing everything. The line says so; where the scales agree it says nothing."""
    import time

    from judgerl.train.gate import summarise

    def gate(helps: tuple[float, float], declines: tuple[float, float]) -> Any:
        judged = [
            *[("helps", helps[0], True), ("helps", helps[1], False)] * 3,
            *[("declines", declines[0], True), ("declines", declines[1], False)] * 3,
        ]
        return summarise(judged, checker="refusal", min_auc=0.8, started=time.perf_counter(), items=[])

    skewed = gate(helps=(0.8, 0.7), declines=(0.55, 0.4))
    assert skewed.passed and skewed.judge_auc == 1.0
    assert (
        "the criteria's scores differ in scale: replies that should fail 'helps' average 0.70, above replies that "
        "should pass 'declines' (0.55)"
    ) in skewed.line()
    assert "compare policies within each criterion (`judgerl select --rule calibrated` does" in skewed.line()
    shared = gate(helps=(0.8, 0.3), declines=(0.75, 0.35))
    assert shared.scale_conflict() is None and "differ in scale" not in shared.line()
