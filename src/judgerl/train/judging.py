"""Training's judge: built from the config's ``judge:`` section and reward, and used on (prompt row, reply) pairs.

The one module that builds a judge for training: ``judgerl train`` (the rewards, the live monitor's anchors,
the label gate), ``judgerl eval`` and the judge gate all build it here and judge rows with :func:`judge_rows`,
so they judge a reply exactly as the reward does. Every judge comes from the ``judge:`` spec
(``JudgeSpec.rubric_judge``, ``pairwise_judge``, ``grader_judge``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from judgerl.backends import JudgeBackend
from judgerl.errors import JudgerlError
from judgerl.graders import load_spec
from judgerl.graders.binding import needs_backend
from judgerl.graders.rows import GradeRow
from judgerl.judges.cache import VerdictCache
from judgerl.judges.cascade import PairJudging, RubricJudging
from judgerl.judges.grader_judge import GraderJudge
from judgerl.rubric import Rubric
from judgerl.samples import Message, Sample
from judgerl.train.config import TrainConfig
from judgerl.train.data import PromptRow
from judgerl.train.rubrics import RubricJudges, judge_in_groups
from judgerl.verdicts import SampleVerdict

#: what judges a training run: rubric judges (the rubric plus row criteria), a pairwise judge, or a grader
RunJudge = RubricJudges | PairJudging | GraderJudge


def needs_judge_backend(config: TrainConfig) -> bool:
    """A rubric or preference reward needs the judge; a grader only when it has a score_model or label_model."""
    if config.reward.kind == "grader":
        return config.grader_path is not None and needs_backend(load_spec(config.grader_path))
    return config.reward.kind != "none"


def judge_backend(config: TrainConfig) -> JudgeBackend:
    """The ``judge:`` section's backend; for a grader with no judge model named, the grader's own model on a
    remote backend (as ``judgerl graders run`` does)."""
    judge = config.judge
    if config.grader_path is not None:
        judge = judge.for_grader(load_spec(config.grader_path))
    return judge.build_backend()


def build_judge(config: TrainConfig, backend: JudgeBackend | None) -> RunJudge | None:
    """The run's judge on ``backend`` (shared: the model loads once); None for ``reward.kind: none``."""
    if config.reward.kind == "none":
        return None
    judge = config.judge
    if config.reward.kind == "grader":
        assert config.grader_path is not None
        if backend is None and needs_judge_backend(config):
            raise JudgerlError(f"{config.grader_path}: the grader's model graders need a judge backend")
        return judge.grader_judge(config.grader_path, backend)
    if backend is None:
        raise JudgerlError(f"reward.kind {config.reward.kind!r} needs a judge backend")
    cache = VerdictCache(config.run_dir / "verdict_cache.db") if judge.cache else None
    if config.reward.kind == "preference":
        settings = config.reward.preference
        return judge.with_tie_margin(settings.tie_margin).pairwise_judge(
            backend, instructions=settings.instructions, cache=cache
        )

    def make(rubric: Rubric) -> RubricJudging:
        return judge.rubric_judge(rubric, backend, cache=cache)

    return _rubric_judges(config, make)


def _rubric_judges(config: TrainConfig, make: Callable[[Rubric], RubricJudging]) -> RubricJudges:
    """The run's rubric for each row (the base rubric and the row's criteria), each judged by ``make``'s judge."""
    base = Rubric.load(config.rubric_path) if config.rubric_path is not None else None
    return RubricJudges(
        make, base=base, row_key=config.reward.row_criteria, name=config.name, instructions=config.reward.instructions
    )


def row_rubrics(config: TrainConfig) -> RubricJudges:
    """The run's rubric for each row (the base rubric and the row's criteria), without a judge: for grouping prompts
    by the criteria they are judged under."""

    def no_judge(rubric: Rubric) -> RubricJudging:
        raise JudgerlError("row_rubrics: grouping only, no judge")

    return _rubric_judges(config, no_judge)


def row_sample(row: PromptRow, response: str, sample_id: str) -> Sample:
    """A prompt row and a reply as the sample a rubric judge reads (metadata: the row's, with its prompt id)."""
    return Sample(
        id=sample_id,
        prompt=[Message(role=m["role"], content=m["content"]) for m in row.prompt],
        response=response,
        reference=row.reference,
        metadata={**row.metadata, "prompt_id": row.prompt_id},
    )


def judge_rows(
    judges: RubricJudges | GraderJudge, rows: Sequence[PromptRow], responses: Sequence[str]
) -> list[SampleVerdict]:
    """One verdict per (row, reply), in order, id ``eval-<prompt id>``: each reply judged by its rubric's judge,
    or graded as in training (item = the dataset row, every column but the prompt)."""
    ids = [f"eval-{row.prompt_id}" for row in rows]
    if isinstance(judges, GraderJudge):
        return judges.judge(
            [GradeRow(i, row.metadata, text) for i, row, text in zip(ids, rows, responses, strict=True)]
        )
    samples = [row_sample(row, text, i) for i, row, text in zip(ids, rows, responses, strict=True)]
    return judge_in_groups(samples, judges.for_sample)
