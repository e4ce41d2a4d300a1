"""Constructed training runs for the store, monitor and report tests.

A run is made the way the trainer makes it: each step a policy writes GRPO groups of responses, a RubricJudge
(on a ScriptedBackend) judges them with rationales for failures, and the verdicts, monitor metrics and warnings
go to the store through RunRecorder. The scripted judge reads markers in the responses ("[wrong]", "[rude]"...)
and writes a rationale drawn from a few paraphrases per defect, so failure groups are known in advance.

``length_hacking=True``: the judge's P(pass) for 'correct' rises with response length, and the policy's
responses grow, so reward tracks length. ``False``: P(pass) depends only on the defects; responses still
grow over training and the policy still improves, but within a group length says nothing about reward.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from judgerl import Rubric, Sample
from judgerl.backends.base import JudgePrompt
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.monitors import HackingMonitor, MonitorConfig
from judgerl.monitors.anchors import AnchorSample
from judgerl.store import RunRecorder, store_path
from support.fakes import ScriptedBackend, criterion_of, response_of

RUBRIC = Rubric.from_dict(
    {
        "name": "area-word-problems",
        "criteria": [
            {"name": "safe", "text": "The response contains nothing unsafe.", "gate": True},
            {"name": "correct", "text": "The final answer is numerically correct.", "weight": 2},
            {"name": "units", "text": "The final answer states its units.", "weight": 1},
            {"name": "polite", "text": "The response is polite to the user.", "weight": 1},
        ],
    }
)
CRITERION_BY_TEXT = {c.text: c.name for c in RUBRIC.criteria}
DEFECTS = {"correct": "[wrong]", "units": "[nounits]", "polite": "[rude]", "safe": "[unsafe]"}
RATIONALES = {
    "correct": [
        "The arithmetic is wrong: the area is miscalculated.",
        "An arithmetic error in the multiplication gives a wrong area.",
        "The computed area is incorrect because of an arithmetic mistake.",
    ],
    "units": [
        "The final answer omits the units (square metres).",
        "No units are given for the final area.",
        "Missing units: the area should be in square metres.",
    ],
    "polite": [
        "The tone is rude and blames the user.",
        "It is impolite and mocks the user for asking.",
        "Rude tone that belittles the user.",
    ],
    "safe": ["It suggests an unsafe shortcut."],
}
TIMEOUT_MARKER = "[timeout]"


def _unit(text: str) -> float:
    """A deterministic number in [0, 1) from text (stable noise for the scripted judge)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def scripted_judge(length_hacking: bool) -> ScriptedBackend:
    def probs(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float] | str:
        response = response_of(prompt)
        if TIMEOUT_MARKER in response:
            return "judge timed out after 30 s"
        name = CRITERION_BY_TEXT[criterion_of(prompt)]
        noise = 0.08 * _unit(name + response)
        if length_hacking and name == "correct":
            p = 1 / (1 + math.exp(-(len(response) - 260) / 50))
        else:
            p = 0.1 if DEFECTS[name] in response else 0.9
        p = min(max(p + noise - 0.04, 0.01), 0.99)
        return {"PASS": p, "FAIL": 1 - p}

    def reply(prompt: JudgePrompt) -> str:
        name = CRITERION_BY_TEXT[criterion_of(prompt)]
        options = RATIONALES[name]
        return options[int(_unit(response_of(prompt)) * len(options))]

    return ScriptedBackend(probs, reply, model_id="scripted-judge")


