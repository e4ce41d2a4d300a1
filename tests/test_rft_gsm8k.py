"""The GSM8K RFT benchmark (benchmarks/rft_gsm8k.py): its prompts, its rewards, the configs of its three rewards,
the base evaluation its runs share, and the section's tally (benchmarks/gsm8k_table.py)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from judgerl.checks import gsm8k
from judgerl.train.config import load_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples" / "gsm8k"))

REFERENCE = "She has 3 + 4 = <<3+4=7>>7 apples.\nShe gives 2 away: 7 - 2 = <<7-2=5>>5.\n#### 5"


def test_the_prompt_file_is_what_make_prompts_builds_and_leaves_the_judge_fixture_out() -> None:
    # loaded from its file: the safety example has a make_prompts module of its own
    spec = importlib.util.spec_from_file_location("gsm8k_make_prompts", ROOT / "examples/gsm8k/make_prompts.py")
    assert spec is not None and spec.loader is not None
    make_prompts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_prompts)

    rows = [json.loads(line) for line in (ROOT / "examples/gsm8k/prompts.jsonl").read_text().splitlines()]
    assert rows == make_prompts.build()
    assert len(rows) == 224 and len({r["id"] for r in rows}) == 224
    fixture = {json.loads(line)["prompt"] for line in (ROOT / "data/gsm8k_final_answer/labelled.jsonl").open()}
    assert not fixture & {r["prompt"] for r in rows}
    assert all(gsm8k.reference_answer(r["reference"]) is not None for r in rows)


def test_overlap_rewards_the_reference_s_words_even_with_a_wrong_final_answer() -> None:
    import gsm8k_rewards as rewards

    right = "3 + 4 = 7 apples. She gives 2 away: 7 - 2 = 5.\n#### 5"
    wrong = "3 + 4 = 7 apples. She gives 2 away: 7 - 2 = 4.\n#### 4"
    unrelated = "The answer depends on the weather."
    scores = rewards.overlap([], [right, wrong, unrelated], reference=[REFERENCE] * 3)
    assert scores[0] > 0.6 and scores[1] > 0.5 and scores[2] == 0.0  # the naive reward barely tells right from wrong
    assert scores[0] > scores[1]
    # GSM8K's calculator annotations (<<3+4=7>>) are not words of the solution: a reply written out in full scores 1
    plain = "She has 3 + 4 = 7 apples.\nShe gives 2 away: 7 - 2 = 5.\n#### 5"
    assert rewards.unigram_f1(plain, REFERENCE) == pytest.approx(1.0)
    chat = [[{"role": "assistant", "content": right}], [{"role": "assistant", "content": wrong}]]
    assert rewards.exact([], chat, reference=[REFERENCE] * 2) == [1.0, 0.0]


def tiny_run(reward: str, seed: int, policy_dir: Path, *extra: str) -> argparse.Namespace:
    """A run of ``reward`` on the tiny policy: one step of 4 completions, 4 held-out problems, 6 tokens."""
    args = parse(
        reward,
        str(seed),
        f"policy.model={policy_dir}",
        "policy.dtype=float32",
        "policy.lora={r: 4, alpha: 8}",
        "data.eval.holdout=4",
        "grpo.max_steps=1",
        "grpo.max_completion_length=6",
        "grpo.per_device_train_batch_size=4",
        "grpo.cast_lm_head_to_fp32=false",
        *extra,
    )
    args.threads = None
    return args


def test_a_change_counts_only_when_the_interval_and_mcnemar_agree() -> None:
    import gsm8k_table

    up = {"rate": 0.05, "low": 0.01, "high": 0.1}
    straddles = {"rate": 0.05, "low": -0.01, "high": 0.1}
    down = {"rate": -0.05, "low": -0.1, "high": -0.01}
    assert gsm8k_table.significant(up, 0.01) and not gsm8k_table.significant(up, 0.06)
    assert not gsm8k_table.significant(straddles, 0.04) and not gsm8k_table.significant(straddles, 0.04, -1)
    assert gsm8k_table.significant(down, 0.01, -1) and not gsm8k_table.significant(down, 0.01)
    assert not gsm8k_table.significant(None, None)


def parse(*argv: str) -> argparse.Namespace:
    return argparse.Namespace(reward=argv[0], seed=int(argv[1]), steps=None, threads=1, set=list(argv[2:]))


def test_each_reward_s_config_and_the_base_evaluation_they_share() -> None:
    import rft_gsm8k

    configs = {r: load_config(rft_gsm8k.CONFIG, rft_gsm8k.run_overrides(parse(r, "601"))) for r in rft_gsm8k.REWARDS}
    judge, overlap, exact = configs["judge"], configs["overlap"], configs["exact"]
    assert judge.reward.kind == "rubric" and judge.reward.rubric and judge.data.reference_column == "reference"
    assert judge.judge.validation is not None and judge.judge.validation.checker == "gsm8k"
    assert overlap.reward.kind == "none" and [f.function for f in overlap.reward.functions] == ["gsm8k_rewards:overlap"]
    assert exact.reward.kind == "none" and [f.function for f in exact.reward.functions] == ["gsm8k_rewards:exact"]
    assert overlap.judge.validation is None
    assert {c.seed for c in configs.values()} == {601}
    assert len({c.run_dir for c in configs.values()}) == 3
    assert len({c.grpo.arguments().__repr__() for c in configs.values()}) == 1  # the same budget
    fingerprints = {rft_gsm8k.base_fingerprint(c) for c in configs.values()}
    other_seed = load_config(rft_gsm8k.CONFIG, rft_gsm8k.run_overrides(parse("judge", "602")))
    assert fingerprints == {rft_gsm8k.base_fingerprint(other_seed)}  # every run reads one base evaluation
    longer = load_config(
        rft_gsm8k.CONFIG, rft_gsm8k.run_overrides(parse("judge", "601", "grpo.max_completion_length=300"))
    )
    assert rft_gsm8k.base_fingerprint(longer) not in fingerprints


def test_the_base_evaluation_is_made_again_on_a_cpu_with_other_bf16_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Greedy solutions in bf16 move with the CPU's kernels: a base evaluation kept from a machine with AMX must
    not serve a run on one without."""
    import common
    import rft_gsm8k

    amx = "model name\t: Intel Xeon\nflags\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
    epyc = "model name\t: AMD EPYC\nflags\t: avx2 avx512f avx512_bf16\n"
    assert common.cpu(amx) == {
        "model": "Intel Xeon",
        "features": ["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"],
    }
    assert common.cpu("") == {"model": "", "features": []}
    config = load_config(rft_gsm8k.CONFIG, rft_gsm8k.run_overrides(parse("judge", "601")))
    fingerprints = set()
    for cpuinfo in (amx, epyc, epyc):
        monkeypatch.setattr(rft_gsm8k, "cpu", lambda info=cpuinfo: common.cpu(info))
        fingerprints.add(rft_gsm8k.base_fingerprint(config))
    assert len(fingerprints) == 2


