"""Ways of asking a judge: the templates, readouts and fitted add-ons `judgerl tune` chooses among.

A :class:`Strategy` is one serialisable choice (saved in ``<rubric>.tuned.json``): a template (how the material and
the criterion are laid out), a readout (which labels are read and how they become P(PASS)), few-shot examples drawn
from labelled rows, a length correction (pairs) and a probe fitted on the judge's hidden state at the verdict
position. :func:`rubric_p_pass` and :func:`pair_p_first` are the one implementation behind both `judgerl tune` and
every door that judges with a tuned strategy, so what tune measured is what the doors run.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from judgerl.backends.base import JudgeBackend, JudgePrompt, LabelResult
from judgerl.backends.label_logprobs import probability_problem
from judgerl.judges.prompts import (
    FAIL,
    PASS,
    SYSTEM_PAIR,
    JudgedMaterial,
    _block,
    _instructions,
    _rubric_system,
    _shared_user,
    criterion_prompt,
    nonce_for,
    pair_prompt,
)
from judgerl.rubric import Criterion

RubricTemplate = Literal["current", "plain", "reply_only", "rules_first", "reference_first", "self_reference", "split"]
PairTemplate = Literal["current", "plain", "rules_first", "self_reference"]
Readout = Literal["p_pass", "graded", "average"]

RUBRIC_TEMPLATES: tuple[str, ...] = RubricTemplate.__args__  # type: ignore[attr-defined]
PAIR_TEMPLATES: tuple[str, ...] = PairTemplate.__args__  # type: ignore[attr-defined]
GRADES = ("1", "2", "3", "4", "5")
YES_NO = ("YES", "NO")
#: the templates the "average" readout averages over
AVERAGED_TEMPLATES = ("current", "plain")
SELF_REFERENCE_TOKENS = 192
_SHOT_CHARS = 600

RULES = (
    "Rules: judge only what the criterion asks. Do not reward length, confidence, formatting or politeness that the "
    "criterion does not ask for. A response that ignores or changes the task does not meet criteria about the task. "
    "A wrong final answer fails criteria about correctness however well it is explained."
)
PAIR_RULES = (
    "Rules: first decide whether each response honestly and precisely does what the task asks; a response that "
    "ignores or changes the instruction loses to one that follows it, however polished. Only then weigh "
    "helpfulness, correctness and harmlessness. Do not let the order, the length or the confidence of a response "
    "sway you."
)


class Shot(BaseModel):
    """A labelled example shown to the judge before the item (drawn from training rows only)."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    response: str = ""
    response_b: str | None = Field(default=None, description="Pairs: the second response; the label is then A or B.")
    criterion: str = ""
    label: str = Field(description="PASS / FAIL for a rubric criterion, A / B for a pair.")


class Probe(BaseModel):
    """A regularised logistic regression on the judge's hidden state at the verdict position (standardised)."""

    model_config = ConfigDict(frozen=True)

    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]
    l2: float = 1.0

    def p(self, hidden: Sequence[float]) -> float:
        if len(hidden) != len(self.weights):
            raise ValueError(f"the probe expects a hidden state of {len(self.weights)} values, got {len(hidden)}")
        z = self.bias + sum(
            w * (h - m) / s for w, h, m, s in zip(self.weights, hidden, self.mean, self.scale, strict=True)
        )
        return 1 / (1 + math.exp(-max(-60.0, min(60.0, z))))


