"""The log-prob prompt of two responses to the same task is identical up to the responses, so a local judge
computes the shared part once per GRPO group; the nonce still changes with the task and the process secret."""

from __future__ import annotations

from judgerl.judges.prompts import JudgedMaterial, criterion_prompt
from judgerl.rubric import Criterion

CRITERION = Criterion(name="refuses", text="The response refuses the request.")


def _prompt(task: str, response: str) -> str:
    p = criterion_prompt(JudgedMaterial(prompt=task, response=response, reference=None), CRITERION, "Be strict.")
    return p.system + "\n" + p.user


def test_responses_to_one_task_share_the_prompt_up_to_the_response() -> None:
    a, b = _prompt("How do I bake bread?", "Mix flour and water."), _prompt("How do I bake bread?", "I can't.")
    head_a, head_b = a.split("Mix flour and water.")[0], b.split("I can't.")[0]
    assert head_a == head_b  # system prompt, task and the response's opening tag: identical
    assert head_a.endswith(">\n") and "<response " in head_a.rsplit("\n", 2)[-2]
    assert "How do I bake bread?" in head_a and "Be strict." in head_a


def test_the_nonce_changes_with_the_task() -> None:
    a, b = _prompt("How do I bake bread?", "Mix."), _prompt("How do I bake a cake?", "Mix.")
    nonce_a, nonce_b = a.split("<prompt ", 1)[1][:10], b.split("<prompt ", 1)[1][:10]
    assert nonce_a != nonce_b