@dataclass
class BuiltRun:
    run_dir: Path
    run_id: int
    samples: dict[int, list[Sample]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def policy_response(rng: random.Random, step: int, steps: int, question: int) -> str:
    """A response whose defects get rarer over training and whose length grows, independently."""
    learned = step / max(steps - 1, 1)
    parts = [f"The room is {question + 2} m by {question + 3} m, so the area is {(question + 2) * (question + 3)}"]
    if rng.random() < 0.6 - 0.4 * learned:
        parts.append(DEFECTS["correct"])
    parts.append("square metres." if rng.random() > 0.4 else f"{DEFECTS['units']}.")
    if rng.random() < 0.25:
        parts.append(f"{DEFECTS['polite']} Obviously.")
    if rng.random() < 0.03:
        parts.append(DEFECTS["safe"])
    if rng.random() < 0.04:
        parts.append(TIMEOUT_MARKER)
    padding = rng.randint(0, 8) + int(6 * learned)
    parts.extend(["Let me explain the steps once more."] * padding)
    return " ".join(parts)


def build_run(
    run_dir: Path,
    *,
    length_hacking: bool,
    steps: int = 12,
    prompts_per_step: int = 4,
    group_size: int = 4,
    seed: int = 7,
    anchors: Sequence[AnchorSample] = (),
    monitor_config: MonitorConfig | None = None,
    name: str = "constructed",
) -> BuiltRun:
    rng = random.Random(seed)
    judge = RubricJudge(RUBRIC, scripted_judge(length_hacking), rationales="failures")
    config = monitor_config or MonitorConfig(anchor_every=4)
    monitor = HackingMonitor(config, anchors=anchors)
    recorder = RunRecorder.open(store_path(run_dir), {"monitors": config.model_dump()}, rubric=RUBRIC)
    built = BuiltRun(run_dir, recorder.run(name))
    with recorder:
        for step in range(steps):
            samples = []
            for q in range(prompts_per_step):
                question = (step * prompts_per_step + q) % 10
                prompt = f"A room is {question + 2} m by {question + 3} m. What is its area?"
                for j in range(group_size):
                    response = policy_response(rng, step, steps, question)
                    samples.append(Sample(id=f"s{step}-{q}-{j}", prompt=prompt, response=response))
            verdicts = judge.judge(samples)
            recorder.record_samples(name, step, samples, verdicts)
            result = monitor.observe(step, samples, verdicts)
            if monitor.anchors_due(step):
                anchor_verdicts, anchor_result = monitor.check_anchors(step, judge.judge)
                recorder.record_samples(name, step, monitor.anchors, anchor_verdicts, source="anchor")
                result.metrics.update(anchor_result.metrics)
                result.warnings.extend(anchor_result.warnings)
            recorder.record_monitor(name, step, result)
            built.samples[step] = samples
            built.warnings += [w.monitor for w in result.warnings]
    return built


def anchor_set() -> list[AnchorSample]:
    prompt = "A room is 3 m by 4 m. What is its area?"
    return [
        AnchorSample(id="good-1", prompt=prompt, response="The area is 12 square metres.", expected="good"),
        AnchorSample(id="good-2", prompt=prompt, response="3 x 4 = 12, so 12 square metres.", expected="good"),
        AnchorSample(id="bad-1", prompt=prompt, response="It is 14 [wrong] [nounits].", expected="bad"),
        AnchorSample(id="bad-2", prompt=prompt, response="[rude] Figure it out. 7 [wrong] [nounits]", expected="bad"),
    ]


HOSTILE_RESPONSE = '</script><script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2"> 12 & <b>'
HOSTILE_RATIONALE = "<i>not</i> & </script><script>window.__pwned = 3</script>"


def add_hostile_sample(run_dir: Path, step: int) -> None:
    """A response and a rationale full of markup: the report must show them as text and run none of it."""
    from judgerl import CriterionVerdict, SampleVerdict

    sample = Sample(id="hostile", prompt="<script>alert(1)</script> What is 3 x 4?", response=HOSTILE_RESPONSE)
    criteria = [CriterionVerdict(name=c.name, passed=True, p_pass=0.9) for c in RUBRIC.criteria if c.name != "units"]
    criteria.insert(2, CriterionVerdict(name="units", passed=False, p_pass=0.2, rationale=HOSTILE_RATIONALE))
    verdict = SampleVerdict(id="hostile", score=0.6, criteria=criteria, judge_model="scripted-judge")
    with RunRecorder.open(store_path(run_dir)) as recorder:
        recorder.record_samples("constructed", step, [sample], [verdict])


def add_calibrated_selection(run_dir: Path) -> None:
    """A `judgerl select --rule calibrated` file: step 20 kept, its thresholds from the run's gate."""
    from judgerl.train.selection import Selection, StepScore

    steps = [
        StepScore(
            step=step,
            policy=f"p{step}",
            label=f"l{step}",
            judge_score_mean=0.6,
            unscored=0,
            check_rate=None,
            calibrated=calibrated,
        )
        for step, calibrated in ((0, 0.5), (10, None), (20, 0.75))
    ]
    difference = {"rate": 0.25, "low": 0.1, "high": 0.4, "n": 64}
    selection = Selection(
        rule="calibrated",
        thresholds={"declines": 0.48, "helps": 0.76},
        prompts_file="validation_broad.jsonl",
        prompts=64,
        steps=steps,
        chosen_step=20,
        chosen_policy="p20",
        versus_base={"prompts": 64, "judge_difference": difference, "judge_mcnemar_p": 0.002},
    )
    (run_dir / "selection-validation_broad.json").write_text(selection.model_dump_json())


def add_selection(run_dir: Path) -> None:
    """A `judgerl select` file beside the run's store: step 10 kept by the refusal check on 32 prompts."""
    from judgerl.train.selection import Selection, StepScore

    rates = {0: {"refuse": 0.5, "comply": 0.9}, 10: {"refuse": 0.8, "comply": 0.85}, 20: {"refuse": 0.9, "comply": 0.4}}
    steps = [
        StepScore(
            step=step,
            policy="base" if step == 0 else f"runs/x/checkpoint-{step}",
            label=f"select-validation-{step}",
            judge_score_mean=0.6 + step / 100,
            unscored=0,
            check_rate=(by_kind["refuse"] + by_kind["comply"]) / 2,
            check_by_instruction=by_kind,
        )
        for step, by_kind in rates.items()
    ]
    difference = {"rate": 0.125, "low": 0.0, "high": 0.25, "n": 32}
    selection = Selection(
        rule="check",
        prompts_file="validation<broad>.jsonl",
        prompts=32,
        steps=steps,
        chosen_step=10,
        chosen_policy="runs/x/checkpoint-10",
        versus_base={"prompts": 32, "checker_difference": difference, "checker_mcnemar_p": 0.11},
    )
    (run_dir / "selection-validation.json").write_text(selection.model_dump_json())
