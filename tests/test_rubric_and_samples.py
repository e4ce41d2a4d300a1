from __future__ import annotations

import json
from pathlib import Path

import pytest

from judgerl import Rubric, load_pairs, load_samples
from judgerl.errors import RubricError, SampleError

GOOD = """
name: support
instructions: Judge replies of a support agent.
criteria:
  - name: safety
    text: The response gives no instructions that could cause harm.
    gate: true
  - name: tone
    text: The response is polite.
    weight: 2
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_yaml_and_json(tmp_path: Path) -> None:
    rubric = Rubric.load(write(tmp_path, "r.yaml", GOOD))
    assert rubric.names == ["safety", "tone"]
    assert rubric.criterion("safety").gate and rubric.criterion("tone").weight == 2
    as_json = write(tmp_path, "r.json", json.dumps({"criteria": [{"name": "a", "text": "Says hello."}]}))
    assert Rubric.load(as_json).criteria[0].weight == 1.0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("criteria:\n  - {name: a, text: x}\n  - {name: a, text: y}\n", "duplicate criterion name 'a'"),
        ("criteria:\n  - {name: a, text: '  '}\n", "criterion 'a', field 'text'"),
        (
            "criteria:\n  - {name: a, text: x, weight: 0}\n",
            "criterion 'a', field 'weight': must be a finite number > 0",
        ),
        ("criteria:\n  - {name: a, text: x, weight: .nan}\n", "field 'weight'"),
        ("criteria:\n  - {name: a, text: x, weight: -1}\n", "field 'weight'"),
        ("criteria:\n  - {text: x}\n", "criterion #1, field 'name': required field is missing"),
        ("criteria:\n  - {name: a, text: x, wieght: 2}\n", "criterion 'a', field 'wieght': unknown field"),
        ("criteria: []\n", "at least one criterion"),
        ("- just a list\n", "must be a mapping"),
        ("criteria: [\n", "cannot parse rubric"),
    ],
)
def test_rubric_errors_name_file_criterion_and_field(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, "bad.yaml", body)
    with pytest.raises(RubricError) as info:
        Rubric.load(path)
    message = str(info.value)
    assert str(path) in message and expected in message
    assert "\n" not in message


def test_missing_rubric_file(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="rubric file not found"):
        Rubric.load(tmp_path / "nope.yaml")


def test_shipped_example_rubrics_load() -> None:
    paths = sorted(Path(__file__).parent.parent.joinpath("examples", "rubrics").glob("*.yaml"))
    assert len(paths) >= 3
    for path in paths:
        assert Rubric.load(path).criteria


def test_samples_rows_and_errors(tmp_path: Path) -> None:
    rows = [
        {"id": 1, "prompt": "Hi", "response": "Hello"},
        {"id": "b", "prompt": [{"role": "user", "content": "Hi"}], "response": "Hey", "reference": "Hello"},
    ]
    path = write(tmp_path, "s.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    samples = load_samples(path)
    assert [s.id for s in samples] == ["1", "b"] and samples[1].reference == "Hello"

    bad = write(tmp_path, "bad.jsonl", json.dumps(rows[0]) + "\n" + json.dumps({"id": 2, "prompt": "x"}) + "\n")
    with pytest.raises(SampleError, match=r"bad.jsonl:2: field 'response' is missing"):
        load_samples(bad)
    typed = write(tmp_path, "typed.jsonl", json.dumps({"id": 1, "prompt": "x", "response": 5}) + "\n")
    with pytest.raises(SampleError, match=r"typed.jsonl:1: field 'response'"):
        load_samples(typed)
    broken = write(tmp_path, "broken.jsonl", "{not json\n")
    with pytest.raises(SampleError, match=r"broken.jsonl:1: not valid JSON"):
        load_samples(broken)
    dup = write(tmp_path, "dup.jsonl", json.dumps(rows[0]) + "\n" + json.dumps(rows[0]) + "\n")
    with pytest.raises(SampleError, match="duplicate id '1'"):
        load_samples(dup)


def test_non_utf8_bytes_and_lone_surrogates_are_replaced(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b'{"id": "x", "prompt": "p", "response": "caf\xe9 \\ud800 ok"}\n')
    (sample,) = load_samples(path)
    assert "\ufffd" in sample.response or "?" in sample.response
    sample.response.encode("utf-8")  # no lone surrogate survives


def test_pairs(tmp_path: Path) -> None:
    path = write(tmp_path, "p.jsonl", json.dumps({"id": 1, "prompt": "q", "response_a": "a", "response_b": "b"}))
    assert load_pairs(path)[0].response_b == "b"
    bad = write(tmp_path, "pb.jsonl", json.dumps({"id": 1, "prompt": "q", "response_a": "a"}))
    with pytest.raises(SampleError, match="field 'response_b' is missing"):
        load_pairs(bad)
