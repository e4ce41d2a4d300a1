from __future__ import annotations

import json
from pathlib import Path

import pytest

from judgerl import Rubric
from judgerl.errors import SampleError
from judgerl.validate.loaders import load_labelled_pairs, load_labelled_samples, majority_label, restrict
from support.real_models import PUBLIC_DATA

LLMBAR = PUBLIC_DATA / "llmbar"
ROOT = Path(__file__).resolve().parents[1]
RUBRIC = Rubric.from_dict(
    {"criteria": [{"name": "length", "text": "Short enough."}, {"name": "format", "text": "Has a title."}]}
)


def test_real_llmbar_and_faireval_files() -> None:
    natural = load_labelled_pairs(LLMBAR / "LLMBar__Natural.json")
    fair = load_labelled_pairs(LLMBAR / "Processed__FairEval.json")
    assert len(natural) == 100 and len(fair) == 66
    raw = json.loads((LLMBAR / "LLMBar__Natural.json").read_text())
    assert [p.human for p in natural] == ["A" if r["label"] == 1 else "B" for r in raw]
    assert natural[0].pair.prompt == raw[0]["input"] and natural[0].pair.response_b == raw[0]["output_2"]
    assert {p.human for p in fair} <= {"A", "B"} and natural[0].annotators == []


def test_multi_annotator_majority_and_ties(tmp_path: Path) -> None:
    rows = [
        {"input": "q1", "output_1": "a", "output_2": "b", "labels": [1, 1, 2]},
        {"input": "q2", "output_1": "a", "output_2": "b", "labels": [1, 2]},
        {"input": "q3", "output_1": "a", "output_2": "b", "labels": ["tie", "tie", 2]},
        {"id": "x", "prompt": "q4", "response_a": "a", "response_b": "b", "label": "B"},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    pairs = load_labelled_pairs(path)
    assert [p.human for p in pairs] == ["A", "tie", "tie", "B"]
    assert pairs[0].annotator_agreement == pytest.approx(2 / 3) and pairs[3].annotator_agreement is None
    assert [p.pair.id for p in pairs] == ["1", "2", "3", "x"]
    assert majority_label(["A", "B", "B", "tie"]) == "B"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"input": "q", "output_1": "a", "output_2": "b", "label": 3},
            r"item 1: field 'label': 3 is not a pairwise label",
        ),
        ({"input": "q", "output_1": "a", "label": 1}, r"field 'output_2' is missing"),
        ({"input": "q", "output_1": "a", "output_2": "b"}, r"field 'label' is missing"),
        ({"input": "q", "output_1": "a", "output_2": "b", "labels": []}, r"'labels' must be a non-empty list"),
    ],
)
def test_pair_errors_name_the_row_and_field(tmp_path: Path, row: dict, message: str) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([row]))
    with pytest.raises(SampleError, match=message):
        load_labelled_pairs(path)


def test_labelled_samples_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "labelled.jsonl"
    path.write_text(
        json.dumps({"id": "a", "prompt": "p", "response": "r", "labels": {"length": True}})
        + "\n"
        + json.dumps({"prompt": "p", "response": "r", "reference": "ref", "labels": {"format": False, "length": True}})
    )
    items = load_labelled_samples(path, RUBRIC)
    assert [i.id for i in items] == ["a", "2"] and items[1].reference == "ref"
    assert items[1].labels == {"format": False, "length": True}
    for row, message in [
        ({"prompt": "p", "response": "r", "labels": {"tone": True}}, r":1: label 'tone' is not a criterion"),
        ({"prompt": "p", "response": "r", "labels": {"length": "yes"}}, r"label 'length' must be true or false"),
        ({"prompt": "p", "response": "r"}, r"field 'labels' must be a non-empty object"),
        ({"prompt": "p", "labels": {"length": True}}, r":1: field 'response' is missing"),
    ]:
        path.write_text(json.dumps(row))
        with pytest.raises(SampleError, match=message):
            load_labelled_samples(path, RUBRIC)
    with pytest.raises(SampleError, match="file not found"):
        load_labelled_samples(tmp_path / "nope.jsonl", RUBRIC)


def test_restrict_keeps_order_and_source() -> None:
    rubric = RUBRIC.model_copy(update={"source": "r.yaml"})
    small = restrict(rubric, ["format"])
    assert small.names == ["format"] and small.source == "r.yaml"


def test_committed_ifeval_fixture_loads() -> None:
    rubric = Rubric.load(ROOT / "examples/rubrics/ifeval_constraints.yaml")
    items = load_labelled_samples(ROOT / "data/ifeval_smollm2/labelled.jsonl", rubric)
    assert len(items) >= 60
    labels = [v for item in items for v in item.labels.values()]
    assert any(labels) and not all(labels)
