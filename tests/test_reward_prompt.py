"""SageMaker RLAIF reward prompts ({{ prompt }}, {{ ground_truth }}, {{ response }}; the judge answers
{"score", "reasoning"}) as a grader at every door: judge, serve, the Lambda and training; with the worked
example in examples/sagemaker-reward-prompt/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from judgerl.cli.main import cli
from judgerl.graders import Grader, load_spec
from judgerl.graders.spec import GraderSpecError, RewardPromptSpec, parse_spec
from judgerl.judges.grader_judge import GraderJudge
from judgerl.serve.lambda_handler import LocalContext, handler
from judgerl.train.metrics import UnscoredGuard
from judgerl.train.rewards import RewardPipeline
from support.serve import RewardPromptBackend, running
from test_train_grader import run_batch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sagemaker-reward-prompt"
PROMPT = EXAMPLE / "reward_prompt.txt"
BACKEND = "support.serve:RewardPromptBackend"
ITEM = {"prompt": "Do you ship to Canada?", "reference": "Yes, 5 business days."}


def test_a_text_file_is_a_reward_prompt() -> None:
    spec = load_spec(PROMPT)
    assert isinstance(spec, RewardPromptSpec) and spec.name == "reward_prompt"
    assert "{{ ground_truth }}" in spec.template


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Rate {{ answer }} please", "placeholder '{{ answer }}' is not one a reward prompt has"),
        ("Rate {{ prompt }} against {{ ground_truth }}", "has no {{ response }}"),
    ],
)
def test_a_bad_template_fails_in_one_line(tmp_path: Path, template: str, message: str) -> None:
    (tmp_path / "bad.txt").write_text(template)
    with pytest.raises(GraderSpecError) as raised:
        load_spec(tmp_path / "bad.txt")
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert str(raised.value).startswith(f"{tmp_path / 'bad.txt'}: field 'template':")


def test_the_judge_sees_the_three_variables_and_its_score_is_the_reward() -> None:
    backend = RewardPromptBackend()
    grader = Grader(load_spec(PROMPT), backend=backend)
    result = grader.grade(ITEM, "Yes, within 5 days.")
    assert result.reward == 8.0 and result.rationale == "scored 8"
    user = backend.generate_calls[0].user
    assert "Do you ship to Canada?" in user and "Yes, 5 business days." in user and "Yes, within 5 days." in user
    assert grader.grade(ITEM, "No.").reward == 2.0
    unreadable = grader.grade(ITEM, "ERROR")
    assert unreadable.reward is None and "no numeric 'score'" in (unreadable.unscored_reason or "")
    no_truth = grader.grade({"prompt": "q"}, "Yes")
    assert no_truth.reward is None and "no ground_truth" in (no_truth.unscored_reason or "")


def test_a_range_clamps_the_score() -> None:
    spec = parse_spec({"type": "reward_prompt", "template": "{{ response }}", "range": [0, 5]})
    assert Grader(spec, backend=RewardPromptBackend()).grade({}, "good").reward == 5.0


def test_at_the_judge_command(tmp_path: Path) -> None:
    out = tmp_path / "verdicts.jsonl"
    arguments = ["judge", "--grader", str(PROMPT), "--input", str(EXAMPLE / "samples.jsonl"), "--output", str(out)]
    result = CliRunner().invoke(cli, [*arguments, "--backend", BACKEND, "--model", "m"])
    assert result.exit_code == 0, result.output
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [v["score"] for v in verdicts] == [8.0, 2.0]
    assert verdicts[0]["criteria"][0]["rationale"] == "scored 8"


def nova_sample(answer: str) -> dict[str, Any]:
    return {
        "id": "n1",
        "messages": [{"role": "user", "content": ITEM["prompt"]}, {"role": "assistant", "content": answer}],
        "metadata": {"reference_answer": ITEM["reference"]},
    }


def test_at_the_server() -> None:
    with running({"grader": str(PROMPT), "backend": BACKEND, "rubric": None}) as url:
        results = httpx.post(f"{url}/v1/nova", json=[nova_sample("Yes, we do.")]).json()
    assert results[0]["aggregate_reward_score"] == 8.0


def test_at_the_lambda(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGERL_GRADER", str(PROMPT))
    monkeypatch.setenv("JUDGERL_BACKEND", BACKEND)
    monkeypatch.setenv("JUDGERL_MODEL", "m")
    results = handler([nova_sample("Yes, we do."), {**nova_sample("No."), "id": "n2"}], LocalContext())
    assert [r["aggregate_reward_score"] for r in results] == [8.0, 2.0]


def test_in_training_the_row_gives_prompt_and_ground_truth() -> None:
    backend = RewardPromptBackend()
    grader = GraderJudge(Grader(load_spec(PROMPT), backend=backend))
    pipeline = RewardPipeline(run_id="r", num_generations=2, grader=grader, guard=UnscoredGuard(0.5, 1, 4))
    result = run_batch(pipeline, ["Yes, 5 days.", "Nope."], [{"ground_truth": "Yes"}, {"ground_truth": "Yes"}])
    assert result["grader"] == [8.0, 2.0]
    assert "Question:\n[user]\nq\n" in backend.generate_calls[0].user  # the prompt reaches {{ prompt }}
