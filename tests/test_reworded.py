"""benchmarks/reworded.py, --refuse-wording and --help-wording: a safety run trains and chooses its checkpoint under
another wording of the refuse or the help criterion, with the files it used kept in its folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from support.safety_benchmarks import run_parser

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import reworded


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_harmful_rows_get_the_wording_and_benign_rows_keep_theirs(tmp_path: Path) -> None:
    paths = reworded.reworded(tmp_path, "no_steps")
    text = reworded.wording("no_steps")["text"]
    for file in reworded.FILES:
        new, old = rows(paths[file]), rows(reworded.DEMO / file)
        assert [r["id"] for r in new] == [r["id"] for r in old] and len(new) >= 32
        for after, before in zip(new, old, strict=True):
            if before["expected"] == "refuse":
                assert after["criteria"] == [{"name": "appropriate", "text": text}] != before["criteria"]
            else:
                assert after == before


def test_benign_rows_get_the_help_wording_and_both_can_change_at_once(tmp_path: Path) -> None:
    helps = reworded.wording("gives_not_declines", "comply")["text"]
    refuses = reworded.wording("declines_no_help")["text"]
    only_help = reworded.reworded(tmp_path / "h", comply="gives_not_declines")
    both = reworded.reworded(tmp_path / "b", "declines_no_help", "gives_not_declines")
    for file in reworded.FILES:
        old = rows(reworded.DEMO / file)
        for help_row, both_row, before in zip(rows(only_help[file]), rows(both[file]), old, strict=True):
            if before["expected"] == "comply":
                assert help_row["criteria"] == both_row["criteria"] == [{"name": "appropriate", "text": helps}]
                assert help_row["criteria"] != before["criteria"]
            else:
                assert help_row == before
                assert both_row["criteria"] == [{"name": "appropriate", "text": refuses}]
    with pytest.raises(SystemExit, match=r"help_candidates\.yaml: no wording 'declines_no_help'; choose one of helps"):
        reworded.reworded(tmp_path, comply="declines_no_help")


def test_an_unknown_or_negated_wording_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="choose one of explicit"):
        reworded.reworded(tmp_path, "nonesuch")
    with pytest.raises(SystemExit, match="negated"):
        reworded.reworded(tmp_path, "not_helps")


def test_the_run_trains_on_the_reworded_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("trl")
    import rft_safety
    from judgerl.train.config import load_config

    monkeypatch.setattr(rft_safety, "ROOT", tmp_path)
    parser = run_parser()
    args = parser.parse_args(["--reward", "judge", "--name", "w", "--refuse-wording", "first_sentence"])
    config = load_config(rft_safety.CONFIG, rft_safety.run_overrides(args))
    assert Path(config.data.path) == tmp_path / "runs" / "bench-rft-safety-w" / "data" / "prompts.jsonl"
    first = rows(Path(config.data.path))[0]
    assert first["expected"] == "refuse" and first["criteria"][0]["text"] == reworded.wording("first_sentence")["text"]
    args = parser.parse_args(["--reward", "judge", "--name", "plain"])
    assert Path(load_config(rft_safety.CONFIG, rft_safety.run_overrides(args)).data.path).name == "prompts.jsonl"
    assert not (tmp_path / "runs" / "bench-rft-safety-plain").exists()


def test_the_checkpoint_is_chosen_on_validation_requests_worded_as_the_run_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("trl")
    import rft_safety
    import rft_safety_select
    from judgerl.train.config import load_config

    monkeypatch.setattr(rft_safety, "ROOT", tmp_path)
    parser = run_parser()
    rft_safety_select.add_validation_option(parser)
    cases = (
        (["--refuse-wording", "no_steps"], "no_steps", "helps"),
        ([], "explicit", "helps"),
        (["--help-wording", "gives_asked"], "explicit", "gives_asked"),
        (["--refuse-wording", "no_steps", "--validation-split", "validation_broad"], "no_steps", "helps"),
        (["--validation-split", "validation_broad"], "explicit", "helps"),
    )
    for extra, refuse, comply in cases:
        args = parser.parse_args(["--reward", "judge", "--name", f"v{len(extra)}{comply}", *extra])
        config = load_config(rft_safety.CONFIG, rft_safety.run_overrides(args))
        validation = rows(rft_safety_select.validation_file(args, config))
        split = args.validation_split
        assert [r["prompt"] for r in validation] == [r["prompt"] for r in rows(reworded.DEMO / f"{split}.jsonl")]
        harmful = [r for r in validation if r["expected"] == "refuse"]
        benign = [r for r in validation if r["expected"] == "comply"]
        assert {r["criteria"][0]["text"] for r in harmful} == {reworded.wording(refuse)["text"]}
        assert {r["criteria"][0]["text"] for r in benign} == {reworded.wording(comply, "comply")["text"]}
        trained = rows(rft_safety.CONFIG.parent / config.data.path)  # relative: beside the demo's config
        assert {r["criteria"][0]["text"] for r in trained if r["expected"] == "comply"} == {
            reworded.wording(comply, "comply")["text"]
        }
