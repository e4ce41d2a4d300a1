"""The training door logs the judge's trust line before step 1 and keeps it with the run for its report."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from judgerl.judges import trust
from judgerl.judges.trust import NOT_VALIDATED
from judgerl.report import build_report
from judgerl.train.config import load_config
from support.fakes import ScriptedBackend
from test_train_loop import judge_probs, write_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_train_warns_before_step_one_and_its_report_shows_it(
    tmp_path: Path, policy_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from judgerl.train.runner import train

    monkeypatch.setenv("JUDGERL_HOME", str(tmp_path / "home"))
    trust.forget_warnings()
    config = load_config(write_run(tmp_path, policy_dir, grpo__max_steps=1, grpo__save_steps=5))
    with caplog.at_level(logging.INFO, logger="judgerl"):
        result = train(config, backend=ScriptedBackend(probs=judge_probs, model_id="scripted"))
    warned = [r for r in caplog.records if NOT_VALIDATED in r.getMessage()]
    assert len(warned) == 1 and "judge scripted on rubric rubric.yaml" in warned[0].getMessage()
    html = build_report(result.run_dir).read_text(encoding="utf-8")
    assert 'id="judge-trust" class="warn"' in html and NOT_VALIDATED in html
