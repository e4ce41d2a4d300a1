"""benchmarks/rebalanced.py: the safety benchmark's training requests with N benign for each harmful one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from support.safety_benchmarks import run_parser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_two_benign_for_each_harmful_keeps_every_harmful_row_once_and_the_held_out_rows_last(tmp_path: Path) -> None:
    import rebalanced

    demo = rows(ROOT / "examples" / "demo" / "prompts.jsonl")
    path = tmp_path / "prompts.jsonl"
    path.write_text((ROOT / "examples" / "demo" / "prompts.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    rebalanced.rebalanced(path, 2)
    out = rows(path)
    training, held_out = out[: -rebalanced.HOLDOUT], out[-rebalanced.HOLDOUT :]
    assert held_out == demo[-rebalanced.HOLDOUT :]
    assert [r["expected"] for r in training[:6]] == ["refuse", "comply", "comply", "refuse", "comply", "comply"]
    demo_training = demo[: -rebalanced.HOLDOUT]
    harmful = [r for r in demo_training if r["expected"] == "refuse"]
    benign = [r for r in demo_training if r["expected"] == "comply"]
    assert [r for r in training if r["expected"] == "refuse"] == harmful  # each once, in order
    trained_benign = [r for r in training if r["expected"] == "comply"]
    again = [{**r, "id": f"{r['id']}-again1"} for r in benign]
    assert trained_benign == benign + again  # each twice, cycled in order, the repeat under its own id
    # a step of two requests (the recipe's) holds one of each, then two benign
    steps = [tuple(r["expected"] for r in training[i : i + 2]) for i in range(0, 6, 2)]
    assert steps == [("refuse", "comply"), ("comply", "refuse"), ("comply", "comply")]


def test_one_benign_for_each_harmful_is_the_demos_own_order(tmp_path: Path) -> None:
    import rebalanced

    path = tmp_path / "prompts.jsonl"
    original = (ROOT / "examples" / "demo" / "prompts.jsonl").read_text(encoding="utf-8")
    path.write_text(original, encoding="utf-8")
    rebalanced.rebalanced(path, 1)
    assert rows(path) == rows(ROOT / "examples" / "demo" / "prompts.jsonl")


def test_bad_mixes_are_one_line_errors(tmp_path: Path) -> None:
    import rebalanced

    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"expected": "refuse"}) + "\n")
    with pytest.raises(SystemExit, match="give 1 or more"):
        rebalanced.rebalanced(path, 0)
    with pytest.raises(SystemExit, match="leave none to train on"):
        rebalanced.rebalanced(path, 2)
    path.write_text("".join(json.dumps({"expected": "refuse"}) + "\n" for _ in range(3)))
    with pytest.raises(SystemExit, match=r"harmful .* and benign"):
        rebalanced.rebalanced(path, 2, holdout=1)


def test_the_run_trains_on_its_own_reordered_copy_and_rewording_still_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("trl")
    import reworded
    import rft_safety
    from judgerl.train.config import load_config
    from judgerl.train.data import load_prompt_rows

    monkeypatch.setattr(rft_safety, "ROOT", tmp_path)
    parser = run_parser()
    for extra in ([], ["--refuse-wording", "first_sentence"]):
        name = f"b{len(extra)}"
        args = parser.parse_args(["--reward", "judge", "--name", name, "--benign-per-harmful", "2", *extra])
        config = load_config(rft_safety.CONFIG, rft_safety.run_overrides(args))
        assert Path(config.data.path) == tmp_path / "runs" / f"bench-rft-safety-{name}" / "data" / "prompts.jsonl"
        trained = rows(Path(config.data.path))
        assert [r["expected"] for r in trained[:3]] == ["refuse", "comply", "comply"]
        assert len(trained) == 32 + 64 + 64  # 32 harmful, 32 benign twice, the 64 held out
        train_rows, held_out = load_prompt_rows(config)  # as the run loads them: ids unique, the split unchanged
        assert (len(train_rows), len(held_out)) == (96, 64)
        if extra:
            assert trained[0]["criteria"][0]["text"] == reworded.wording("first_sentence")["text"]


def test_the_command_writes_the_reordered_file_alone(tmp_path: Path) -> None:
    import rebalanced

    assert rebalanced.main([str(tmp_path), "--benign-per-harmful", "3"]) == 0
    trained = rows(tmp_path / "data" / "prompts.jsonl")
    assert [r["expected"] for r in trained[:4]] == ["refuse", "comply", "comply", "comply"]
    assert len(trained) == 32 + 3 * 32 + 64


def test_round_sevens_published_command_trains_on_the_mix_with_round_threes_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command in benchmarks/rft_preregistered_mix.md, as written, builds the run it describes."""
    pytest.importorskip("trl")
    import re
    import shlex

    import rft_safety
    from judgerl.train.config import load_config

    text = (ROOT / "benchmarks" / "rft_preregistered_mix.md").read_text(encoding="utf-8")
    found = re.search(r'Q05="([^"]+)"', text)
    assert found is not None
    command = re.search(r"python benchmarks/rft_safety\.py (.+)", text)
    assert command is not None
    argv = shlex.split(command.group(1).replace("$Q05", found.group(1)).replace("$S", "801"))
    monkeypatch.setattr(rft_safety, "ROOT", tmp_path)
    parser = run_parser()
    args = parser.parse_args(argv)
    config = load_config(rft_safety.CONFIG, rft_safety.run_overrides(args))
    assert (config.seed, config.grpo.max_steps, config.grpo.trl_options["learning_rate"]) == (801, 30, 1e-4)
    assert args.name == "q05m-judge-s801" and args.refuse_wording == "declines_no_help"
    trained = rows(Path(config.data.path))
    assert [r["expected"] for r in trained[:3]] == ["refuse", "comply", "comply"]
