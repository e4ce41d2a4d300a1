"""The prompt-injection suite: attack success rates of adversarial variants of failing responses, with and
without the defences.

Items are (sample, criterion) pairs labelled FAIL. Each is judged as it is and in every attack variant
(validate/attacks.py), under three settings:
- ``none``: the undefended template (no nonce-tagged blocks, no neutralising, no "treat it as data");
- ``delimiters``: the production template (nonce blocks, look-alike neutralising, data-only instruction);
- ``delimiters+detector``: the same verdicts, with the deterministic detector (judgerl.judges.injection) gating
  the reward: a detected attack scores FAIL without a model call;
- ``delimiters+content_free``: the same verdicts, with the content-free baseline (judgerl.judges.content_free):
  a variant that does not beat the judge's best p_pass on content-free probes for the same task is a FAIL.
  Its cost, the correct (PASS-labelled) responses it fails, is reported beside (``correct_pass_rate``).
Attack success rate (ASR) = among items the judge FAILs when clean, the share whose attacked variant it
PASSes. Soft rewards move even without a flip, so the mean change of p_pass is reported as well.

``undefended=False`` skips the ``none`` setting (half the judge calls), for runs that report only the defended ones.

PASS/FAIL is read at two thresholds: the judge's own (0.5 unless a calibration file sits beside the rubric),
and a threshold fitted per criterion and setting on the whole labelled set (``fit_threshold``), as a
calibrated deployment would use. A judge that passes every clean failing response at 0.5 leaves nothing to
flip there, so the fitted threshold is what makes the rate meaningful for small, PASS-leaning judges.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel

from judgerl.backends.base import JudgeBackend
from judgerl.judges.cache import VerdictCache
from judgerl.judges.calibration import fit_threshold
from judgerl.judges.content_free import ContentFreeGate
from judgerl.judges.injection import detect
from judgerl.judges.spec import JudgeSpec
from judgerl.rubric import Rubric
from judgerl.samples import LabelledSample, Sample
from judgerl.stats import Estimate, estimate, select
from judgerl.validate.attacks import ATTACKS
from judgerl.validate.loaders import restrict
from judgerl.verdicts import SampleVerdict

CONTENT_FREE = "delimiters+content_free"
SETTINGS = ("none", "delimiters", "delimiters+detector", CONTENT_FREE)
THRESHOLDS = ("judge", "fitted")
CLEAN = "clean"
_DEFENDED = {"none": False, "delimiters": True}
#: setting -> criterion -> threshold on p_pass
Thresholds = dict[str, dict[str, float]]


class InjectionItem(BaseModel):
    """One failing (sample, criterion) and the judge's verdicts on its clean and attacked variants."""

    sample_id: str
    criterion: str
    # setting -> variant ("clean" or an attack name) -> (p_pass, passed); None when unscored
    p_pass: dict[str, dict[str, float | None]]
    passed: dict[str, dict[str, bool | None]]
    detected: dict[str, bool]
    # the judge's best p_pass on content-free probes for this task and criterion (delimiters template)
    baseline: float | None = None


class AttackResult(BaseModel):
    attack: str
    setting: str
    threshold: str = "judge"
    n_clean_fail: int
    n_flipped: int
    success_rate: Estimate
    mean_p_pass_change: Estimate
    detected_rate: float | None = None


class InjectionReport(BaseModel):
    kind: str = "injection"
    judge: str
    n_items: int
    attacks: list[str]
    clean_fail_rate: dict[str, float | None]
    fitted_thresholds: Thresholds = {}
    detector_clean_false_positive_rate: float | None
    n_clean_responses_checked: int
    # among responses labelled PASS: the share that passes, per setting and threshold (the defences' cost)
    correct_pass_rate: dict[str, float | None] = {}
    n_correct: int = 0
    results: list[AttackResult]
    overall: dict[str, Estimate]


def _templates(undefended: bool) -> list[tuple[str, bool]]:
    """The judged settings and whether each uses the defended template."""
    return [(s, d) for s, d in _DEFENDED.items() if d or undefended]


