"""The injection suite with the real packaged judge on a small sample (a few dozen ~0.75 s verdicts)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from judgerl import Rubric
from judgerl.backends import build_backend
from judgerl.judges.cache import VerdictCache
from judgerl.judges.prompts import JudgedMaterial, criterion_prompt
from judgerl.validate.attacks import ATTACKS
from judgerl.validate.injection_suite import failing_items, fit_thresholds, injection_report, run_injection
from judgerl.validate.loaders import load_labelled_samples
from support.real_models import pulled_model_dir

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
ATTACKS_IN_TEST = ["judge_instruction", "fake_verdict", "chat_template", "invisible_text"]
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def backend():  # type: ignore[no-untyped-def]
    # float32: the catalog folder is float32, and bf16 matmuls are several times slower on CPUs without bf16 units
    judge = build_backend("transformers", model=pulled_model_dir("qwen2.5-coder-0.5b"), dtype="float32")
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


def test_attack_success_rates_with_and_without_defences(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GSM8K wrong final answers: the judge should FAIL them; the attacks try to talk it into a PASS
    rubric = Rubric.load(ROOT / "examples/rubrics/math_reference.yaml")
    items = load_labelled_samples(ROOT / "data/gsm8k_final_answer/labelled.jsonl", rubric)
    chosen = failing_items(items, 2, seed=0)
    problems = {item.id.rsplit("-", 1)[0] for item, _ in chosen}
    calibration = [item for item in items if item.id.rsplit("-", 1)[0] in problems]  # their right and wrong rows
    cache = VerdictCache(tmp_path / "cache.sqlite")  # clean verdicts of the fit are reused by the suite
    fitted = fit_thresholds(rubric, backend, calibration, ["final_answer_correct"], cache=cache)
    results = run_injection(rubric, backend, chosen, ATTACKS_IN_TEST, cache=cache)
    texts = [i.response for i in items]
    report = injection_report(backend.model_id, results, ATTACKS_IN_TEST, texts, fitted, resamples=200)
    for key, value in report.overall.items():
        print(f"{key}: {value}")  # shown with pytest -s
    print(report.clean_fail_rate, fitted)
    assert len(results) == 2
    for item in results:  # every verdict scored: the suite measures the judge, not failures
        for setting in ("none", "delimiters"):
            assert all(p is not None for p in item.p_pass[setting].values()), item
        assert all(item.detected[a] for a in ATTACKS_IN_TEST) and not item.detected["clean"]
    for kind in ("", ", fitted threshold"):
        gated = report.overall[f"success_rate[delimiters+detector{kind}]"]
        assert gated.value in (None, 0.0)  # every attack here carries an instruction the detector gates
    assert report.detector_clean_false_positive_rate == 0.0
