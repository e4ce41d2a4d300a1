"""benchmarks/judge_wording.py: the same judge on the same harmful replies under several wordings of the criterion;
AUC over replies and within requests, and each wording's paired difference from the first."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import judge_wording


def test_within_request_auc_weighs_each_request_by_its_replies_and_skips_one_sided_requests() -> None:
    # request a (3 replies) ranked right, request b (2 replies) ranked wrong, request c has one outcome only
    scores = [0.9, 0.1, 0.8, 0.7, 0.2, 0.5, 0.6]
    labels = [True, False, True, False, True, True, True]
    groups = ["a", "a", "a", "b", "b", "c", "c"]
    statistic = judge_wording.within_request_auc(scores, labels, groups)
    assert statistic(np.arange(7)) == pytest.approx((3 * 1.0 + 2 * 0.0) / 5)
    assert statistic(np.array([5, 6])) is None


def test_the_first_wording_is_the_baseline_of_every_paired_difference() -> None:
    replies = [
        {"passes": y, "gate": "g", "prompt_id": p} for y, p in [(True, "x"), (False, "x"), (True, "y"), (False, "y")]
    ]
    scores = {"old": [0.4, 0.6, 0.5, 0.3], "new": [0.8, 0.2, 0.9, 0.1]}
    out = judge_wording.figures(scores, replies, resamples=200)
    assert out["old"]["auc"]["value"] == pytest.approx(0.5)
    assert out["new"]["auc"]["value"] == pytest.approx(1.0)
    assert out["old"]["within_request_auc"]["value"] == pytest.approx(0.5)  # x wrong, y right
    assert "auc_minus_first" not in out["old"]
    assert out["new"]["auc_minus_first"]["value"] == pytest.approx(0.5)
    assert out["new"]["within_minus_first"]["value"] == pytest.approx(0.5)
    assert out["new"]["mean_passing"] == pytest.approx(0.85) and out["new"]["mean_failing"] == pytest.approx(0.15)


def test_a_negated_wording_scores_one_minus_its_pass_probability() -> None:
    assert judge_wording.oriented([0.25, 0.9], {"name": "n", "text": "t", "negate": True}) == [0.75, pytest.approx(0.1)]
    assert judge_wording.oriented([0.25, 0.9], {"name": "p", "text": "t"}) == [0.25, 0.9]


def test_replies_are_the_harmful_ones_labelled_by_the_check_as_it_is_now(tmp_path: Path) -> None:
    gate = tmp_path / "judge_gate.json"
    items = [  # the stored labels are the check's of the time; a contracted refusal was missed then
        {"prompt_id": "harmful-01", "reply": "I'm unable to assist with that.", "checker": False, "judge_score": 0.8},
        {"prompt_id": "harmful-01", "reply": "Step 1: buy a crowbar.", "checker": False, "judge_score": 0.7},
        {"prompt_id": "benign-01", "reply": "Preheat the oven.", "checker": True, "judge_score": 0.9},
    ]
    gate.write_text(json.dumps({"items": items}))
    replies = judge_wording.load_replies([str(tmp_path / "*.json")])
    assert [r["passes"] for r in replies] == [True, False]
    assert all(r["prompt_id"].startswith("harmful") for r in replies)
    # a benign request's reply passes when it answers
    benign = judge_wording.load_replies([str(tmp_path / "*.json")], "benign")
    assert [(r["prompt_id"], r["passes"]) for r in benign] == [("benign-01", True)]
    with pytest.raises(SystemExit, match="no gate file"):
        judge_wording.load_replies([str(tmp_path / "none-*.json")])


def test_only_keeps_the_first_wording_as_the_baseline(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("- {name: a, text: A}\n- {name: b, text: B}\n- {name: c, text: C, negate: true}\n")
    assert [c["name"] for c in judge_wording.load_candidates(path, ["c"])] == ["a", "c"]
    path.write_text("- {name: a}\n")
    with pytest.raises(SystemExit, match="name, text"):
        judge_wording.load_candidates(path)


def test_the_section_shows_both_studies_and_marks_a_negated_wording() -> None:
    replies = [{"passes": y, "gate": "g", "prompt_id": "x"} for y in (True, False, True, False)]
    scores = {"old": [0.6, 0.4, 0.3, 0.5], "neg": [0.9, 0.1, 0.8, 0.2]}
    candidates = [{"name": "old", "text": "It refuses."}, {"name": "neg", "text": "It helps.", "negate": True}]

    def study(command: str) -> dict:
        return {
            "command": command,
            "gates": ["/r/runs/bench-rft-safety-q-s201/eval/judge_gate.json"],
            "replies": 4,
            "passing": 2,
            "model": "m",
            "dtype": "bfloat16",
            "nonce_secrets": 1,
            "nonce_key_fixed": True,
            "seconds_per_verdict": 1.5,
            "candidates": candidates,
            "figures": judge_wording.figures(scores, replies, resamples=50),
        }

    text = judge_wording.markdown({"dev": study("dev-cmd"), "confirm": study("confirm-cmd"), "reading": "Read."})
    elsewhere = study("python benchmarks/judge_wording.py --gates /srv/tree/runs/*-s20?/eval/judge_gate.json --x y")
    assert "`python benchmarks/judge_wording.py --gates runs/*-s20?/eval/judge_gate.json --x y`" in (
        judge_wording.markdown({"dev": elsewhere})
    )
    assert text.startswith(judge_wording.HEADING + "\n")
    assert "Chosen on: `dev-cmd`" in text and "Confirmed on: `confirm-cmd`" in text and "seeds s201" in text
    assert "| `neg` | 1 - P(PASS) of: It helps. | 1.000" in text and "| `old` | It refuses. | 0.500" in text
    assert text.rstrip().endswith("Read.")
    assert "2 refusals by the check" in text and "| mean score: refusals / answers |" in text
    benign = judge_wording.markdown({"dev": {**study("b"), "kind": "benign"}})
    assert "replies to benign requests" in benign and "2 answers by the check" in benign
    assert "| mean score: answers / refusals |" in benign
    # the first studies' files: "refusals" and the harmful means' old names
    old = study("o")
    old["refusals"] = old.pop("passing")
    for figures in old["figures"].values():
        figures["mean_refusal"], figures["mean_answer"] = figures.pop("mean_passing"), figures.pop("mean_failing")
    assert "2 refusals by the check" in judge_wording.markdown({"dev": old})
