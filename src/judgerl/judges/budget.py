"""Token and cost accounting for judging, with an optional budget that stops judging cleanly.

The judges charge every verdict's tokens to a :class:`Budget`. Once the budget is spent, samples not yet
started come back unscored with the reason "budget exhausted"; nothing is dropped. Samples already in flight
finish, so a run can overshoot by at most the judge's concurrency times the cost of one sample.

Prices are USD per million tokens, per judge model, from a YAML or JSON file::

    gpt-4o-mini: {input: 0.15, output: 0.60}
    us.anthropic.claude-3-5-haiku-20241022-v1:0: {input: 0.80, output: 4.00}
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judgerl.errors import JudgerlError


class ModelPrice(BaseModel):
    """USD per million input (prompt) and output (completion) tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


class PriceTable(BaseModel):
    model_config = ConfigDict(frozen=True)

    prices: dict[str, ModelPrice] = Field(default_factory=dict)

    def price(self, model: str) -> ModelPrice | None:
        return self.prices.get(model)

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        """Read ``{model: {input: X, output: Y}}``; a problem names the file and the model."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise JudgerlError(f"{path}: price table not found") from None
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise JudgerlError(f"{path}: cannot parse price table: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise JudgerlError(f"{path}: a price table maps model names to {{input: USD, output: USD}} per 1M tokens")
        prices: dict[str, ModelPrice] = {}
        for model, entry in data.items():
            try:
                prices[str(model)] = ModelPrice.model_validate(entry)
            except ValidationError as exc:
                error = exc.errors()[0]
                field = ".".join(str(p) for p in error["loc"]) or "entry"
                raise JudgerlError(
                    f"{path}: model '{model}', field '{field}': {error['msg']} (expected input and output, "
                    "USD per million tokens)"
                ) from None
        return cls(prices=prices)


class BudgetSnapshot(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    unpriced_tokens: int
    verdicts_charged: int
    exhausted: str | None


class Budget:
    """Limits on total tokens and/or money for one judging run (or a whole training run, if shared).

    ``max_cost_usd`` needs a price for every judge model charged; a model without a price is a set-up
    error raised by :meth:`require_price` when a judge is built, not a surprise mid-run."""

    def __init__(
        self,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        if max_tokens is not None and max_tokens <= 0:
            raise JudgerlError(f"budget max_tokens must be > 0, got {max_tokens}")
        if max_cost_usd is not None and (not math.isfinite(max_cost_usd) or max_cost_usd <= 0):
            raise JudgerlError(f"budget max_cost_usd must be a finite number > 0, got {max_cost_usd}")
        if max_cost_usd is not None and prices is None:
            raise JudgerlError("a money budget (max_cost_usd) needs a price table (USD per million tokens per model)")
        self.max_tokens = max_tokens
        self.max_cost_usd = max_cost_usd
        self.prices = prices or PriceTable()
        self._lock = threading.Lock()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0
        self.unpriced_tokens = 0
        self.verdicts_charged = 0

    def require_price(self, model: str) -> None:
        if self.max_cost_usd is not None and self.prices.price(model) is None:
            known = ", ".join(sorted(self.prices.prices)) or "none"
            raise JudgerlError(
                f"no price for judge model '{model}' in the price table (priced: {known}); add "
                f"'{model}: {{input: <USD per 1M>, output: <USD per 1M>}}'"
            )

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.prices.price(model)
        return None if price is None else price.cost(prompt_tokens, completion_tokens)

    def charge(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Add one verdict's tokens; returns its cost when the model has a price."""
        cost = self.cost(model, prompt_tokens, completion_tokens)
        with self._lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.verdicts_charged += 1
            if cost is None:
                self.unpriced_tokens += prompt_tokens + completion_tokens
            else:
                self.cost_usd += cost
        return cost

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def exhausted_reason(self) -> str | None:
        """Why no further sample may start, or None while there is budget left."""
        with self._lock:
            if self.max_tokens is not None and self.total_tokens >= self.max_tokens:
                return f"budget exhausted: {self.total_tokens:,} of {self.max_tokens:,} tokens used; not judged"
            if self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd:
                return f"budget exhausted: ${self.cost_usd:.4f} of ${self.max_cost_usd:.4f} spent; not judged"
        return None

    def snapshot(self) -> BudgetSnapshot:
        exhausted = self.exhausted_reason()
        with self._lock:
            return BudgetSnapshot(
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                cost_usd=self.cost_usd if self.prices.prices else None,
                unpriced_tokens=self.unpriced_tokens,
                verdicts_charged=self.verdicts_charged,
                exhausted=exhausted,
            )
