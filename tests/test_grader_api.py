"""OpenAI's grader API served by `judgerl serve`, driven by the real `openai` SDK over 127.0.0.1: a script that
calls client.fine_tuning.alpha.graders.run / .validate works by changing base_url."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from support.serve import DATA, running

openai = pytest.importorskip("openai")

TOKEN = "grader-api-token-0123456789"
GRADERS = DATA / "graders"


def documented(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GRADERS / name).read_text())
    return loaded


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    # the rubric server's judge backend runs the request's model graders (scripted: 0.8 when the prompt says good)
    with running({"backend": "support.serve:GraderReplyBackend"}, token=TOKEN) as url:
        yield openai.OpenAI(api_key=TOKEN, base_url=f"{url}/v1", max_retries=0)


def test_the_sdk_has_the_grader_api() -> None:
    assert hasattr(openai.OpenAI(api_key="x").fine_tuning.alpha.graders, "run")


def test_run_a_string_check_from_the_api_reference(client: Any) -> None:
    grader = documented("string_check.json")
    hit = client.fine_tuning.alpha.graders.run(grader=grader, model_sample="Paris", item={"reference_answer": "Paris"})
    miss = client.fine_tuning.alpha.graders.run(grader=grader, model_sample="Lyon", item={"reference_answer": "Paris"})
    assert (hit.reward, miss.reward) == (1.0, 0.0)
    assert hit.metadata.name == "Example string check grader" and hit.metadata.type == "string_check"
    assert hit.metadata.execution_time >= 0 and hit.metadata.token_usage is None
    assert not any(value is True for value in hit.metadata.errors.model_dump().values())


def test_run_the_api_reference_score_model_example(client: Any) -> None:
    request = documented("score_model_api_reference.json")  # OpenAI's /graders/run example request, unchanged
    result = client.fine_tuning.alpha.graders.run(**request)
    assert result.reward == pytest.approx(0.1)  # the scripted judge: 0.1 unless the prompt says "good"
    errors = result.metadata.errors.model_dump(by_alias=True)  # the SDK renames model_* fields api_model_*
    assert errors["model_grader_parse_error"] is False and errors["model_grader_server_error"] is False
    assert result.metadata.sampled_model_name == "scripted-judge" and result.metadata.token_usage == 0
    usage = result.model_grader_token_usage_per_model["scripted-judge"]  # this scripted judge counts no tokens
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_an_unscored_row_sets_the_error_flag(client: Any) -> None:
    grader = documented("string_check.json")
    result = client.fine_tuning.alpha.graders.run(grader=grader, model_sample="Paris", item={})
    assert result.reward is None and result.metadata.errors.invalid_variable_error is True
    assert "item.reference_answer" in result.metadata.model_extra["unscored_reason"]


def test_a_multi_grader_reports_sub_rewards(client: Any) -> None:
    result = client.fine_tuning.alpha.graders.run(
        grader=documented("multi.json"), model_sample="x", item={"name": "x", "email": "y"}
    )
    assert set(result.sub_rewards) == set(documented("multi.json")["graders"])
    assert result.metadata.scores == result.sub_rewards


def test_validate_returns_the_grader_and_refuses_a_bad_one(client: Any) -> None:
    grader = documented("string_check.json")
    assert client.fine_tuning.alpha.graders.validate(grader=grader).grader.name == "Example string check grader"
    with pytest.raises(openai.BadRequestError, match="operation"):
        client.fine_tuning.alpha.graders.validate(grader={**grader, "operation": "contains"})


def test_python_graders_are_refused_from_requests(client: Any) -> None:
    with pytest.raises(openai.BadRequestError, match="python graders are not run from requests"):
        client.fine_tuning.alpha.graders.run(grader=documented("python.json"), model_sample="x")


def test_the_token_guards_the_grader_api(client: Any) -> None:
    stranger = openai.OpenAI(api_key="wrong", base_url=str(client.base_url), max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.fine_tuning.alpha.graders.validate(grader=documented("string_check.json"))
