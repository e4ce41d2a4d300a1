"""``reward.kind: grader``: an OpenAI grader file as the training reward. The config checks the file when it loads;
the pipeline grades each completion with item = its dataset row and sample = its text, leaves an unscored grade
out (and the guard stops a run that grades nothing); a tiny random policy trains end to end with a multi grader,
and the worked example of docs/openai-graders.md (examples/openai-grader) runs."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from judgerl.cli.main import cli
from judgerl.errors import JudgerlError
from judgerl.graders import Grader
from judgerl.graders.spec import parse_spec
from judgerl.judges.grader_judge import GraderJudge
from judgerl.train.config import load_config, parse_config
from judgerl.train.metrics import TooManyUnscored, UnscoredGuard
from judgerl.train.rewards import RewardPipeline
from support.judge_free_runs import forbid_judge_backend, step_records, write_judge_free_run
from support.serve import GraderReplyBackend

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "openai-grader"
KEYWORD_MULTI = {
    "type": "multi",
    "name": "keyword",
    "graders": {
        "has_keyword": {"type": "string_check", "name": "has_keyword", "input": "{{ sample.output_text }}",
                        "reference": "{{ item.keyword }}", "operation": "ilike"},
        "says_the": {"type": "string_check", "name": "says_the", "input": "{{ sample.output_text }}",
                     "reference": "the", "operation": "like"},
    },
    "calculate_output": "0.5 * has_keyword + 0.5 * says_the",
}  # fmt: skip
BASE = {"name": "g", "policy": {"model": "m"}, "data": {"path": "d.jsonl"}}


def test_the_config_reads_the_grader_file_when_it_loads(tmp_path: Path) -> None:
    with pytest.raises(JudgerlError, match="kind 'grader' needs 'grader:"):
        parse_config({**BASE, "reward": {"kind": "grader"}})
    with pytest.raises(JudgerlError, match="read only with kind 'grader'"):
        parse_config({**BASE, "reward": {"rubric": "r.yaml", "grader": "g.json"}})
    broken = {**KEYWORD_MULTI, "calculate_output": "has_keyword + missing"}
    (tmp_path / "grader.json").write_text(json.dumps(broken))
    (tmp_path / "train.yaml").write_text(
        yaml.safe_dump({**BASE, "reward": {"kind": "grader", "grader": "grader.json"}})
    )
    with pytest.raises(JudgerlError) as caught:
        load_config(tmp_path / "train.yaml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'train.yaml'}: reward.grader: ")
    assert "calculate_output" in message and "missing" in message


def run_batch(pipeline: RewardPipeline, texts: list[str], metadata: list[dict[str, Any]]) -> dict[str, Any]:
    logged: dict[str, Any] = {}
    kwargs = {
        "prompt_id": [str(k) for k in range(len(texts))],
        "reference": [None] * len(texts),
        "metadata_json": [json.dumps(m) for m in metadata],
        "trainer_state": SimpleNamespace(global_step=0),
        "log_metric": lambda name, value: logged.__setitem__(name, value),
        "log_extra": lambda column, values: logged.__setitem__(column, values),
    }
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    prompts = [[{"role": "user", "content": "q"}] for _ in texts]

    async def call() -> list[Any]:
        return list(await asyncio.gather(*(f(prompts, completions, **kwargs) for f in pipeline.functions())))

    results = asyncio.run(call())
    return {**dict(zip(pipeline.names(), results, strict=True)), "logged": logged}


def test_each_completion_is_graded_with_its_row_as_item(tmp_path: Path) -> None:
    grader = GraderJudge(Grader(parse_spec(KEYWORD_MULTI)))
    pipeline = RewardPipeline(run_id="r", num_generations=2, grader=grader, guard=UnscoredGuard(0.5, 1, 4))
    texts = ["the cat sat", "a dog ran", "the dog", "no match"]
    rows = [{"keyword": "cat"}, {"keyword": "dog"}, {"id": "x"}, {"keyword": "cat"}]  # row 3 has no keyword
    result = run_batch(pipeline, texts, rows)
    assert pipeline.names() == ["grader"]
    assert result["grader"] == [1.0, 0.5, None, 0.0]  # the row without 'keyword' is unscored, not 0
    logged = result["logged"]
    assert logged["grader/has_keyword/mean"] == pytest.approx(2 / 3)
    assert logged["grader/says_the/mean"] == pytest.approx(2 / 4)
    assert logged["judge/unscored_frac"] == pytest.approx(1 / 4)
    assert "item.keyword" in logged["judge_verdict"][2]
    with pytest.raises(TooManyUnscored, match="max_unscored_fraction"):
        run_batch(pipeline, texts, [{}] * 4)


def test_a_tiny_policy_trains_and_evaluates_with_a_multi_grader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from judgerl.train.evaluate import evaluate
    from judgerl.train.runner import train

    forbid_judge_backend(monkeypatch, "a grader without model graders must not build a judge backend")
    rows = [{"id": f"p{i}", "prompt": f"write about the {w}", "keyword": w} for i, w in enumerate(["cat", "dog"] * 3)]
    (tmp_path / "grader.json").write_text(json.dumps(KEYWORD_MULTI))
    config_path = write_judge_free_run(
        tmp_path, "graded", rows, data={}, reward={"kind": "grader", "grader": "grader.json"}
    )
    loaded = load_config(config_path)
    result = train(loaded)
    assert result.steps == 2 and (result.run_dir / "grader.json").exists()
    steps = step_records(result.run_dir)
    assert steps and all("rewards/grader/mean" in r and "grader/has_keyword/mean" in r for r in steps)
    with sqlite3.connect(result.store_path) as store:
        samples = store.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        assert samples >= 8 and store.execute("SELECT COUNT(*) FROM criterion_verdicts").fetchone()[0] == 2 * samples
    report = evaluate(loaded, str(result.final_dir), label="after")
    assert report.prompts == 2 and report.unscored == 0  # held-out rows graded with their keyword


def test_the_worked_example_config_trains_with_its_grader_unchanged(tmp_path: Path) -> None:
    import torch

    from judgerl.train.runner import train
    from support.tiny_models import build_tiny_policy

    torch.set_num_threads(1)
    policy = build_tiny_policy(tmp_path / "policy")
    overrides = [
        f"policy.model={policy}",
        f"output_dir={tmp_path / 'run'}",
        "threads=1",
        "grpo.max_steps=1",
        "grpo.max_completion_length=6",
        "grpo.use_cpu=true",
    ]
    config = load_config(EXAMPLE / "config.yaml", overrides)
    result = train(config, backend=GraderReplyBackend())  # stands in for the openai judge of the example
    assert result.steps == 1
    # the random policy writes no JSON, so the json gate gives 0 without grading (as RFT scores invalid output 0)
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("judge/gated_frac") == 1.0 for r in records)

    # the grader itself, on the example's saved outputs, as the guide's `graders run` step does
    output = tmp_path / "rewards.jsonl"
    arguments = ["graders", "run", "--grader", str(EXAMPLE / "grader.json"), "--input", str(EXAMPLE / "outputs.jsonl")]
    ran = CliRunner().invoke(
        cli, [*arguments, "--output", str(output), "--backend", "support.serve:GraderReplyBackend"]
    )
    assert ran.exit_code == 0, ran.output
    rewards = {row["id"]: row for row in map(json.loads, output.read_text().splitlines())}
    assert rewards["right"]["reward"] == pytest.approx(0.7 + 0.3 * 0.8)
    assert rewards["wrong"]["reward"] == pytest.approx(0.3 * 0.1)
    assert rewards["not-json"]["reward"] is None and "output_json" in rewards["not-json"]["unscored_reason"]