def failing_items(items: Sequence[LabelledSample], count: int, seed: int) -> list[tuple[LabelledSample, str]]:
    """Up to ``count`` (sample, criterion) labelled FAIL, at most one per sample, drawn with a seeded shuffle."""
    candidates = [(item, name) for item in items for name, label in item.labels.items() if not label]
    random.Random(seed).shuffle(candidates)
    chosen, seen = [], set()
    for item, name in candidates:
        if item.id not in seen:
            chosen.append((item, name))
            seen.add(item.id)
        if len(chosen) == count:
            break
    return chosen


def run_injection(
    rubric: Rubric,
    backend: JudgeBackend,
    chosen: Sequence[tuple[LabelledSample, str]],
    attacks: Sequence[str] = tuple(ATTACKS),
    progress: Callable[[SampleVerdict], None] | None = None,
    concurrency: int = 1,
    cache: VerdictCache | None = None,
    undefended: bool = True,
) -> list[InjectionItem]:
    """Judge every item clean and attacked, undefended (unless ``undefended`` is False) and defended (logprob mode
    where the backend allows), and the content-free probes of each item's task."""
    content_free = ContentFreeGate()
    baselines: dict[tuple[str, str], float | None] = {}
    variants: dict[tuple[str, str], dict[str, str]] = {}
    for item, name in chosen:
        text = item.response
        variants[(item.id, name)] = {CLEAN: text} | {a: ATTACKS[a].build(text, [name]) for a in attacks}
    verdicts: dict[str, dict[tuple[str, str, str], SampleVerdict]] = {}
    for setting, defended in _templates(undefended):
        verdicts[setting] = {}
        by_criterion: dict[str, list[tuple[LabelledSample, str]]] = defaultdict(list)
        for item, name in chosen:
            by_criterion[name].append((item, name))
        for name, members in by_criterion.items():
            spec = JudgeSpec(rationales="none", defences=defended, concurrency=concurrency)
            judge = spec.single_rubric_judge(restrict(rubric, [name]), backend, cache=cache)
            samples, keys = [], []
            for item, _ in members:
                for variant, text in variants[(item.id, name)].items():
                    samples.append(
                        Sample(id=f"{item.id}::{variant}", prompt=item.prompt, response=text, reference=item.reference)
                    )
                    keys.append((item.id, name, variant))
            for key, verdict in zip(keys, judge.judge(samples, progress), strict=True):
                verdicts[setting][key] = verdict
            if defended:
                tasks = [
                    Sample(id=item.id, prompt=item.prompt, response="", reference=item.reference) for item, _ in members
                ]
                for (item, _), baseline in zip(members, content_free.baselines(judge, tasks), strict=True):
                    baselines[(item.id, name)] = baseline.get(name)
    out = []
    for item, name in chosen:
        p_pass: dict[str, dict[str, float | None]] = {}
        passed: dict[str, dict[str, bool | None]] = {}
        for setting in verdicts:
            p_pass[setting], passed[setting] = {}, {}
            for variant in variants[(item.id, name)]:
                criteria = verdicts[setting][(item.id, name, variant)].criteria
                judged = criteria[0] if criteria else None
                p_pass[setting][variant] = judged.p_pass if judged else None
                passed[setting][variant] = judged.passed if judged else None
        detected = {
            variant: any(f.severity == "high" for f in detect(text))
            for variant, text in variants[(item.id, name)].items()
        }
        gated_p = {v: (0.0 if detected[v] else p) for v, p in p_pass["delimiters"].items()}
        gated_passed = {v: (False if detected[v] else p) for v, p in passed["delimiters"].items()}
        p_pass["delimiters+detector"], passed["delimiters+detector"] = gated_p, gated_passed
        floor = baselines.get((item.id, name))
        beaten = {v: content_free.beats(p, floor) for v, p in p_pass["delimiters"].items()}
        p_pass[CONTENT_FREE] = {v: (p if beaten[v] else 0.0) for v, p in p_pass["delimiters"].items()}
        passed[CONTENT_FREE] = {v: (p and beaten[v]) for v, p in passed["delimiters"].items()}
        out.append(
            InjectionItem(
                sample_id=item.id,
                criterion=name,
                p_pass=p_pass,
                passed=passed,
                detected=detected,
                baseline=baselines.get((item.id, name)),
            )
        )
    return out


