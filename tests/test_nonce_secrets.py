"""judge.nonce_secrets: a log-prob verdict's P(PASS) averaged over several nonce secrets (judges/nonce_secrets.py).

The nonce in the judge's prompt means nothing but moves the judge's score; averaging over secrets steadies it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from judgerl import Rubric, Sample
from judgerl.backends.base import JudgePrompt
from judgerl.errors import JudgerlError
from judgerl.judges.cache import VerdictCache
from judgerl.judges.prompts import JudgedMaterial, criterion_prompt, nonce_for, nonce_key, nonce_secret
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.judges.spec import JudgeSpec
from judgerl.rubric import Criterion
from support.fakes import ScriptedBackend, criterion_of

RUBRIC = Rubric.from_dict(
    {"criteria": [{"name": "safe", "text": "The response is safe."}, {"name": "kind", "text": "It is kind."}]}
)
SAMPLE = Sample(id="s1", prompt="Say hello.", response="Hello there.")


def nonce_in(prompt: JudgePrompt) -> str:
    found = re.search(r"marked with the code ([0-9a-f]{10})", prompt.system)
    assert found is not None, prompt.system
    return found.group(1)


def by_nonce(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
    """A judge whose P(PASS) depends on the nonce (and the criterion): what the benchmark measured."""
    digest = hashlib.sha256(f"{nonce_in(prompt)}|{criterion_of(prompt)}".encode()).digest()
    p = 0.2 + 0.6 * digest[0] / 255
    return {"PASS": p, "FAIL": 1 - p}


def test_the_score_is_the_mean_of_p_pass_over_as_many_distinct_secrets() -> None:
    backend = ScriptedBackend(by_nonce)
    (verdict,) = RubricJudge(RUBRIC, backend, rationales="none", nonce_secrets=3).judge([SAMPLE])
    prompts = [p for call in backend.label_calls for p in call]
    for criterion in verdict.criteria:
        asked = [
            p
            for p in prompts
            if criterion_of(p) == ("The response is safe." if criterion.name == "safe" else "It is kind.")
        ]
        assert len({nonce_in(p) for p in asked}) == 3
        expected = sum(by_nonce(p, ("PASS", "FAIL"))["PASS"] for p in asked) / 3
        assert criterion.p_pass == pytest.approx(expected)
        assert criterion.passed == (expected >= 0.5)
    # the first secret is the process's own: one secret asks exactly what the judge asked before
    single = ScriptedBackend(by_nonce)
    (once,) = RubricJudge(RUBRIC, single, rationales="none").judge([SAMPLE])
    first = {nonce_in(p) for p in single.label_calls[0]}
    assert first == {nonce_for("Say hello.", "")} and first < {nonce_in(p) for p in prompts}
    assert once.criteria[0].p_pass == pytest.approx(by_nonce(single.label_calls[0][0], ("PASS", "FAIL"))["PASS"])


def test_a_secret_is_derived_from_the_process_secret_and_builds_the_prompt_it_names() -> None:
    assert nonce_secret(0) is None
    assert nonce_secret(1) != nonce_secret(2)
    with nonce_key(b"another process"):
        other = nonce_secret(1)
    assert other != nonce_secret(1)  # another process's secrets differ: a policy cannot learn them
    material = JudgedMaterial("Say hello.", "Hello.", None, secret=nonce_secret(1))
    prompt = criterion_prompt(material, Criterion(name="c", text="C."), "")
    assert nonce_in(prompt) == nonce_for("Say hello.", "", secret=nonce_secret(1)) != nonce_for("Say hello.", "")


def test_a_criterion_unscored_under_one_secret_is_unscored_with_that_secrets_reason() -> None:
    second = nonce_for("Say hello.", "", secret=nonce_secret(1))

    def failing(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float] | str:
        if nonce_in(prompt) == second and criterion_of(prompt) == "It is kind.":
            return "the server closed the connection"
        return by_nonce(prompt, labels)

    (verdict,) = RubricJudge(RUBRIC, ScriptedBackend(failing), rationales="none", nonce_secrets=2).judge([SAMPLE])
    safe, kind = verdict.criteria
    assert safe.p_pass is not None
    assert kind.passed is None and kind.p_pass is None
    assert kind.unscored_reason is not None and kind.unscored_reason.startswith("nonce secret 2 of 2: ")
    assert "closed the connection" in kind.unscored_reason


def test_averaged_verdicts_are_cached_apart_from_single_ones(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path / "cache.db")
    backend = ScriptedBackend(by_nonce)
    RubricJudge(RUBRIC, backend, rationales="none", cache=cache).judge([SAMPLE])
    assert len(backend.label_calls) == 1
    RubricJudge(RUBRIC, backend, rationales="none", cache=cache, nonce_secrets=2).judge([SAMPLE])
    assert len(backend.label_calls) == 3  # the averaged judge did not read the single verdicts (one call a secret)
    RubricJudge(RUBRIC, backend, rationales="none", cache=cache, nonce_secrets=2).judge([SAMPLE])
    assert len(backend.label_calls) == 3  # ... and reads its own


def test_the_count_is_checked_where_a_user_sets_it() -> None:
    with pytest.raises(JudgerlError, match="nonce_secrets: 0"):
        RubricJudge(RUBRIC, ScriptedBackend(by_nonce), nonce_secrets=0)
    with pytest.raises(ValidationError, match="log-prob verdicts"):
        JudgeSpec(mode="generate", nonce_secrets=2)
    with pytest.raises(ValidationError):
        JudgeSpec(nonce_secrets=17)
    judge = JudgeSpec(nonce_secrets=4).single_rubric_judge(RUBRIC, ScriptedBackend(by_nonce))
    assert judge.nonce_secrets == 4
    # a backend without token probabilities falls back to generate mode, which judges once
    fallback = RubricJudge(RUBRIC, ScriptedBackend(by_nonce, supports_logprobs=False), nonce_secrets=4)
    assert fallback.nonce_secrets == 1
    # the undefended template has no nonce: k secrets would ask the same prompt k times
    assert RubricJudge(RUBRIC, ScriptedBackend(by_nonce), nonce_secrets=4, defences=False).nonce_secrets == 1


def test_on_a_real_model_the_average_is_the_mean_of_the_single_secret_judges(tiny_judge_dir: Path) -> None:
    from judgerl.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(tiny_judge_dir), dtype="float32", threads=1)
    try:
        (averaged,) = RubricJudge(RUBRIC, backend, rationales="none", nonce_secrets=2).judge([SAMPLE])
        (first,) = RubricJudge(RUBRIC, backend, rationales="none").judge([SAMPLE])
        second_secret = nonce_secret(1)
        assert second_secret is not None
        with nonce_key(second_secret):  # a process whose own secret is the second one
            (second,) = RubricJudge(RUBRIC, backend, rationales="none").judge([SAMPLE])
    finally:
        backend.close()
    for mean, one, two in zip(averaged.criteria, first.criteria, second.criteria, strict=True):
        assert one.p_pass != two.p_pass  # the nonce moves even this tiny judge
        assert mean.p_pass == pytest.approx(((one.p_pass or 0) + (two.p_pass or 0)) / 2, abs=1e-5)