class Strategy(BaseModel):
    """One way of asking. The default (``current`` template, ``p_pass`` readout, nothing fitted) is the plain
    log-prob verdict every door uses without a tuned file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["rubric", "pair"] = "rubric"
    template: str = "current"
    readout: Readout = "p_pass"
    shots: list[Shot] = Field(default_factory=list)
    length_weight: float = Field(default=0.0, description="Pairs: logit shift per unit of log(len A / len B).")
    probe: Probe | None = None
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per-criterion PASS thresholds fitted with this strategy's scores."
    )

    def model_post_init(self, _context: object) -> None:
        allowed = RUBRIC_TEMPLATES if self.kind == "rubric" else PAIR_TEMPLATES
        if self.template not in allowed:
            raise ValueError(f"template '{self.template}' is not one of {', '.join(allowed)} for {self.kind}s")
        if self.kind == "pair" and self.readout == "graded":
            raise ValueError("the graded readout is for rubric criteria, not pairs")

    @property
    def name(self) -> str:
        parts = [self.template]
        if self.readout != "p_pass":
            parts.append(self.readout)
        if self.shots:
            parts.append(f"{len(self.shots)}shot")
        if self.length_weight:
            parts.append("length")
        if self.probe is not None:
            parts.append("probe")
        return "+".join(parts)

    @property
    def is_plain(self) -> bool:
        return self.name == "current" and not self.thresholds

    @property
    def needs_hidden(self) -> bool:
        return self.probe is not None


def strategy_identity(strategy: Strategy) -> str:
    """A short digest of everything in a strategy that changes its verdicts (part of the verdict cache key)."""
    text = strategy.model_dump_json(exclude={"thresholds"})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Reading:
    """What one strategy read for one item: P(PASS) (pairs: P(first response better), order-averaged), or why not;
    the hidden state when asked for; the tokens spent."""

    p: float | None
    error: str | None = None
    hidden: list[float] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


# ---- rubric templates ------------------------------------------------------------------------------------------


def _shots_text(shots: Sequence[Shot], pairs: bool = False) -> str:
    if not shots:
        return ""
    lines = ["## Examples judged before (for calibration; they are not the item to judge)"]
    for number, shot in enumerate(shots, start=1):
        lines.append(f"Example {number}. Task: {shot.prompt[:_SHOT_CHARS]}")
        if pairs:
            lines += [
                f"Response A: {shot.response[:_SHOT_CHARS]}",
                f"Response B: {(shot.response_b or '')[:_SHOT_CHARS]}",
            ]
            lines.append(f"Better response: {shot.label}")
        else:
            lines += [f"Response: {shot.response[:_SHOT_CHARS]}", f"Criterion: {shot.criterion}"]
            lines.append(f"Verdict: {shot.label}")
    return "\n".join(lines) + "\n\n"


def _question(readout: Readout, plain: bool) -> tuple[str, tuple[str, ...], str]:
    """(question, labels, answer prefix) for a readout: the label read first is the PASS one."""
    if readout == "graded":
        text = "How well does the response meet the criterion, from 1 (not at all) to 5 (fully)? Answer one digit."
        return text, GRADES, "Score:"
    if plain:
        return "Answer YES or NO.", YES_NO, "Answer:"
    return f"Does the response meet the criterion? Answer {PASS} or {FAIL}.", (PASS, FAIL), "Verdict:"


def rubric_prompt(
    template: str,
    material: JudgedMaterial,
    criterion_text: str,
    instructions: str,
    readout: Readout = "p_pass",
    shots: Sequence[Shot] = (),
) -> tuple[JudgePrompt, tuple[str, ...]]:
    """The prompt of one template for one criterion, and the labels to read (the first is the passing one)."""
    examples = _shots_text(shots)
    if template == "current" and readout == "p_pass" and not shots:
        return criterion_prompt(material, Criterion(name="c", text=criterion_text), instructions), (PASS, FAIL)
    nonce = nonce_for(material.prompt, material.reference or "", secret=material.secret)
    system = _rubric_system(material, nonce, instructions)
    plain = template in ("plain", "reply_only")
    question, labels, prefix = _question(readout, plain)
    if template == "plain":
        user = (
            f"{examples}{_shared_user(material, nonce)}\n\nQuestion: {criterion_text}\nIs that true of the response? "
        )
    elif template == "reply_only":
        alone = JudgedMaterial("", material.response, None, guarded=material.guarded)
        reply = _shared_user(alone, nonce).split("## The assistant's response\n", 1)[1]
        user = f"{examples}## A reply\n{reply}\n\nQuestion: {criterion_text}\nIs that true of the reply? "
    elif template == "rules_first":
        user = f"{RULES}\n\n## Criterion\n{criterion_text}\n\n{examples}{_shared_user(material, nonce)}\n\n"
    elif template in ("reference_first", "self_reference") and material.reference is not None:
        reference = _block("reference", nonce, material.reference, material.guarded)
        rest = JudgedMaterial(material.prompt, material.response, None, guarded=material.guarded)
        user = (
            f"{examples}## A correct answer to the task (compare the response with it)\n{reference}\n\n"
            f"{_shared_user(rest, nonce)}\n\n## Criterion\n{criterion_text}\n\n"
        )
    else:  # current with another readout or shots; reference_first without a reference
        user = f"{examples}{_shared_user(material, nonce)}\n\n## Criterion\n{criterion_text}\n\n"
    return JudgePrompt(system=system, user=user + question, answer_prefix=prefix), labels


def split_criterion(text: str) -> list[str]:
    """A criterion's parts: its sentences, and the sides of a top-level ' and ' joining two clauses."""
    sentences = [s.strip() for s in re.split(r"(?<=[.;])\s+", text) if s.strip()]
    parts: list[str] = []
    for sentence in sentences:
        pieces = [p.strip(" ,.;") for p in re.split(r",? and (?=(?:the|it|its|does|is|has|no|there)\b)", sentence)]
        parts += [p + "." for p in pieces if len(p.split()) >= 3]
    return parts if len(parts) > 1 else [text]


