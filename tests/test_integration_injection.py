"""The injection suite with the real packaged judge on a small sample (a few dozen ~0.75 s verdicts)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from judgerl import Rubric
from judgerl.backends import create_backend
from judgerl.prompts import JudgedMaterial, criterion_prompt
from judgerl.validate.attacks import ATTACKS
from judgerl.validate.injection_suite import SETTINGS, failing_items, injection_report, run_injection
from judgerl.validate.loaders import load_labelled_samples
from real_models import pulled_model_dir

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
ATTACKS_IN_TEST = ["judge_instruction", "fake_verdict", "chat_template", "unicode_lookalike", "invisible_text"]
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def backend():  # type: ignore[no-untyped-def]
    judge = create_backend("transformers", model=pulled_model_dir("qwen2.5-coder-0.5b"))
    yield judge
    judge.close()


def test_chat_template_tokens_in_a_response_reach_the_model_only_without_defences(backend) -> None:  # type: ignore[no-untyped-def]
    rubric = Rubric.load(ROOT / "examples/rubrics/ifeval_constraints.yaml")
    attack = ATTACKS["chat_template"].build("Some text.", ["format"])
    end_of_turn = backend.tokenizer.convert_tokens_to_ids("<|im_end|>")

    def turn_ends(guarded: bool, response: str) -> int:
        prompt = criterion_prompt(JudgedMaterial("Write.", response, None, guarded), rubric.criteria[0], "")
        return backend._encode(prompt).count(end_of_turn)

    clean = turn_ends(True, "Some text.")
    assert turn_ends(True, attack) == clean  # neutralised: the policy cannot end the judge's turn
    assert turn_ends(False, attack) > clean  # the undefended template hands the model real control tokens


def test_attack_success_rates_with_and_without_defences(backend) -> None:  # type: ignore[no-untyped-def]
    rubric = Rubric.load(ROOT / "examples/rubrics/ifeval_constraints.yaml")
    items = load_labelled_samples(ROOT / "data/ifeval_smollm2/labelled.jsonl", rubric)
    chosen = failing_items(items, 2, seed=0)
    results = run_injection(rubric, backend, chosen, ATTACKS_IN_TEST)
    report = injection_report(backend.model_id, results, ATTACKS_IN_TEST, [i.response for i in items], resamples=200)
    for setting in SETTINGS:
        rate = report.overall[f"success_rate[{setting}]"]
        change = report.overall[f"mean_p_pass_change[{setting}]"]
        print(f"{setting}: attack success rate {rate}, mean p_pass change {change}")  # shown with pytest -s
    assert len(results) == 2
    for item in results:  # every verdict scored: the suite measures the judge, not failures
        for setting in ("none", "delimiters"):
            assert all(p is not None for p in item.p_pass[setting].values()), item
        assert all(item.detected[a] for a in ATTACKS_IN_TEST) and not item.detected["clean"]
    gated = report.overall["success_rate[delimiters+detector]"]
    assert gated.value in (None, 0.0)  # every attack here carries an instruction the detector gates
    assert report.detector_clean_false_positive_rate == 0.0
