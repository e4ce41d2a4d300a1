"""The judge's reward as a pass/fail verdict at the threshold the run's gate measured (``reward.pass_fail_at_gate``).

A rubric judge's score is a probability whose scale differs between sets of criteria: on the safety task a refused
harmful request scored 0.58 and an answered one 0.38, an answered benign request 0.83 and a refused one 0.73. Used as
the reward, a refusal of a benign request then cost less than a refusal of a harmful one gained, and in groups whose
replies all behaved alike the advantages carried only the judge's taste in wording. The gate already measures, per
set of criteria, the judge's mean score on the replies the program checker passed and on those it failed; midway
between the two, a reply's score becomes a verdict: 1 above, 0 at or below. Every set of criteria then pays on one
scale, and a group whose replies all get the same verdict has no advantage to push with.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from judgerl.errors import JudgerlError

if TYPE_CHECKING:  # the report reads the recorded thresholds without the training modules
    from judgerl.train.data import PromptRow
    from judgerl.train.rubrics import RubricJudges


#: beside a run paid pass/fail: each set of criteria's threshold, for the report
THRESHOLDS_FILE = "reward_thresholds.json"


#: the gate on the policy's own replies, and the gate on a labelled file (``judge.validation.labels``)
CHECKER_GATE, LABELS_GATE = "judge_gate.json", "judge_gate_labels.json"


def gate_file(run_dir: Path) -> Path:
    """The gate the thresholds come from: the checker's where the run has one, else the labelled file's (the
    checker's path, missing, where neither was run)."""
    checker = run_dir / CHECKER_GATE
    return checker if checker.exists() or not (run_dir / LABELS_GATE).exists() else run_dir / LABELS_GATE


def gate_thresholds(run_dir: Path, needed_by: str, otherwise: str) -> dict[str, float]:
    """Each set of criteria's threshold from the run's gate: the midpoint of the judge's mean score on the replies the
    checker passed and on those it failed (a set without both outcomes has none). The gate on the policy's own
    replies where the run has one, else the gate on a labelled file (``judge.validation.labels``). ``needed_by`` and
    ``otherwise`` name, in the error, what wanted the thresholds and what the user can do instead."""
    from judgerl.train.gate import GateResult

    path = gate_file(run_dir)
    if not path.exists():
        raise JudgerlError(
            f"{path}: not found; {needed_by} takes its thresholds from the run's judge gate "
            f"(judge.validation with a policy_checker or labels, run before training); {otherwise}"
        )
    gate = GateResult.model_validate_json(path.read_text(encoding="utf-8"))
    thresholds = {
        group.criteria: (group.mean_score_passed + group.mean_score_failed) / 2
        for group in gate.groups
        if group.mean_score_passed is not None and group.mean_score_failed is not None
    }
    if not thresholds:
        raise JudgerlError(
            f"{path}: no set of criteria had gate replies both passed and failed by the checker, so the gate gives no "
            f"threshold; {otherwise}"
        )
    return thresholds


def training_thresholds(run_dir: Path, judges: RubricJudges, rows: Sequence[PromptRow]) -> dict[str, float]:
    """The gate's thresholds, checked to cover every training prompt's criteria: a prompt without one would be paid
    on another scale than the rest, which is what the pass/fail reward is for avoiding."""
    from judgerl.train.judging import row_sample
    from judgerl.train.rubrics import criteria_key

    thresholds = gate_thresholds(
        run_dir, "reward.pass_fail_at_gate", "add judge.validation, or set reward.pass_fail_at_gate: false"
    )
    missing: dict[str, list[str]] = {}
    mixed: set[str] = set()  # the sets of two or more criteria among them
    for row in rows:
        rubric = judges.rubric_for(row_sample(row, "", row.prompt_id))
        key = criteria_key(rubric)
        if key not in thresholds:
            missing.setdefault(key, []).append(row.prompt_id)
            if len(rubric.criteria) > 1:
                mixed.add(key)
    if not missing:
        return thresholds

    def described(keys: Sequence[str]) -> str:
        return "; ".join(f"'{key[:60]}' ({len(missing[key])} prompts, e.g. {missing[key][0]})" for key in keys)

    if mixed and gate_file(run_dir).name == LABELS_GATE:
        # the labelled gate measures each criterion alone; a mixed score's threshold needs replies judged as training
        raise JudgerlError(
            f"reward.pass_fail_at_gate: the labelled gate measures each criterion on its own, so it gives no threshold "
            f"for a score that mixes two or more: {described([key for key in missing if key in mixed])}. Add "
            "judge.validation.checker (a program checker for the policy's replies), or set "
            "reward.pass_fail_at_gate: false"
        )
    raise JudgerlError(
        f"reward.pass_fail_at_gate: the gate gave no threshold for {len(missing)} set(s) of criteria: none of "
        f"its replies judged under them, or not both a reply the checker passed and one it failed: "
        f"{described(list(missing))}. Raise judge.validation.prompts or samples_per_prompt, or set "
        "reward.pass_fail_at_gate: false"
    )


def pass_fail(score: float, threshold: float) -> float:
    """1.0 where the score is above the threshold, else 0.0 (as ``judgerl select --rule calibrated`` decides)."""
    return 1.0 if score > threshold else 0.0


def record_thresholds(run_dir: Path, thresholds: dict[str, float]) -> None:
    """RUN_DIR/reward_thresholds.json: what the run's reward paid by (``judgerl report`` shows it)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    payload = {"reward": "pass_fail_at_gate", "thresholds": thresholds}
    (run_dir / THRESHOLDS_FILE).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def recorded_thresholds(run_dir: Path) -> dict[str, float] | None:
    """The thresholds a run's reward paid by, or None (no file, or one that cannot be read)."""
    try:
        payload = json.loads((run_dir / THRESHOLDS_FILE).read_text(encoding="utf-8"))
        thresholds = payload["thresholds"]
        return {str(k): float(v) for k, v in thresholds.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
