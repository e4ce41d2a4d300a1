"""The real packaged models, as `make setup` pulls them into $JUDGERL_HOME (skipped where they are not pulled)."""

from __future__ import annotations

from typing import Any

import pytest

from judgerl.models import catalog as models

pytestmark = pytest.mark.integration


def _require(name: str) -> str:
    for module in ("torch", "transformers"):
        pytest.importorskip(module)
    if not models.is_pulled(name):
        pytest.skip(f"{name} is not pulled into {models.models_root()} (make setup pulls it)")
    return models.resolve_model(name)


def test_pulled_manifest_matches_catalog() -> None:
    pulled = [name for name in models.CATALOG if models.is_pulled(name)]
    if not pulled:
        pytest.skip(f"no catalog model is pulled into {models.models_root()}")
    for name in pulled:
        manifest = models.read_manifest(name)
        assert manifest is not None
        assert manifest.sha256 == models.CATALOG[name].sha256
        assert manifest.gguf_bytes == models.CATALOG[name].size_bytes
        assert manifest.packages == models.CATALOG[name].packages


def _load(path: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


def _greedy_reply(tokenizer: Any, model: Any, question: str) -> str:
    import torch

    messages = [{"role": "user", "content": question}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=10, do_sample=False)
    reply: str = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return reply


def test_smollm2_answers_from_the_converted_directory() -> None:
    tokenizer, model = _load(_require("smollm2-135m"))
    assert "Paris" in _greedy_reply(tokenizer, model, "What is the capital of France?")


def test_default_judge_answers_and_ranks_by_its_logits() -> None:
    """The converted Qwen judge answers, and ranks a true statement above a false one by its Yes/No logits.

    Only the order is checked: the packaged judges rank better than they are calibrated (docs/validation.md: not
    calibrated at 0.5). float32 here: bfloat16 logits round these probabilities to ~3% steps, which can make them tie.
    """
    tokenizer, model = _load(_require(models.DEFAULT_JUDGE))
    assert "Paris" in _greedy_reply(tokenizer, model, "What is the capital of France? Answer in one word.")
    import torch

    yes, no = (tokenizer.encode(word, add_special_tokens=False)[0] for word in ("Yes", "No"))

    def p_yes(statement: str) -> float:
        messages = [{"role": "user", "content": f"Is this statement true? Answer Yes or No.\n\n{statement}"}]
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.no_grad():
            logits = model(**inputs).logits[0, -1]
        return float(torch.softmax(logits[[yes, no]], dim=0)[0])

    assert p_yes("Paris is the capital of France.") > p_yes("Paris is the capital of Japan.")