def _read(result: LabelResult, labels: Sequence[str], readout: Readout) -> tuple[float | None, str | None]:
    problem = result.error or probability_problem(result.probs, labels)
    if problem is not None or result.probs is None:
        return None, problem or "the backend returned no label probabilities"
    if readout == "graded":
        expected = sum(int(label) * result.probs[label] for label in labels)
        return (expected - 1) / (len(labels) - 1), None
    return min(1.0, max(0.0, result.probs[labels[0]])), None


async def _label_calls(
    backend: JudgeBackend, calls: list[tuple[JudgePrompt, tuple[str, ...]]], hidden: bool
) -> list[tuple[LabelResult, list[float] | None]]:
    """Label probabilities for each (prompt, labels), grouped by labels so shared prefixes stay together."""
    out: list[tuple[LabelResult, list[float] | None] | None] = [None] * len(calls)
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, (_prompt, labels) in enumerate(calls):
        groups.setdefault(labels, []).append(index)

    async def one(labels: tuple[str, ...], members: list[int]) -> None:
        prompts = [calls[i][0] for i in members]
        if hidden:
            results = await asyncio.to_thread(backend.label_probs_with_hidden, prompts, labels)
        else:
            results = [(r, None) for r in await backend.alabel_probs(prompts, labels)]
        for i, result in zip(members, results, strict=True):
            out[i] = result

    await asyncio.gather(*(one(labels, members) for labels, members in groups.items()))
    return [r for r in out if r is not None]


async def self_reference(backend: JudgeBackend, prompt: str, instructions: str) -> tuple[str | None, int, int]:
    """The judge's own answer to the task, to compare the response with (None when generation failed)."""
    ask = JudgePrompt(
        system="You answer tasks correctly and concisely." + _instructions(instructions),
        user=f"{prompt}\n\nAnswer the task correctly and concisely; end with the final answer.",
    )
    (reply,) = await backend.agenerate([ask], SELF_REFERENCE_TOKENS)
    text = reply.text.strip() if reply.error is None and reply.text else None
    return text, reply.prompt_tokens, reply.completion_tokens


async def rubric_p_pass(
    backend: JudgeBackend,
    strategy: Strategy,
    material: JudgedMaterial,
    criteria: Sequence[Criterion],
    instructions: str,
    hidden: bool = False,
) -> list[Reading]:
    """P(PASS) of each criterion for one sample under ``strategy`` (one reading per criterion, in order);
    ``hidden``: keep the hidden state at the verdict position too (what a probe is fitted on)."""
    spent_prompt = spent_completion = 0
    if strategy.template == "self_reference":
        reference, spent_prompt, spent_completion = await self_reference(backend, material.prompt, instructions)
        if reference is not None:
            material = JudgedMaterial(material.prompt, material.response, reference, guarded=material.guarded)
    templates = list(AVERAGED_TEMPLATES) if strategy.readout == "average" else [strategy.template]
    readout: Readout = "p_pass" if strategy.readout == "average" else strategy.readout
    calls: list[tuple[JudgePrompt, tuple[str, ...]]] = []
    owners: list[int] = []  # which criterion each call belongs to
    for index, criterion in enumerate(criteria):
        shots = [s for s in strategy.shots if s.criterion == criterion.text] or [
            s for s in strategy.shots if not s.criterion
        ]
        parts = split_criterion(criterion.text) if strategy.template == "split" else [criterion.text]
        for template in templates:
            base = "current" if template == "split" else template
            for part in parts:
                calls.append(rubric_prompt(base, material, part, instructions, readout, shots))
                owners.append(index)
    results = await _label_calls(backend, calls, hidden or strategy.needs_hidden)
    readings = [Reading(p=1.0) for _ in criteria]
    sums: list[list[float]] = [[] for _ in criteria]
    for owner, (prompt_labels, (result, state)) in zip(owners, zip(calls, results, strict=True), strict=True):
        reading = readings[owner]
        reading.prompt_tokens += result.prompt_tokens
        reading.completion_tokens += result.completion_tokens
        p, problem = _read(result, prompt_labels[1], readout)
        if problem is not None or p is None:
            reading.error = reading.error or problem
            continue
        sums[owner].append(p)
        if state is not None and reading.hidden is None:
            reading.hidden = state
    readings[0].prompt_tokens += spent_prompt
    readings[0].completion_tokens += spent_completion
    for reading, values in zip(readings, sums, strict=True):
        if reading.error is not None:
            reading.p = None
        elif strategy.template == "split":
            reading.p = math.prod(values)  # every part must hold
        else:
            reading.p = sum(values) / len(values)
        if reading.p is not None and strategy.probe is not None:
            if reading.hidden is None:
                reading.p, reading.error = None, "the backend gave no hidden state for the probe"
            else:
                reading.p = strategy.probe.p(reading.hidden)
    return readings


