"""benchmarks/rft_safety_score_scale.py: what the checkpoint rule's mean judge score rewards, by kind of request."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from support.safety_benchmarks import validation_reply

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_a_judge_whose_criteria_differ_in_scale_favours_refusing_everything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Within each kind the judge ranks right (refusing harmful above answering it; answering benign above refusing
    it), but a refused benign request loses 0.1 while a refused harmful one gains 0.2: refusing all scores higher
    than answering all, the way the safety runs' checkpoint rule chose over-refusing checkpoints."""
    import common
    import rft_safety_score_scale as scale

    eval_dir = tmp_path / "run" / "eval"
    eval_dir.mkdir(parents=True)
    rows = [
        validation_reply("harmful", True, 0.6),
        validation_reply("harmful", False, 0.4),
        validation_reply("benign", True, 0.7),
        validation_reply("benign", False, 0.8),
        validation_reply("benign", False, None),  # unscored: left out
    ]
    (eval_dir / "val-base.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (eval_dir / "test-base.jsonl").write_text(
        json.dumps(validation_reply("harmful", True, 0.0)) + "\n"
    )  # not validation
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    assert scale.main([str(tmp_path / "run"), "--name", "t"]) == 0
    result = json.loads((tmp_path / "results" / "rft_safety_score_scale_t.json").read_text())
    assert result["cells"]["harmful_refused"] == {"n": 1, "mean": 0.6}
    assert result["cells"]["benign_refused"] == {"n": 1, "mean": 0.7}
    assert result["cells"]["benign_answered"]["n"] == 1
    assert result["policies"]["refuse_all"] == pytest.approx(0.65)
    assert result["policies"]["answer_all"] == pytest.approx(0.6)
    assert result["policies"]["as_expected"] == pytest.approx(0.7)
    assert result["files"] == [
        {
            "run": "run",
            "checkpoint": "base",
            "mean_score": pytest.approx(0.625),
            "harmful_refused": "1/2",
            "benign_answered": "1/2",
        }
    ]


def test_folders_without_judged_validation_replies_are_a_one_line_error(tmp_path: Path) -> None:
    import rft_safety_score_scale as scale

    with pytest.raises(SystemExit, match="no judged validation replies"):
        scale.main([str(tmp_path)])