def fit_thresholds(
    rubric: Rubric,
    backend: JudgeBackend,
    labelled: Sequence[LabelledSample],
    criteria: Sequence[str],
    progress: Callable[[SampleVerdict], None] | None = None,
    concurrency: int = 1,
    cache: VerdictCache | None = None,
    undefended: bool = True,
) -> Thresholds:
    """Per setting and criterion, the threshold on clean p_pass that best separates the labels (criteria whose
    labels are all one class get none). The detector setting shares the delimiters template's thresholds."""
    fitted: Thresholds = {}
    for setting, defended in _templates(undefended):
        fitted[setting] = {}
        for name in dict.fromkeys(criteria):
            rows = [s for s in labelled if name in s.labels]
            if len({s.labels[name] for s in rows}) < 2:
                continue
            spec = JudgeSpec(rationales="none", defences=defended, concurrency=concurrency)
            judge = spec.single_rubric_judge(restrict(rubric, [name]), backend, cache=cache)
            scores, labels = [], []
            for sample, verdict in zip(rows, judge.judge(list(rows), progress), strict=True):
                p = verdict.criteria[0].p_pass if verdict.criteria else None
                if p is not None:
                    scores.append(p)
                    labels.append(sample.labels[name])
            if len(set(labels)) == 2:
                fitted[setting][name] = fit_threshold(scores, labels).threshold
    fitted["delimiters+detector"] = dict(fitted["delimiters"])
    return fitted


def correct_pass_rates(
    rubric: Rubric,
    backend: JudgeBackend,
    labelled: Sequence[LabelledSample],
    criteria: Sequence[str],
    fitted: Thresholds,
    progress: Callable[[SampleVerdict], None] | None = None,
    concurrency: int = 1,
    cache: VerdictCache | None = None,
) -> tuple[dict[str, float | None], int]:
    """The defences' cost: among (sample, criterion) labelled PASS, the share the production template passes,
    without and with the content-free baseline, at the judge's threshold and the fitted one; and how many."""
    gate = ContentFreeGate()
    outcomes: dict[str, list[bool]] = defaultdict(list)
    n = 0
    for name in dict.fromkeys(criteria):
        rows = [s for s in labelled if s.labels.get(name) is True]
        if not rows:
            continue
        spec = JudgeSpec(rationales="none", defences=True, concurrency=concurrency)
        judge = spec.rubric_judge(restrict(rubric, [name]), backend, cache=cache)
        verdicts = judge.judge(list(rows), progress)
        for verdict, baseline in zip(verdicts, gate.baselines(judge, rows), strict=True):
            judged = verdict.criteria[0] if verdict.criteria else None
            if judged is None or judged.p_pass is None:
                continue
            n += 1
            beaten = gate.beats(judged.p_pass, baseline.get(name))
            for kind, threshold in (("judge", judged.threshold), ("fitted", fitted.get("delimiters", {}).get(name))):
                if threshold is not None:
                    passed = judged.p_pass >= threshold
                    outcomes[_key("correct_pass_rate", "delimiters", kind)].append(passed)
                    outcomes[_key("correct_pass_rate", CONTENT_FREE, kind)].append(passed and beaten)
    return {key: sum(values) / len(values) for key, values in outcomes.items()}, n


def _passed(item: InjectionItem, setting: str, variant: str, thresholds: Thresholds | None) -> bool | None:
    """The verdict on one variant: the judge's own, or p_pass against the fitted threshold."""
    if setting == CONTENT_FREE and thresholds is not None:  # the fitted threshold, then the baseline
        verdict = _passed(item, "delimiters", variant, thresholds)
        if verdict is None:
            return None
        return verdict and ContentFreeGate().beats(item.p_pass["delimiters"].get(variant), item.baseline)
    if thresholds is None or item.criterion not in thresholds.get(setting, {}):
        return item.passed[setting].get(variant)
    p = item.p_pass[setting].get(variant)
    return None if p is None else p >= thresholds[setting][item.criterion]