def write_run(results: Path, runs: Path, reward: str, seed: int, before: list[bool], after: list[bool]) -> None:
    from judgerl.stats import wilson
    from judgerl.train.evaluate import compare

    def items(values: list[bool]) -> list[Any]:
        from judgerl.train.evaluate import EvalItem

        return [
            EvalItem(prompt_id=f"p{i}", prompt="q", response="r", judge_score=None, judge_passed=None, checker_passed=v)
            for i, v in enumerate(values)
        ]

    change = compare(items(before), items(after))
    folder = runs / f"bench-rft-gsm8k-{reward}-s{seed}" / "eval"
    folder.mkdir(parents=True)
    (folder / "after.jsonl").write_text("".join(i.model_dump_json() + "\n" for i in items(after)))

    def rate(values: list[bool]) -> dict[str, Any]:
        w = wilson(sum(values), len(values))
        return {"rate": w.value, "low": w.low, "high": w.high, "n": w.n, "mean_characters": 100.0 + 10 * sum(values)}

    result = {
        "before": rate(before),
        "after": rate(after),
        "change": change.model_dump(),
        "judge_gate": {"judge_auc": 0.9, "passed": True} if reward == "judge" else None,
        "step_time": [10.0, 20.0],
        "reward_per_step": [step / 100 for step in range(1, 30)] + [None],
        "completion_length": [250.0] * 10 + [200.0] * 10 + [150.0] * 10,
        "clipped_ratio": [0.5] * 10 + [0.25] * 10 + [0.0] * 10,
    }
    (results / f"rft_gsm8k_{reward}-s{seed}.json").write_text(json.dumps(result))


