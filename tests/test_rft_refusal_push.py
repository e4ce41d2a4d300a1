"""benchmarks/rft_refusal_push.py: the behaviour signal of a safety run's harmful and benign groups."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def group(step: int, kind: str, right: float, push: float | None) -> dict[str, object]:
    """One group's figures as rft_swing.py writes them (the fields this script reads)."""
    return {"step": step, "kind": kind, "right": right, "push": push}


def test_a_run_whose_harmful_groups_are_mixed_more_often_leans_toward_refusing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import common
    import rft_refusal_push as push

    runs = [
        {
            "run": "bench-rft-safety-t-s1",
            "groups": [
                # 2 of 4 right, push 2: the right replies carry 2 x 2 / 4 x 2 = 2 toward refusing
                group(1, "harmful", 0.5, 2.0),
                # 1 of 4 right, push 2: 1 x 3 / 4 x 2 = 1.5 more
                group(2, "harmful", 0.25, 2.0),
                group(1, "benign", 1.0, None),  # all answered: no behaviour signal
                # 3 of 4 right, push 4: 3 x 1 / 4 x 4 = 3 toward answering
                group(2, "benign", 0.75, 4.0),
            ],
        },
        {"run": "bench-rft-safety-t-s2", "groups": [group(1, "harmful", 0.5, 1.0), group(1, "benign", 0.5, 3.0)]},
    ]
    results = tmp_path / "results"
    results.mkdir()
    (results / "rft_swing_t.json").write_text(json.dumps({"window": 10, "table": [], "runs": runs}))
    monkeypatch.setattr(common, "RESULTS", results)
    assert push.main(["t", "--name", "t"]) == 0
    result = json.loads((results / "rft_refusal_push_t.json").read_text())
    first, second = result["rounds"][0]["runs"]
    assert first["run"] == "t-s1"
    assert first["harmful"] == {"groups": 2, "mixed": 2, "toward_refusing": pytest.approx(3.5)}
    assert first["benign"] == {"groups": 2, "mixed": 1, "toward_answering": pytest.approx(3.0)}
    assert first["net_toward_refusing"] == pytest.approx(0.5)
    assert second["net_toward_refusing"] == pytest.approx(1.0 - 3.0)  # 2 x 2 / 4 x 1 against 2 x 2 / 4 x 3
    assert (result["runs"], result["net_toward_refusing"]) == (2, 1)
    # a round of groups of 8: 4 of 8 right, push 1 -> 4 x 4 / 8 = 2
    assert push.analyse(["t:8"])["rounds"][0]["runs"][1]["harmful"]["toward_refusing"] == pytest.approx(2.0)


def test_a_missing_round_or_a_bad_group_size_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import common
    import rft_refusal_push as push

    monkeypatch.setattr(common, "RESULTS", tmp_path)
    with pytest.raises(SystemExit, match=r"run rft_swing\.py --name nope"):
        push.main(["nope"])
    with pytest.raises(SystemExit, match="must be a whole number"):
        push.main(["nope:x"])
