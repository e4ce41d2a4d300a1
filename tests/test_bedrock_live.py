"""Live Bedrock: runs only with JUDGERL_BEDROCK_LIVE=1 and AWS credentials that may call the model.

export JUDGERL_BEDROCK_LIVE=1 AWS_REGION=us-east-1 JUDGERL_BEDROCK_MODEL=amazon.nova-micro-v1:0
pytest tests/test_bedrock_live.py
"""

from __future__ import annotations

import os

import pytest

from judgerl import Rubric, Sample
from judgerl.backends import build_backend
from judgerl.judges.rubric_judge import RubricJudge

pytestmark = pytest.mark.skipif(
    os.environ.get("JUDGERL_BEDROCK_LIVE") != "1", reason="live Bedrock test: set JUDGERL_BEDROCK_LIVE=1 to run"
)


def test_live_bedrock_judges_a_sample() -> None:
    backend = build_backend(
        "bedrock",
        model=os.environ.get("JUDGERL_BEDROCK_MODEL", "amazon.nova-micro-v1:0"),
        region=os.environ.get("AWS_REGION", "us-east-1"),
    )
    backend.check()
    rubric = Rubric.from_dict({"criteria": [{"name": "correct", "text": "The final answer is 4."}]})
    good, bad = RubricJudge(rubric, backend, mode="generate").judge(
        [
            Sample(id="good", prompt="What is 2 + 2?", response="2 + 2 = 4."),
            Sample(id="bad", prompt="What is 2 + 2?", response="It is 5."),
        ]
    )
    assert good.score == 1.0 and bad.score == 0.0, (good, bad)
    assert good.prompt_tokens > 0 and good.completion_tokens > 0
    stats = backend.call_stats()
    assert stats is not None and stats.failed == 0