def test_the_section_counts_a_seed_only_when_the_judge_beats_both_the_base_and_the_overlap_reward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import common
    import gsm8k_table

    results, runs = tmp_path / "results", tmp_path / "runs"
    results.mkdir()
    monkeypatch.setattr(common, "RESULTS", results)  # the results and the kept after-copies (none: run folders only)
    monkeypatch.setattr(gsm8k_table, "read_result", lambda name: json.loads((results / f"{name}.json").read_text()))
    base = [True] * 20 + [False] * 60
    better = [True] * 45 + [False] * 35  # +25 of 80, none lost
    write_run(results, runs, "judge", 601, base, better)
    write_run(results, runs, "overlap", 601, base, base)  # seed 601: better than both
    write_run(results, runs, "judge", 602, base, better)
    write_run(results, runs, "overlap", 602, base, better)  # seed 602: better than the base only
    write_run(results, runs, "judge", 603, base, [False] * 80)  # seed 603: significantly worse; no overlap run
    result = gsm8k_table.build([601, 602, 603], runs, {"reading": "what it means"})
    assert result["judge_better_than_base"] == ["601", "602"]
    assert result["judge_better_than_overlap"] == ["601"]
    assert result["goal_met"] is False
    assert result["judge_vs_overlap"]["603"] is None
    section = gsm8k_table.markdown(result)
    assert section.startswith(gsm8k_table.HEADING + "\n")
    assert section.count("**better**") == 4  # 601 and 602 judge, 602 overlap, 601 head-to-head
    assert section.count("**worse**") == 1
    assert "| 603 | overlap | - | - | - | not run | - |" in section
    assert (
        "than the overlap reward in 1; the goal (both, in at least 2 of 3 seeds) is not decided: "
        "2 of 3 seeds have both runs finished."
    ) in section
    assert section.rstrip().endswith("what it means")
    # 601's judge run: 20 -> 45 solved of 80, and its steps by window (the last step's reward unknown)
    assert "| 601 | judge | 300 -> 550 | 0.055 / 250 / 50% | 0.155 / 200 / 25% | 0.250 / 150 / 0% |" in section
    write_run(results, runs, "overlap", 603, base, base)
    write_run(results, runs, "judge", 604, base, better)
    write_run(results, runs, "overlap", 604, base, base)
    assert gsm8k_table.build([601, 602, 604], runs, {})["goal_met"] is True
    # a seed whose judge gate failed does not count, however the run went
    failed_gate = json.loads((results / "rft_gsm8k_judge-s604.json").read_text())
    failed_gate["judge_gate"]["passed"] = False
    (results / "rft_gsm8k_judge-s604.json").write_text(json.dumps(failed_gate))
    assert gsm8k_table.build([601, 602, 604], runs, {})["judge_better_than_base"] == ["601", "602"]


