"""judgerl: reinforcement fine-tuning with an LLM as the judge."""

from __future__ import annotations

from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.rubric import Criterion, Rubric
from judgerl.samples import Message, PairSample, Sample, load_pairs, load_samples
from judgerl.verdicts import CriterionVerdict, PairVerdict, SampleVerdict

__all__ = [
    "Criterion",
    "CriterionVerdict",
    "Message",
    "PairSample",
    "PairVerdict",
    "PairwiseJudge",
    "Rubric",
    "RubricJudge",
    "Sample",
    "SampleVerdict",
    "load_pairs",
    "load_samples",
]
__version__ = "0.1.0"
