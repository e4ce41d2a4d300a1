"""JsonVerdictWriter: generate-mode verdicts for a backend without label probabilities (Bedrock, or any server
that gives no logprobs). The judge writes JSON with a reason before each verdict, for all criteria in one reply
or one reply per criterion; the verdict is parsed from its text.

An unparsable reply gets one repair prompt (the reply shown, valid JSON asked for). A reply that judged only some
criteria keeps those verdicts, and the retry asks afresh for the others only: small judges often drop the last
criteria of a long list. What stays unusable is returned unscored, with the last raw reply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from judgerl.backends.base import JudgeBackend, JudgePrompt
from judgerl.judges.base import Usage
from judgerl.judges.garbage import garbage_reason
from judgerl.judges.parsing import ParsedVerdict, ParseError, parse_some_verdicts
from judgerl.judges.prompts import JudgedMaterial, json_verdicts_prompt, repair_prompt
from judgerl.rubric import Criterion
from judgerl.verdicts import CriterionVerdict

logger = logging.getLogger(__name__)

#: builds a scored verdict from (criterion, passed, reason): the judge's thresholds live with the judge
MakeVerdict = Callable[[Criterion, bool, "str | None"], CriterionVerdict]


class JsonVerdictWriter:
    """Asks a backend for JSON verdicts on some criteria of one judged material (see the module docstring)."""

    def __init__(
        self,
        backend: JudgeBackend,
        instructions: str,
        make_verdict: MakeVerdict,
        *,
        max_new_tokens: int,
        reason_first: bool,
        per_criterion: bool,
    ) -> None:
        self.backend = backend
        self.instructions = instructions
        self.make_verdict = make_verdict
        self.max_new_tokens = max_new_tokens
        self.reason_first = reason_first
        self.per_criterion = per_criterion

    async def verdicts(
        self, material: JudgedMaterial, criteria: list[Criterion], usage: Usage
    ) -> tuple[dict[str, CriterionVerdict], str | None]:
        """A verdict for every criterion (scored or unscored), and the raw replies that left some unscored."""
        groups = [[c] for c in criteria] if self.per_criterion else [criteria]
        outcomes = await asyncio.gather(*(self._generate_group(material, group, usage) for group in groups))
        verdicts: dict[str, CriterionVerdict] = {}
        raw_replies = []
        for group_verdicts, raw in outcomes:
            verdicts.update(group_verdicts)
            if raw is not None:
                raw_replies.append(raw)
        return verdicts, ("\n---\n".join(raw_replies) if raw_replies else None)

    def _parsed_verdicts(
        self, pending: list[Criterion], parsed: dict[str, ParsedVerdict], prompt: JudgePrompt
    ) -> dict[str, CriterionVerdict]:
        """Verdicts parsed from the judge's JSON, each reason kept only when it is not garbage (judgerl.judges.
        garbage; its JSON string was closed, so it was not cut off). No rewrite: the reason came with the verdict."""
        verdicts: dict[str, CriterionVerdict] = {}
        for c in pending:
            if c.name not in parsed:
                continue
            reason = parsed[c.name].reason
            verdict = self.make_verdict(c, parsed[c.name].passed, reason)
            problem = None if reason is None else garbage_reason(reason, prompt, complete=True)
            if problem is not None:
                logger.info("reason for %s dropped (%s): %r", c.name, problem, (reason or "")[:120])
                verdict = verdict.model_copy(update={"rationale": None, "rationale_dropped": problem})
            verdicts[c.name] = verdict
        return verdicts

    async def _generate_group(
        self, material: JudgedMaterial, criteria: list[Criterion], usage: Usage
    ) -> tuple[dict[str, CriterionVerdict], str | None]:
        """One JSON reply for these criteria, with one retry; returns the last raw reply when some stay unusable."""
        prompt = await asyncio.to_thread(json_verdicts_prompt, material, criteria, self.instructions, self.reason_first)
        asked = prompt  # a reason repeating the reply a repair prompt quotes is no echo of the question
        pending = list(criteria)
        verdicts: dict[str, CriterionVerdict] = {}
        problems: dict[str, str] = {}
        raw_replies: list[str] = []
        for attempt in range(2):
            (reply,) = await self.backend.agenerate([prompt], self.max_new_tokens)
            usage.prompt_tokens += reply.prompt_tokens
            usage.completion_tokens += reply.completion_tokens
            reply_text = reply.text or ""
            if reply.error is not None:
                problems = {c.name: f"judge call failed: {reply.error}" for c in pending}
                if reply_text:
                    raw_replies.append(reply_text)
                break  # the backend already retried what it could; a repair prompt will not help
            names = [c.name for c in pending]
            try:
                parsed, reasons = parse_some_verdicts(reply_text, names)
            except ParseError as exc:
                problems = {name: f"unparsable judge reply: {exc}" for name in names}
                raw_replies.append(reply_text)
                if attempt == 0:
                    prompt = repair_prompt(prompt, reply_text, str(exc))
                continue
            verdicts.update(await asyncio.to_thread(self._parsed_verdicts, pending, parsed, asked))
            pending = [c for c in pending if c.name not in parsed]
            problems = {name: f"unparsable judge reply: {reason}" for name, reason in reasons.items()}
            if not pending:
                break
            raw_replies.append(reply_text)
            if attempt == 0:
                prompt = await asyncio.to_thread(
                    json_verdicts_prompt, material, pending, self.instructions, self.reason_first
                )
        for c in pending:
            verdicts[c.name] = CriterionVerdict(
                name=c.name, passed=None, unscored_reason=problems.get(c.name, "no verdict")
            )
        # the last reply is the one that left these criteria unscored
        return verdicts, (raw_replies[-1] if pending and raw_replies else None)
