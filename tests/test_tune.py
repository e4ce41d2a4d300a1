"""`judgerl tune`: the right way of asking is chosen by cross-validation and confirmed on held-apart items, a probe
learns from hidden states, and the saved choice is what every door asks with."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from judgerl.cli.main import cli
from judgerl.judges.tuned import load_tuned, tuned_path
from judgerl.rubric import Rubric
from judgerl.samples import LabelledSample, PairSample
from judgerl.tune.candidates import PairTask, RubricTask, choose_candidates, pair_candidates, rubric_candidates
from judgerl.tune.search import Search
from judgerl.validate.loaders import LabelledPair
from support.tuning import PlainRight, RulesRight

RUBRIC = {"name": "r", "use_reference": False, "criteria": [{"name": "correct", "text": "The answer is correct."}]}


def labelled(n: int = 30) -> list[LabelledSample]:
    rows = []
    for i in range(n):
        good = i % 2 == 0
        response = f"a {'good' if good else 'weak'} answer number {i}"
        rows.append(LabelledSample(id=f"s{i}", prompt=f"question {i}", response=response, labels={"correct": good}))
    return rows


def test_the_one_right_way_of_asking_is_chosen_and_confirmed_on_held_apart_items() -> None:
    task = RubricTask(Rubric.model_validate(RUBRIC), labelled(), PlainRight())
    result = Search(task, folds=3, holdout=0.3, seed=1).run(rubric_candidates(), resamples=200)
    assert result.chosen == "plain"
    assert result.strategy.template == "plain" and result.strategy.readout == "p_pass"
    by_name = {c.name: c for c in result.candidates}
    assert by_name["plain"].cv == 1.0 and by_name["current"].cv == 0.5
    assert "current+probe" not in by_name  # a scripted backend has no hidden states: the probe is skipped
    # the held-apart figure is measured on items that chose nothing, beside the plain verdict on the same items
    assert result.heldout_items == 9 and result.heldout.figure.n == 9
    assert result.heldout.figure.value == 1.0 and result.plain.figure.value == 0.5
    assert result.difference.value == pytest.approx(0.5)


def pairs(n: int = 24) -> list[LabelledPair]:
    out = []
    for i in range(n):
        follows, polished = "FOLLOWS it " + "x" * (i % 5), "a polished answer that ignores it " + "y" * (i % 7)
        first_follows = i % 2 == 0
        a, b = (follows, polished) if first_follows else (polished, follows)
        if i % 3 == 0:  # sometimes the one that follows is the longer: length alone is not the answer
            a, b = (a + " z" * 40, b) if first_follows else (a, b + " z" * 40)
        pair = PairSample(id=f"p{i}", prompt=f"instruction {i}", response_a=a, response_b=b)
        out.append(LabelledPair(pair=pair, human="A" if first_follows else "B"))
    return out


def test_pairs_choose_the_rules_first_template_for_a_judge_that_needs_the_rules() -> None:
    task = PairTask(pairs(), RulesRight())
    result = Search(task, folds=3, holdout=0.25, seed=0).run(pair_candidates(), resamples=200)
    assert result.chosen == "rules_first"
    by_name = {c.name: c for c in result.candidates}
    assert by_name["rules_first"].cv == 1.0 and by_name["current"].cv is not None and by_name["current"].cv < 0.8
    assert result.heldout.figure.value == 1.0


def test_candidates_are_named_and_an_unknown_name_is_one_line() -> None:
    assert [c.name for c in choose_candidates("rubric", ["plain"])] == ["current", "plain"]
    with pytest.raises(Exception, match="--candidates: unknown 'nope'; choose from current, plain"):
        choose_candidates("rubric", ["nope"])


def _door_files(root: Path) -> dict[str, Path]:
    rubric = root / "rubric.yaml"
    rubric.write_text(yaml.safe_dump(RUBRIC), encoding="utf-8")
    rows = [{"id": "good", "prompt": "q", "response": "a good answer"}, {"id": "bad", "prompt": "q", "response": "no"}]
    data = root / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    lab = root / "labelled.jsonl"
    lab.write_text(
        "".join(
            json.dumps({"id": s.id, "prompt": s.prompt, "response": s.response, "labels": s.labels}) + "\n"
            for s in labelled(20)
        ),
        encoding="utf-8",
    )
    return {"rubric": rubric, "input": data, "labelled": lab}


def test_tune_saves_the_choice_and_a_heldout_trust_record_that_judge_then_uses(tmp_path: Path) -> None:
    files = _door_files(tmp_path)
    backend = ["--backend", "support.tuning:PlainRight", "--model", "plain-right"]
    args = ["tune", "--rubric", str(files["rubric"]), "--labels", str(files["labelled"]), "--folds", "3"]
    result = CliRunner().invoke(
        cli, [*args, "--candidates", "plain,rules_first", "-o", str(tmp_path / "out"), *backend]
    )
    assert result.exit_code == 0, result.output
    choice = load_tuned(files["rubric"], "plain-right")
    assert choice is not None and choice.strategy.template == "plain" and choice.heldout == 1.0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["chosen"] == "plain" and summary["heldout"]["figure"]["value"] == 1.0
    trust = json.loads((tmp_path / "rubric.trust.json").read_text())["plain-right"]
    assert trust["source"] == "tune" and trust["heldout"] is True and trust["metric"] == "auc"
    assert trust["strategy"] == "plain" and trust["n"] == 6 and trust["value"] == 1.0

    judge_args = ["judge", "--rubric", str(files["rubric"]), "--input", str(files["input"]), "--output"]

    def scores(*extra: str) -> dict[str, float]:
        out = tmp_path / "verdicts.jsonl"
        judged = CliRunner().invoke(
            cli,
            [*judge_args, str(out), "--no-cache", "--rationales", "none", *backend, *extra],
        )
        assert judged.exit_code == 0, judged.output
        return {row["id"]: row["score"] for row in map(json.loads, out.read_text().splitlines())}

    assert scores() == {"good": pytest.approx(0.9), "bad": pytest.approx(0.1)}  # asked the tuned way
    assert scores("--no-tuned") == {"good": 0.5, "bad": 0.5}  # the plain verdict: this judge cannot tell


def _save_plain_choice(rubric: Path, model: str = "plain-right") -> None:
    from judgerl.judges.strategies import Strategy
    from judgerl.judges.tuned import TunedChoice, save_tuned

    save_tuned(rubric, model, TunedChoice(strategy=Strategy(template="plain"), metric="auc", heldout=1.0))


def test_serving_asks_the_tuned_way(tmp_path: Path, clean_env: None) -> None:
    from judgerl.serve.config import ServeConfig

    files = _door_files(tmp_path)
    _save_plain_choice(files["rubric"])
    env = {"JUDGERL_RUBRIC": str(files["rubric"]), "JUDGERL_BACKEND": "support.tuning:PlainRight"}
    for extra, expected in (({}, 0.9), ({"JUDGERL_TUNED": "false"}, 0.5)):
        config = ServeConfig.from_env({**env, "JUDGERL_MODEL": "plain-right", "JUDGERL_RATIONALES": "none", **extra})
        built = config.build()
        try:
            (verdict,) = built.rubric_judge.judge([LabelledSample(id="a", prompt="q", response="good", labels={})])
            assert verdict.score == pytest.approx(expected)
        finally:
            built.close()


def test_training_asks_the_tuned_way(tmp_path: Path) -> None:
    from judgerl.train.config import load_config
    from judgerl.train.runner import build_judge
    from test_train_loop import write_run

    judge = {"backend": "support.tuning:PlainRight", "model": "plain-right", "rationales": "none"}
    config = load_config(write_run(tmp_path, tmp_path / "policy", judge=judge))
    _save_plain_choice(tmp_path / "rubric.yaml")
    backend = config.judge.build_backend()
    judges = build_judge(config, backend)
    sample = LabelledSample(id="a", prompt="q", response="good", labels={})
    (verdict,) = judges.for_sample(sample).judge([sample])  # type: ignore[union-attr]
    assert verdict.score == pytest.approx(0.9)


def test_pairwise_doors_ask_the_tuned_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from judgerl.judges.spec import JudgeSpec
    from judgerl.judges.strategies import Strategy
    from judgerl.judges.tuned import TunedChoice, save_tuned

    monkeypatch.setenv("JUDGERL_HOME", str(tmp_path))
    choice = TunedChoice(strategy=Strategy(kind="pair", template="rules_first"), metric="order_averaged_accuracy")
    save_tuned(None, "rules-right", choice)
    assert tuned_path(None) == tmp_path / "tuned" / "pairwise.tuned.json"
    pair = PairSample(id="p", prompt="q", response_a="a long polished answer", response_b="FOLLOWS")
    for tuned, winner in ((True, "B"), (False, "A")):
        spec = JudgeSpec(backend="support.tuning:RulesRight", model="rules-right", rationales="none", tuned=tuned)
        (verdict,) = spec.pairwise_judge(spec.build_backend()).judge([pair])
        assert verdict.winner == winner


@pytest.mark.usefixtures("one_torch_thread")
def test_a_probe_recovers_a_signal_planted_in_a_tiny_models_hidden_states(tiny_judge_dir: Path) -> None:
    from judgerl.backends.base import JudgePrompt
    from judgerl.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(tiny_judge_dir), dtype="float32", coalesce_ms=0)
    prompt = JudgePrompt(system="s", user="The quick brown fox", answer_prefix="Verdict:")
    ((with_state, state),) = backend.label_probs_with_hidden([prompt], ["PASS", "FAIL"])
    (plain,) = backend.label_probs([prompt], ["PASS", "FAIL"])
    assert with_state.probs == plain.probs and state is not None and len(state) == 64  # the same forward pass
    samples = []
    for i in range(40):
        word = "cats" if i % 2 == 0 else "dogs"
        response = f"{word} the quick brown fox {i}"
        samples.append(LabelledSample(id=f"s{i}", prompt="q", response=response, labels={"correct": i % 2 == 0}))
    task = RubricTask(Rubric.model_validate(RUBRIC), samples, backend)
    result = Search(task, folds=4, holdout=0.25, seed=0).run(choose_candidates("rubric", ["current+probe"]), 200)
    by_name = {c.name: c for c in result.candidates}
    assert by_name["current+probe"].cv is not None and by_name["current+probe"].cv >= 0.9
    assert result.chosen == "current+probe" and result.heldout.figure.value is not None
    assert result.heldout.figure.value >= 0.9


def test_the_lambda_package_carries_the_tuned_choice_beside_the_rubric(tmp_path: Path) -> None:
    from judgerl.serve.contract import UnscoredPolicy
    from judgerl.serve.lambda_package import build_lambda_zip
    from support.serve import judge_config

    files = _door_files(tmp_path)
    _save_plain_choice(files["rubric"])
    config = judge_config(backend="support.tuning:PlainRight", rubric=str(files["rubric"]))
    built = build_lambda_zip(tmp_path / "a.zip", config, UnscoredPolicy(), install_dependencies=False)
    bundled = json.loads(zipfile.ZipFile(built.path).read("judgerl_lambda/rubric.tuned.json"))
    assert bundled["plain-right"]["strategy"]["template"] == "plain"


def test_readouts_split_criteria_and_the_length_correction() -> None:
    import asyncio
    import math

    from judgerl.judges.prompts import JudgedMaterial
    from judgerl.judges.strategies import Strategy, rubric_p_pass, split_criterion
    from judgerl.rubric import Criterion
    from judgerl.tune.search import fit_length_weight
    from support.fakes import ScriptedBackend

    assert split_criterion("The reply is polite, and it answers the question.") == [
        "The reply is polite.",
        "it answers the question.",
    ]
    assert split_criterion("The answer is correct.") == ["The answer is correct."]
    # the graded readout is the expected grade, scaled to [0, 1]
    grades = ScriptedBackend(probs=lambda prompt, labels: {"1": 0.5, "2": 0, "3": 0, "4": 0, "5": 0.5})
    material = JudgedMaterial("q", "r", None)
    criterion = Criterion(name="c", text="The reply is polite, and it answers the question.")
    (reading,) = asyncio.run(rubric_p_pass(grades, Strategy(readout="graded"), material, [criterion], ""))
    assert reading.p == pytest.approx(0.5)
    # split: each part is asked on its own, and every part must hold
    halves = ScriptedBackend(probs=lambda prompt, labels: {labels[0]: 0.8, labels[1]: 0.2})
    (reading,) = asyncio.run(rubric_p_pass(halves, Strategy(template="split"), material, [criterion], ""))
    assert len(halves.label_calls[0]) == 2 and reading.p == pytest.approx(0.64)
    # a judge pulled to the longer answer by a known weight: the fit recovers it
    lengths = [(-1) ** i * (0.2 + (i % 7) / 5) for i in range(200)]
    truth = [(i % 3 != 0) == (i % 2 == 0) for i in range(200)]
    planted = [1 / (1 + math.exp(-((2.0 if y else -2.0) + 1.5 * x))) for x, y in zip(lengths, truth, strict=True)]
    assert fit_length_weight(planted, lengths, truth) == pytest.approx(1.5, abs=0.6)
    with pytest.raises(ValueError, match="template 'split' is not one of"):
        Strategy(kind="pair", template="split")