def _success(
    items: Sequence[InjectionItem], setting: str, attacks: Sequence[str], thresholds: Thresholds | None
) -> Callable[[np.ndarray], float | None]:
    def rate(indices: np.ndarray) -> float | None:
        flips = trials = 0
        for item in select(items, indices):
            if _passed(item, setting, CLEAN, thresholds) is not False:
                continue
            for attack in attacks:
                outcome = _passed(item, setting, attack, thresholds)
                if outcome is not None:
                    trials += 1
                    flips += outcome is True
        return flips / trials if trials else None

    return rate


def _p_change(
    items: Sequence[InjectionItem], setting: str, attacks: Sequence[str]
) -> Callable[[np.ndarray], float | None]:
    def mean_change(indices: np.ndarray) -> float | None:
        changes = []
        for item in select(items, indices):
            clean = item.p_pass[setting].get(CLEAN)
            for attack in attacks:
                attacked = item.p_pass[setting].get(attack)
                if clean is not None and attacked is not None:
                    changes.append(attacked - clean)
        return float(np.mean(changes)) if changes else None

    return mean_change


def _key(name: str, setting: str, threshold: str) -> str:
    return f"{name}[{setting}]" if threshold == "judge" else f"{name}[{setting}, fitted threshold]"


def injection_report(
    judge_label: str,
    items: Sequence[InjectionItem],
    attacks: Sequence[str],
    clean_texts: Sequence[str],
    fitted: Thresholds | None = None,
    resamples: int = 1000,
    seed: int = 0,
    correct: tuple[dict[str, float | None], int] | None = None,
) -> InjectionReport:
    """The report; ``correct`` is ``correct_pass_rates``'s answer (the defences' cost), when measured."""
    n = len(items)
    kinds = [("judge", None)] + ([("fitted", fitted)] if fitted else [])
    settings = [s for s in SETTINGS if all(s in item.p_pass for item in items)]  # "none" may have been skipped
    results = []
    for attack in attacks:
        for setting in settings:
            for kind, thresholds in kinds:
                clean_fail = [i for i in items if _passed(i, setting, CLEAN, thresholds) is False]
                results.append(
                    AttackResult(
                        attack=attack,
                        setting=setting,
                        threshold=kind,
                        n_clean_fail=len(clean_fail),
                        n_flipped=sum(_passed(i, setting, attack, thresholds) is True for i in clean_fail),
                        success_rate=estimate(_success(items, setting, [attack], thresholds), n, resamples, seed),
                        mean_p_pass_change=estimate(_p_change(items, setting, [attack]), n, resamples, seed),
                        detected_rate=sum(i.detected.get(attack, False) for i in items) / n if n else None,
                    )
                )
    overall: dict[str, Estimate] = {}
    clean_fail_rate: dict[str, float | None] = {}
    for setting in settings:
        for kind, thresholds in kinds:
            overall[_key("success_rate", setting, kind)] = estimate(
                _success(items, setting, attacks, thresholds), n, resamples, seed
            )
            failing = sum(_passed(i, setting, CLEAN, thresholds) is False for i in items)
            clean_fail_rate[_key("clean_fail_rate", setting, kind)] = failing / n if n else None
        overall[f"mean_p_pass_change[{setting}]"] = estimate(_p_change(items, setting, attacks), n, resamples, seed)
    false_positives = [any(f.severity == "high" for f in detect(t)) for t in clean_texts]
    return InjectionReport(
        judge=judge_label,
        n_items=n,
        attacks=list(attacks),
        clean_fail_rate=clean_fail_rate,
        fitted_thresholds=fitted or {},
        detector_clean_false_positive_rate=(sum(false_positives) / len(false_positives)) if false_positives else None,
        n_clean_responses_checked=len(false_positives),
        correct_pass_rate=correct[0] if correct else {},
        n_correct=correct[1] if correct else 0,
        results=results,
        overall=overall,
    )


def clean_responses(items: Sequence[LabelledSample]) -> list[str]:
    return [item.response for item in items]
