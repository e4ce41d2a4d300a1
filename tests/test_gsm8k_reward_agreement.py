"""benchmarks/gsm8k_reward_agreement.py: the reward's agreement with the final-answer check on a run's completions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def write_run(run_dir: Path, rows: list[tuple[int, str, str, float, float]]) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    (run_dir / "completions").mkdir(parents=True)
    frame = pd.DataFrame(
        {
            "step": [r[0] for r in rows],
            "prompt": [[{"role": "system", "content": "Solve."}, {"role": "user", "content": r[1]}] for r in rows],
            "completion": [[{"role": "assistant", "content": r[2]}] for r in rows],
            "judge": [r[3] for r in rows],
            "judge_p_pass": [json.dumps({"final_answer_correct": r[4], "shows_work": 0.9}) for r in rows],
            "advantage": [0.0 for _ in rows],
        }
    )
    frame.to_parquet(run_dir / "completions" / "completions_00001.parquet")


def test_agreement_counts_right_answers_groups_and_wrong_answers_the_judge_passed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import common
    import gsm8k_reward_agreement as agreement

    references = {"q1": "2 + 2 = 4\n#### 4", "q2": "3 * 3 = 9\n#### 9"}
    rows = [
        # step 1, q1: one right (scored higher), one wrong that the judge passes on the answer criterion
        (1, "q1", "2 + 2 = 4\n#### 4", 0.9, 0.95),
        (1, "q1", "2 + 2 = 5\n#### 5", 0.6, 0.7),
        # step 11, q2: both wrong; no right-vs-wrong comparison inside this group
        (11, "q2", "#### 8", 0.3, 0.2),
        (11, "q2", "#### 10", 0.4, 0.3),
        # step 21, q1: the judge ranks the wrong one higher
        (21, "q1", "#### 4", 0.5, 0.6),
        (21, "q1", "#### 3", 0.8, 0.9),
    ]
    run_dir = tmp_path / "bench-rft-gsm8k-judge-s999"
    write_run(run_dir, rows)
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(agreement, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(agreement, "PROMPTS", tmp_path / "prompts.jsonl")
    (tmp_path / "prompts.jsonl").write_text(
        "".join(json.dumps({"prompt": p, "reference": r}) + "\n" for p, r in references.items())
    )
    assert agreement.main([str(run_dir)]) == 0
    result = json.loads((tmp_path / "results" / "rft_gsm8k_agreement" / f"{run_dir.name}.json").read_text())
    assert result["completions"] == 6 and result["right"] == 2
    assert result["right_by_window"] == {"1-10": 0.5, "11-20": 0.0, "21-30": 0.5}
    assert result["groups"] == 3 and result["groups_with_right_and_wrong"] == 2
    assert result["within_group_auc"]["value"] == pytest.approx(0.5)  # one group ordered right, one wrong
    # over all six: right ones score 0.9 and 0.5 against wrong 0.6, 0.3, 0.4, 0.8 -> (4 + 2) / 8
    assert result["reward_auc"]["value"] == pytest.approx(6 / 8)
    assert result["final_answer_correct"]["wrong_passed"] == 2 and result["final_answer_correct"]["wrong"] == 4
    assert result["mean_reward"]["right"] == pytest.approx(0.7)


def test_a_folder_without_completions_is_a_one_line_error(tmp_path: Path) -> None:
    import gsm8k_reward_agreement as agreement

    with pytest.raises(SystemExit, match="no completions"):
        agreement.main([str(tmp_path)])
