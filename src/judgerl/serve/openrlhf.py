"""OpenRLHF's remote reward model contract (``--remote_rm_url http://host:port/get_reward``).

OpenRLHF posts ``{"query": [...], "prompts": [...], "labels": [...]}`` (openrlhf/utils/remote_rm_utils.py; forks
add keys such as ``metas``, which are ignored): each query is the decoded prompt + response with the chat
template and special tokens, each prompt the templated prompt, each label the dataset's ``--label_key`` value.
It reads ``rewards`` (advantages), ``scores`` (dynamic filtering, 0-1) and ``extra_logs``, whose values it
concatenates and splits per sample (openrlhf/trainer/ppo_utils/experience_maker.py), so every extra_logs value is
a per-sample list of numbers here: ``unscored`` (1/0), ``judge_latency_s`` and one list per criterion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from judgerl.judges.outcome import RewardOutcome, UnscoredPolicy
from judgerl.samples import Sample
from judgerl.serve.contract import SampleProblem, reference_text

#: end-of-turn and padding tokens a decoded query may end with; stripped from the response before judging
DEFAULT_STRIP_TOKENS: tuple[str, ...] = (
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|end|>",
    "<end_of_turn>",
    "<eos>",
    "</s>",
    "<pad>",
    "<|finetune_right_pad_id|>",
)


class OpenRLHFRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    query: list[str] = Field(description="Prompt + response as OpenRLHF decoded them (template, special tokens).")
    prompts: list[str] | None = Field(default=None, description="The templated prompts, one per query.")
    labels: list[Any] | None = Field(default=None, description="Reference answers (--label_key), one per query.")

    @model_validator(mode="after")
    def _same_lengths(self) -> OpenRLHFRequest:
        for name in ("prompts", "labels"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.query):
                raise ValueError(f"{name} has {len(values)} items but query has {len(self.query)}; send one per query")
        return self


class OpenRLHFResponse(BaseModel):
    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]


def split_response(query: str, prompt: str, strip_tokens: Sequence[str] = DEFAULT_STRIP_TOKENS) -> str:
    """The response part of a query: what follows its prompt, without trailing end-of-turn tokens."""
    if prompt:
        start = query.find(prompt)
        if start < 0:
            raise ValueError("the query does not contain its prompt, so the response cannot be cut out of it")
        query = query[start + len(prompt) :]
    return strip_trailing(query, strip_tokens)


def strip_trailing(text: str, tokens: Sequence[str]) -> str:
    """``text`` without trailing whitespace and end-of-turn tokens, in any mix; linear in the text's length.

    Only an end index moves, so a query ending in thousands of tokens is not copied once per token."""
    wanted = [token for token in tokens if token]
    end = len(text)
    while True:
        while end > 0 and text[end - 1].isspace():
            end -= 1
        for token in wanted:
            if text.endswith(token, 0, end):
                end -= len(token)
                break
        else:
            return text[:end]


def samples_from_openrlhf(
    request: OpenRLHFRequest, strip_tokens: Sequence[str] = DEFAULT_STRIP_TOKENS
) -> list[Sample | SampleProblem]:
    """Samples with ids '0'..'n-1' (the position in the batch); a query that cannot be split is a problem."""
    items: list[Sample | SampleProblem] = []
    for index, query in enumerate(request.query):
        prompt = request.prompts[index] if request.prompts is not None else ""
        label = request.labels[index] if request.labels is not None else None
        try:
            response = split_response(query, prompt, strip_tokens)
        except ValueError as exc:
            items.append(SampleProblem(str(index), f"query[{index}]: {exc}"))
            continue
        items.append(Sample(id=str(index), prompt=prompt, response=response, reference=reference_text(label)))
    return items


def openrlhf_response(
    outcomes: Sequence[RewardOutcome], criterion_names: Sequence[str], policy: UnscoredPolicy
) -> dict[str, Any]:
    """Rewards and per-sample logs; an unscored criterion logs the policy's value (``unscored`` tells which)."""
    rewards = [o.reward for o in outcomes]
    extra_logs: dict[str, list[float]] = {
        "unscored": [1.0 if o.unscored else 0.0 for o in outcomes],
        "judge_latency_s": [round(o.latency_s, 6) for o in outcomes],
    }
    for name in criterion_names:
        extra_logs[name] = [o.criterion_value(name, policy) for o in outcomes]
    return {"rewards": rewards, "scores": list(rewards), "extra_logs": extra_logs}
