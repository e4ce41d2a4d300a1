from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from judgerl import Rubric, Sample
from judgerl.backends.base import JudgePrompt
from judgerl.errors import JudgerlError
from judgerl.judges.budget import Budget, ModelPrice, PriceTable
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.samples import PairSample
from support.fakes import ScriptedBackend

RUBRIC = Rubric.from_dict({"criteria": [{"name": "a", "text": "A."}, {"name": "b", "text": "B."}]})
PRICES = PriceTable(prices={"scripted-judge": ModelPrice(input=1.0, output=4.0)})


def pass_all(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
    return {labels[0]: 0.8, labels[1]: 0.2}


def samples(count: int) -> list[Sample]:
    return [Sample(id=str(i), prompt="Say hi.", response="hi " * 10) for i in range(count)]


def tokens_per_sample() -> int:
    (verdict,) = RubricJudge(RUBRIC, ScriptedBackend(pass_all), rationales="none").judge(samples(1))
    return verdict.prompt_tokens + verdict.completion_tokens


def test_token_budget_stops_cleanly_and_reports_the_rest_unscored() -> None:
    per_sample = tokens_per_sample()
    budget = Budget(max_tokens=3 * per_sample)
    backend = ScriptedBackend(pass_all)
    verdicts = RubricJudge(RUBRIC, backend, rationales="none", concurrency=1, budget=budget).judge(samples(10))
    assert [v.id for v in verdicts] == [str(i) for i in range(10)]  # nothing lost, order kept
    assert [v.scored for v in verdicts] == [True] * 3 + [False] * 7
    assert all(v.unscored_reason and v.unscored_reason.startswith("budget exhausted") for v in verdicts[3:])
    assert len(backend.label_calls) == 3  # no judge call once the budget was spent
    assert budget.total_tokens == 3 * per_sample and budget.snapshot().exhausted is not None


def test_concurrency_overshoots_by_at_most_the_samples_in_flight() -> None:
    per_sample = tokens_per_sample()
    budget = Budget(max_tokens=2 * per_sample + 1)
    verdicts = RubricJudge(RUBRIC, ScriptedBackend(pass_all), rationales="none", concurrency=4, budget=budget).judge(
        samples(20)
    )
    scored = sum(v.scored for v in verdicts)
    assert 3 <= scored <= 3 + 4 and budget.total_tokens <= (2 + 1 + 4) * per_sample


def test_money_budget_with_prices_and_cost_per_verdict() -> None:
    per_sample = tokens_per_sample()
    (one,) = RubricJudge(RUBRIC, ScriptedBackend(pass_all), rationales="none").judge(samples(1))
    cost = PRICES.prices["scripted-judge"].cost(one.prompt_tokens, one.completion_tokens)
    budget = Budget(max_cost_usd=cost * 2.5, prices=PRICES)
    verdicts = RubricJudge(RUBRIC, ScriptedBackend(pass_all), rationales="none", concurrency=1, budget=budget).judge(
        samples(5)
    )
    assert [v.scored for v in verdicts] == [True, True, True, False, False]
    assert verdicts[0].cost_usd == pytest.approx(cost) and verdicts[4].cost_usd is None
    assert "$" in (verdicts[4].unscored_reason or "")
    snapshot = budget.snapshot()
    assert (
        snapshot.cost_usd == pytest.approx(3 * cost)
        and snapshot.prompt_tokens + snapshot.completion_tokens == 3 * per_sample
    )


def test_accounting_only_budget_and_pairs() -> None:
    budget = Budget(prices=PRICES)
    pairs = [PairSample(id=str(i), prompt="p", response_a="a", response_b="b") for i in range(3)]
    verdicts = PairwiseJudge(ScriptedBackend(pass_all), budget=budget).judge(pairs)
    assert all(v.scored and v.cost_usd is not None and v.cost_usd > 0 for v in verdicts)
    assert budget.verdicts_charged == 3 and budget.exhausted_reason() is None
    limited = Budget(max_tokens=1)
    first, second = PairwiseJudge(ScriptedBackend(pass_all), budget=limited, concurrency=1).judge(pairs[:2])
    assert first.scored and not second.scored and "budget exhausted" in (second.unscored_reason or "")


def test_set_up_mistakes() -> None:
    with pytest.raises(JudgerlError, match="needs a price table"):
        Budget(max_cost_usd=1.0)
    with pytest.raises(JudgerlError, match="max_tokens must be > 0"):
        Budget(max_tokens=0)
    budget = Budget(max_cost_usd=1.0, prices=PriceTable(prices={"other": ModelPrice(input=1, output=1)}))
    with pytest.raises(JudgerlError, match="no price for judge model 'scripted-judge'"):
        RubricJudge(RUBRIC, ScriptedBackend(pass_all), budget=budget)


def test_price_table_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("gpt-4o-mini: {input: 0.15, output: 0.60}\n")
    assert PriceTable.load(path).prices["gpt-4o-mini"].cost(1_000_000, 1_000_000) == pytest.approx(0.75)
    path.write_text("gpt-4o-mini: {input: -1, output: 0.6}\n")
    with pytest.raises(JudgerlError, match=r"model 'gpt-4o-mini', field 'input'"):
        PriceTable.load(path)
    path.write_text("gpt-4o-mini: {input: 1}\n")
    with pytest.raises(JudgerlError, match="field 'output'"):
        PriceTable.load(path)
    with pytest.raises(JudgerlError, match="price table not found"):
        PriceTable.load(tmp_path / "missing.yaml")
