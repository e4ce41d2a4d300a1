"""One generation batch as reward functions see it: TRL's keyword arguments turned into judgerl Samples."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from judgerl.samples import Message, Sample


def completion_text(completion: Any) -> str:
    """TRL gives a completion as text, or as chat messages (the assistant turn) for chat prompts."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content") or "") for m in completion if isinstance(m, dict))
    return str(completion)


def prompt_messages(prompt: Any) -> str | list[Message]:
    if isinstance(prompt, str):
        return prompt
    messages = []
    for message in prompt:
        content = message.get("content")
        if isinstance(content, list):  # content blocks: keep the text parts
            content = "".join(block.get("text", "") for block in content if isinstance(block, dict))
        messages.append(Message(role=message.get("role", "user"), content=str(content or "")))
    return messages


@dataclass
class Batch:
    """The local share of a generation batch: one entry per completion, in TRL's order."""

    step: int
    process_index: int
    prompts: list[Any]
    texts: list[str]
    prompt_ids: list[str]
    references: list[str | None]
    metadata: list[dict[str, Any]]
    columns: dict[str, list[Any]] = field(default_factory=dict)
    log_metric: Callable[[str, float], None] | None = None
    log_extra: Callable[[str, list[Any]], None] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def offset(self) -> int:
        """Global position of this share's first completion (TRL gives every process the same count)."""
        return self.process_index * len(self.texts)

    def sample_id(self, k: int) -> str:
        return f"s{self.step}-{self.offset + k:05d}"

    def samples(self) -> list[Sample]:
        return [
            Sample(
                id=self.sample_id(k),
                prompt=prompt_messages(self.prompts[k]),
                response=self.texts[k],
                reference=self.references[k],
                metadata={**self.metadata[k], "prompt_id": self.prompt_ids[k], "position": self.offset + k},
            )
            for k in range(len(self))
        ]

    def rows(self) -> list[dict[str, Any]]:
        """Each completion's dataset row, as deterministic checks read it."""
        return [
            {"prompt_id": self.prompt_ids[k], "reference": self.references[k], "metadata": self.metadata[k]}
            for k in range(len(self))
        ]

    def metric(self, name: str, value: float | None) -> None:
        if self.log_metric is not None and value is not None:
            self.log_metric(name, float(value))

    def extra(self, column: str, values: Sequence[Any]) -> None:
        if self.log_extra is not None:
            self.log_extra(column, list(values))


def batch_from_trl(prompts: list[Any], completions: list[Any], kwargs: dict[str, Any], process_index: int) -> Batch:
    """Read the columns judgerl's data loader adds (prompt_id, reference, metadata_json); tolerate their absence
    so the reward functions also work on datasets prepared by hand."""
    count = len(completions)
    state = kwargs.get("trainer_state")
    step = int(getattr(state, "global_step", 0)) + 1  # the optimizer step these completions train
    ids = kwargs.get("prompt_id") or [str(k) for k in range(count)]
    references = kwargs.get("reference") or [None] * count
    raw_metadata = kwargs.get("metadata_json") or ["{}"] * count
    metadata = [json.loads(m) if isinstance(m, str) and m else (m or {}) for m in raw_metadata]
    skip = {"trainer_state", "log_metric", "log_extra", "completion_ids", "prompt_id", "reference", "metadata_json"}
    return Batch(
        step=step,
        process_index=process_index,
        prompts=list(prompts),
        texts=[completion_text(c) for c in completions],
        prompt_ids=[str(i) for i in ids],
        references=[r if r is None else str(r) for r in references],
        metadata=metadata,
        columns={k: v for k, v in kwargs.items() if k not in skip},
        log_metric=kwargs.get("log_metric"),
        log_extra=kwargs.get("log_extra"),
    )