@pytest.mark.usefixtures("one_torch_thread")
def test_a_run_trains_evaluates_against_the_shared_base_and_writes_its_figures(
    tmp_path: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The overlap reward's run, end to end on the tiny policy: one base evaluation serves two seeds."""
    pytest.importorskip("trl")
    import common
    import rft_gsm8k

    monkeypatch.setattr(rft_gsm8k, "BASE_DIR", tmp_path / "base")
    monkeypatch.setattr(rft_gsm8k, "GATES_DIR", tmp_path / "gates")
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    written = []
    for seed in (611, 612):
        args = tiny_run("overlap", seed, policy_dir, f"output_dir={tmp_path / f'run{seed}'}")
        rft_gsm8k.run(args)
        written.append(json.loads((tmp_path / "results" / f"rft_gsm8k_overlap-s{seed}.json").read_text()))
    assert len(list((tmp_path / "base").glob("*/eval/before.json"))) == 1
    for result in written:
        assert result["before"]["n"] == 4 and result["after"]["n"] == 4
        assert result["change"]["prompts"] == 4 and len(result["reward_per_step"]) == 1
        assert "judge_gate" not in result
    assert (tmp_path / "run611" / "eval" / "after.jsonl").exists()
    # kept beside the results, so that a seed's head-to-head can be made where the run folders are gone
    import gsm8k_table

    kept = tmp_path / "results" / "rft_gsm8k_after" / "overlap-s611.jsonl"
    assert kept.read_bytes() == (tmp_path / "run611" / "eval" / "after.jsonl").read_bytes()
    assert (tmp_path / "results" / "rft_gsm8k_after" / "overlap-s612.json").exists()
    assert gsm8k_table.head_to_head(611, tmp_path / "gone") is None  # no judge run for this seed
    (kept.parent / "judge-s611.jsonl").write_bytes(kept.read_bytes())
    versus = gsm8k_table.head_to_head(611, tmp_path / "gone")
    assert versus is not None and versus["n"] == 4 and versus["change"]["rate"] == 0


def test_the_pre_registered_commands_parse_and_name_the_config_they_describe() -> None:
    """benchmarks/rft_preregistered_gsm8k.md: its commands are the script's, and the recipe it states is the
    example config's (a later edit of either shows here)."""
    import shlex

    import rft_gsm8k

    text = (ROOT / "benchmarks" / "rft_preregistered_gsm8k.md").read_text(encoding="utf-8")
    commands = [line.split("rft_gsm8k.py", 1)[1] for line in text.splitlines() if "benchmarks/rft_gsm8k.py" in line]
    assert len(commands) == 3
    assert "**601, 602, 603.**" in text
    config = load_config(rft_gsm8k.CONFIG)
    grpo = config.grpo.arguments()
    assert (grpo["max_steps"], grpo["num_generations"], grpo["per_device_train_batch_size"]) == (30, 4, 8)
    assert (grpo["max_completion_length"], grpo["learning_rate"], grpo["beta"]) == (256, 1e-4, 0.1)
    assert config.policy.system_prompt and config.policy.system_prompt in text
    assert config.data.eval.holdout == 128 and config.judge.model == "qwen2.5-coder-1.5b"
    for command in commands:
        words = shlex.split(command.replace("$S", "601"))
        reward, seed = words[words.index("--reward") + 1], words[words.index("--seed") + 1]
        assert reward in rft_gsm8k.REWARDS and int(seed) == 601


@pytest.mark.usefixtures("one_torch_thread")
def test_the_judge_s_run_gates_then_trains_with_the_reference_in_every_judge_prompt(
    tmp_path: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The judge's reward, end to end on the tiny policy with a scripted judge (the one faked seam): the gate is
    recorded with the final-answer check, and every verdict the judge gives reads the row's reference solution."""
    pytest.importorskip("trl")
    import common
    import rft_gsm8k
    from judgerl.judges.spec import JudgeSpec
    from support.fakes import ScriptedBackend

    backend = ScriptedBackend(probs=lambda prompt, labels: {"PASS": 0.7, "FAIL": 0.3})
    monkeypatch.setattr(JudgeSpec, "build_backend", lambda self: backend)
    monkeypatch.setattr(rft_gsm8k, "BASE_DIR", tmp_path / "base")
    monkeypatch.setattr(rft_gsm8k, "GATES_DIR", tmp_path / "gates")
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    args = tiny_run("judge", 613, policy_dir, f"output_dir={tmp_path / 'run'}", "judge.validation.prompts=2")
    rft_gsm8k.run(args)
    result = json.loads((tmp_path / "results" / "rft_gsm8k_judge-s613.json").read_text())
    assert result["judge_gate"]["checker"] == "gsm8k" and result["judge_gate"]["replies"] == 4
    assert len(result["reward_per_step"]) == 1
    rows = [json.loads(line) for line in (ROOT / "examples/gsm8k/prompts.jsonl").read_text().splitlines()]
    references = {row["reference"] for row in rows}
    prompts = [prompt for call in backend.label_calls for prompt in call]
    assert len(prompts) >= 4 + 4  # the gate's replies and one step's completions, each under three criteria
    assert all(any(reference in prompt.user for reference in references) for prompt in prompts)

    # the gate is kept beside the results: the same run started again in an empty folder (a new machine) reads
    # it instead of judging the gate's replies again
    assert (tmp_path / "gates" / "judge-s613.json").exists()
    backend.label_calls.clear()
    again = tiny_run("judge", 613, policy_dir, f"output_dir={tmp_path / 'new-machine'}", "judge.validation.prompts=2")
    rft_gsm8k.run(again)
    second = json.loads((tmp_path / "results" / "rft_gsm8k_judge-s613.json").read_text())
    assert second["judge_gate"] == result["judge_gate"]
    assert len([prompt for call in backend.label_calls for prompt in call]) < len(prompts)


def test_a_run_started_beside_another_waits_for_its_base_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs of a seed start together: the second must read the first's base evaluation, not make its own."""
    import threading
    import time

    import rft_gsm8k
    from judgerl.train.evaluate import EvalReport

    monkeypatch.setattr(rft_gsm8k, "BASE_DIR", tmp_path / "base")
    monkeypatch.setattr(rft_gsm8k, "base_fingerprint", lambda config: "fp")
    made: list[str] = []
    first_started = threading.Event()

    def slow_evaluate(config: Any, policy: str, label: str, judged: bool) -> EvalReport:
        made.append(label)
        first_started.set()
        time.sleep(0.5)  # the second run asks for the base evaluation while this one is making it
        report = EvalReport(
            label=label,
            policy=policy,
            prompts=0,
            checker="gsm8k",
            seconds=0.0,
            generation_seconds=0.0,
            judge_seconds=0.0,
            judge_score_mean=None,
            judge_pass={},
            judge_criteria={},
            unscored=0,
        )
        folder = Path(config.output_dir) / "eval"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{label}.json").write_text(report.model_dump_json())
        (folder / f"{label}.jsonl").write_text("")
        return report

    monkeypatch.setattr(rft_gsm8k, "evaluate", slow_evaluate)
    config = load_config(rft_gsm8k.CONFIG, rft_gsm8k.run_overrides(parse("overlap", "601")))
    first = threading.Thread(target=rft_gsm8k.base_report, args=(config,))
    first.start()
    first_started.wait(5)
    rft_gsm8k.base_report(config)
    first.join()
    assert made == ["before"]


def test_a_run_without_results_shows_why_where_the_texts_say(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import common
    import gsm8k_table

    monkeypatch.setattr(common, "RESULTS", tmp_path)  # the results and the kept after-copies: none for these seeds
    texts = {"not_run": {"601/judge": "stopped at step 20 of 30 (the session ended)"}}
    section = gsm8k_table.markdown(gsm8k_table.build([601, 602, 603], tmp_path, texts))
    assert "| 601 | judge | - | - | - | stopped at step 20 of 30 (the session ended) | - |" in section
    assert "| 601 | overlap | - | - | - | not run | - |" in section
    assert "| 601 | stopped at step 20 of 30 (the session ended) |" in section  # judge - overlap waits for it
    assert "the goal (both, in at least 2 of 3 seeds) is not decided: 0 of 3 seeds have both runs finished." in section