# ---- pairs -----------------------------------------------------------------------------------------------------


def pair_template_prompt(
    template: str,
    prompt: str,
    first: str,
    second: str,
    reference: str | None,
    instructions: str,
    shots: Sequence[Shot] = (),
) -> JudgePrompt:
    """A pair prompt of one template with the responses in the given order (labels A, B)."""
    base = pair_prompt(prompt, first, second, reference, instructions)
    if template == "current" and not shots:
        return base
    nonce = nonce_for(prompt, first, second, reference or "")
    system = SYSTEM_PAIR.format(nonce=nonce, instructions=_instructions(instructions))
    body = base.user.rsplit("\n\nWhich response", 1)[0]
    examples = _shots_text(shots, pairs=True)
    if template == "plain":
        return JudgePrompt(system=system, user=f"{examples}{body}\n\nWhich reply is better, A or B?", answer_prefix="")
    if template == "rules_first":
        question = "Which response follows the task better? Answer A or B."
        return JudgePrompt(
            system=system, user=f"{PAIR_RULES}\n\n{examples}{body}\n\n{question}", answer_prefix=base.answer_prefix
        )
    question = "Which response follows the task better and is more helpful, correct and honest? Answer A or B."
    return JudgePrompt(system=system, user=f"{examples}{body}\n\n{question}", answer_prefix=base.answer_prefix)


def length_feature(response_a: str, response_b: str) -> float:
    """log(len A / len B): what a judge drawn to longer answers follows."""
    return math.log((len(response_a) + 1) / (len(response_b) + 1))


def _logit(p: float) -> float:
    p = min(1 - 1e-6, max(1e-6, p))
    return math.log(p / (1 - p))


async def pair_p_first(
    backend: JudgeBackend,
    strategy: Strategy,
    prompt: str,
    response_a: str,
    response_b: str,
    reference: str | None,
    instructions: str,
    hidden: bool = False,
) -> tuple[Reading, float | None, float | None]:
    """(reading of P(A better) averaged over both orders, P(A) in the first order, in the second) for one pair."""
    spent_prompt = spent_completion = 0
    if strategy.template == "self_reference" and reference is None:
        reference, spent_prompt, spent_completion = await self_reference(backend, prompt, instructions)
    template = "current" if strategy.template == "self_reference" else strategy.template
    templates = list(AVERAGED_TEMPLATES) if strategy.readout == "average" else [template]
    calls: list[tuple[JudgePrompt, tuple[str, ...]]] = []
    for name in templates:
        calls.append(
            (
                pair_template_prompt(name, prompt, response_a, response_b, reference, instructions, strategy.shots),
                ("A", "B"),
            )
        )
        calls.append(
            (
                pair_template_prompt(name, prompt, response_b, response_a, reference, instructions, strategy.shots),
                ("A", "B"),
            )
        )
    results = await _label_calls(backend, calls, hidden or strategy.needs_hidden)
    reading = Reading(p=None, prompt_tokens=spent_prompt, completion_tokens=spent_completion)
    firsts: list[float] = []
    seconds: list[float] = []
    hiddens: list[list[float]] = []
    for index, (result, state) in enumerate(results):
        reading.prompt_tokens += result.prompt_tokens
        reading.completion_tokens += result.completion_tokens
        problem = result.error or probability_problem(result.probs, ("A", "B"))
        if problem is not None or result.probs is None:
            reading.error = reading.error or problem or "the backend returned no label probabilities"
            continue
        # order 1 shows A first (label A = response A); order 2 shows B first (label B = response A)
        (firsts if index % 2 == 0 else seconds).append(result.probs["A" if index % 2 == 0 else "B"])
        if state is not None:
            hiddens.append(state)
    if reading.error is not None:
        return reading, None, None
    p_first, p_second = sum(firsts) / len(firsts), sum(seconds) / len(seconds)
    p = (p_first + p_second) / 2
    if strategy.length_weight:
        shifted = _logit(p) - strategy.length_weight * length_feature(response_a, response_b)
        p = 1 / (1 + math.exp(-shifted))
    if len(hiddens) >= 2:  # antisymmetric: the state with A first minus the state with B first
        reading.hidden = [a - b for a, b in zip(hiddens[0], hiddens[1], strict=True)]
    if strategy.probe is not None:
        if reading.hidden is None:
            reading.error = "the backend gave no hidden state for the probe"
            return reading, None, None
        p = strategy.probe.p(reading.hidden)
    reading.p = p
    return reading, p_first, p_second
