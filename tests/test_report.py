"""`judgerl report` and `judgerl inspect` on constructed runs (the browser test is test_report_browser.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgerl import PairSample
from judgerl.cli.main import cli
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.report import build_report
from judgerl.store import VerdictStore, record_judge_run, store_path
from support.fakes import ScriptedBackend
from support.report_runs import (
    HOSTILE_RATIONALE,
    HOSTILE_RESPONSE,
    RATIONALES,
    RUBRIC,
    add_calibrated_selection,
    add_selection,
    anchor_set,
    scripted_judge,
)
from test_store import judged

SRC = str(Path(__file__).parents[1] / "src")


def browser_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="browser-data">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_training_report_has_every_section(training_run: Path, training_report: str) -> None:
    html = training_report
    for plot in ("pass-rates", "reward-distribution", "unscored", "judge-cost", "reward-length", "monitors"):
        assert f'id="plot-{plot}"' in html
    assert html.count('src="data:image/png;base64,') == 6
    with VerdictStore(store_path(training_run), readonly=True) as store:
        run = store.resolve_run()
        warnings = store.events(run.id, "warning")
        samples = store.samples(run.id)
    assert warnings and all(f'data-monitor="{w.name}"' in html for w in warnings)
    assert "reward tracks response length" in html
    data = browser_data(html)
    assert data["kind"] == "rubric" and data["total"] == len(data["items"]) == len(samples)
    assert [item["id"] for item in data["items"]] == [s.sample_id for s in samples]
    # failure groups: every criterion with failures has a table whose representatives are real rationales
    for name, options in RATIONALES.items():
        failed = [s for s in samples if (v := s.verdict(name)) is not None and v.passed is False]
        if not failed:
            continue
        table = re.search(rf'<table class="clusters" data-criterion="{name}">(.*?)</table>', html, re.S)
        assert table is not None
        assert any(option in table.group(1) for option in options)
        counts = [int(n.replace(",", "")) for n in re.findall(r"<td class=num>([\d,]+)</td>", table.group(1))]
        with_rationale = sum(1 for s in failed if s.verdict(name).rationale)  # type: ignore[union-attr]
        assert sum(counts) == with_rationale


def test_report_is_self_contained_and_escapes_everything(training_report: str) -> None:
    html = training_report
    for attribute in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert attribute.startswith(("data:", "#")), attribute
    assert "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html  # the page itself forbids any request
    # stored markup never appears raw: only the report's own two <script> elements exist
    assert html.count("<script") == 2 and HOSTILE_RESPONSE not in html and HOSTILE_RATIONALE not in html
    data = browser_data(html)
    hostile = next(item for item in data["items"] if item["id"] == "hostile")
    assert hostile["x"] == HOSTILE_RESPONSE and hostile["c"][2][3] == HOSTILE_RATIONALE
    assert "&lt;i&gt;not&lt;/i&gt; &amp; &lt;/script&gt;" in html  # the rationale in the failure table


def test_browser_cap_keeps_an_even_spread_and_failure_examples(training_run: Path, tmp_path: Path) -> None:
    out = build_report(training_run, tmp_path / "small.html", max_samples=20)
    data = browser_data(out.read_text(encoding="utf-8"))
    steps = {item["s"] for item in data["items"]}
    assert data["total"] > len(data["items"]) >= 20 and min(steps) == 0 and max(steps) == 11
    assert data["clusters"]  # and every failure group has examples among the embedded samples
    for criterion, labels in data["clusters"].items():
        shown = {v[5] for item in data["items"] for v in item["c"] if v[0] == criterion and v[5] is not None}
        assert shown == set(range(len(labels)))


def test_report_of_a_judge_output(tmp_path: Path) -> None:
    samples, verdicts = judged(12)
    run_dir = tmp_path / "judged"
    record_judge_run(run_dir, samples, verdicts, rubric=RUBRIC, config={"backend": "scripted"})
    html = build_report(run_dir).read_text(encoding="utf-8")
    for plot in ("pass-rates", "reward-distribution", "judge-cost", "reward-length"):
        assert f'id="plot-{plot}"' in html
    assert 'id="plot-unscored"' in html  # one sample timed out: the reasons are plotted
    data = browser_data(html)
    assert len(data["items"]) == 12 and {item["s"] for item in data["items"]} == {0}
    assert "judge run" in html and 'data-source="replayed"' in html and "replayed now over the stored verdicts" in html


def test_report_of_a_pairwise_run(tmp_path: Path) -> None:
    def probs(prompt, labels):  # prefers the first-shown response unless B says "best"
        return {"A": 0.3, "B": 0.7} if "best" in prompt.user.split("## Response B", 1)[1] else {"A": 0.8, "B": 0.2}

    pairs = [
        PairSample(id=f"p{i}", prompt=f"Question {i}", response_a=f"answer {i}", response_b="best" if i % 3 else "meh")
        for i in range(9)
    ]
    verdicts = PairwiseJudge(ScriptedBackend(probs)).judge(pairs)
    run_dir = tmp_path / "pairs"
    record_judge_run(run_dir, pairs, verdicts)
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert 'id="plot-position"' in html and 'id="plot-judge-cost"' in html
    consistent = sum(bool(v.consistent) for v in verdicts) / len(verdicts)
    assert f"Position consistency: {consistent:.0%}" in html
    data = browser_data(html)
    assert data["kind"] == "pair" and [i["id"] for i in data["items"]] == [p.id for p in pairs]
    assert 'id="f-outcome"' in html and 'id="f-criterion"' not in html
    # one step: the monitors' values are a table, not one-point plots; the pairwise length monitor ran
    assert 'id="plot-monitors"' not in html and 'id="monitor-latest"' in html and "<td>longer_wins</td>" in html


def test_report_errors_name_the_fix(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "judgerl", "report", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip() == f"error: {tmp_path}: no verdicts.sqlite here; point at a directory written by "
        "training or `judgerl judge --store`"
    )
    empty = tmp_path / "empty"
    VerdictStore(store_path(empty)).close()
    runner = CliRunner()
    outcome = runner.invoke(cli, ["report", str(empty)])
    assert "holds no runs yet" in str(outcome.exception)


def test_cli_report_writes_the_file(training_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "r.html"
    result = CliRunner().invoke(cli, ["report", str(training_run), "--out", str(out), "--max-samples", "50"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out) and out.stat().st_size > 10_000
    assert not out.with_name("r.html.tmp").exists()


def test_inspect_worst_samples_around_a_step(training_run: Path) -> None:
    result = CliRunner().invoke(
        cli, ["inspect", str(training_run), "-c", "units", "-s", "6", "-w", "1", "-n", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    with VerdictStore(store_path(training_run), readonly=True) as store:
        run = store.resolve_run()
        window = store.samples(run.id, step_range=(5, 7))
    failures = sorted(
        (v.p_pass, s.sample_id) for s in window if (v := s.verdict("units")) is not None and v.passed is False
    )
    assert [r["sample_id"] for r in rows] == [sample_id for _, sample_id in failures[:3]]
    text = CliRunner().invoke(cli, ["inspect", str(training_run), "-c", "units", "-s", "6", "-w", "1", "-n", "3"])
    assert text.exit_code == 0
    first = next(s for s in window if s.sample_id == failures[0][1])
    assert first.verdict("units").rationale in text.output.replace("\n      ", " ")  # type: ignore[union-attr]
    assert "the 3 worst 'units' verdicts in steps 5..7" in text.output


def test_inspect_summary_failures_sample_and_warnings(training_run: Path) -> None:
    runner = CliRunner()
    summary = json.loads(runner.invoke(cli, ["inspect", str(training_run), "--json"]).output)
    with VerdictStore(store_path(training_run), readonly=True) as store:
        run = store.resolve_run()
        last = store.samples(run.id, step_range=(11, 11))
    scored = [v.passed for s in last if (v := s.verdict("correct")) is not None and v.passed is not None]
    assert summary["pass_rates"]["correct"]["last_step"] == pytest.approx(sum(scored) / len(scored))
    assert summary["counts"]["samples"] == 12 * 16 + 1 and summary["counts"]["anchors"] == 3 * len(anchor_set())

    groups = json.loads(
        runner.invoke(cli, ["inspect", str(training_run), "--failures", "-c", "polite", "--json"]).output
    )
    assert set(groups) == {"polite"} and groups["polite"][0]["representative"] in RATIONALES["polite"]

    one = runner.invoke(cli, ["inspect", str(training_run), "--sample", "s3-1-2"])
    assert one.exit_code == 0 and "step 3  id s3-1-2" in one.output and "prompt:" in one.output

    warnings = runner.invoke(cli, ["inspect", str(training_run), "--warnings"])
    assert "recorded during the run" in warnings.output and "length: reward tracks response length" in warnings.output

    missing = runner.invoke(cli, ["inspect", str(training_run), "-c", "tone"])
    assert "has no criterion 'tone'; it has: safe, correct, units, polite" in str(missing.exception)


def test_report_works_while_a_run_is_being_written(tmp_path: Path) -> None:
    """A report reads a consistent snapshot while the trainer holds a write transaction."""
    import sqlite3

    run_dir = tmp_path / "live"
    samples, verdicts = judged(6)
    record_judge_run(run_dir, samples, verdicts, rubric=RUBRIC)
    writer = sqlite3.connect(store_path(run_dir), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM criterion_verdicts")
    try:
        data = browser_data(build_report(run_dir).read_text(encoding="utf-8"))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert sum(len(item["c"]) for item in data["items"]) == sum(len(v.criteria) for v in verdicts)


def test_judge_verdicts_from_the_real_judge_round_trip_into_the_report(tmp_path: Path) -> None:
    """The rationales in the report are the judge's own (generated for failures only)."""
    judge = RubricJudge(RUBRIC, scripted_judge(False), rationales="failures")
    samples, _ = judged(4)
    verdicts = judge.judge(samples)
    record_judge_run(tmp_path / "j", samples, verdicts, rubric=RUBRIC)
    data = browser_data(build_report(tmp_path / "j").read_text(encoding="utf-8"))
    stored = {(item["id"], v[0]): v[3] for item in data["items"] for v in item["c"]}
    for verdict in verdicts:
        for criterion in verdict.criteria:
            assert stored[(verdict.id, criterion.name)] == criterion.rationale


def test_report_of_an_empty_run_and_of_a_run_without_rationales(tmp_path: Path) -> None:
    with VerdictStore(store_path(tmp_path / "empty")) as store:
        store.start_run("nothing-yet", "train")
    html = build_report(tmp_path / "empty").read_text(encoding="utf-8")
    assert "judgerl report: nothing-yet" in html and "No failed verdicts." in html
    assert browser_data(html)["items"] == [] and "<figure" not in html

    samples, _ = judged(6)
    verdicts = RubricJudge(RUBRIC, scripted_judge(False), rationales="none").judge(samples)
    record_judge_run(tmp_path / "bare", samples, verdicts, rubric=RUBRIC)
    html = build_report(tmp_path / "bare").read_text(encoding="utf-8")
    assert "No rationales were recorded for these failures" in html


def test_a_training_report_shows_the_checkpoint_judgerl_select_kept(training_run: Path, tmp_path: Path) -> None:
    import shutil

    run_dir = tmp_path / "grpo"
    shutil.copytree(training_run, run_dir)
    add_selection(run_dir)
    (run_dir / "selection-broken.json").write_text("{not json")  # left out, the report goes on
    html = build_report(run_dir).read_text(encoding="utf-8")
    section = html.split('<h2 id="selection">', 1)[1].split("<h2", 1)[0]
    assert "32 prompts of validation&lt;broad&gt;.jsonl, rule <b>check</b>" in section
    assert "<tr class=kept><td>10 (kept)</td><td class=num>0.700</td><td class=num>82.5%</td>" in section
    assert "<td class=num>85%</td><td class=num>80%</td></tr>" in section  # comply, then refuse
    assert "checker pass change +12.5% [+0.0%, +25.0%], McNemar p 0.110; not significant" in section
    assert 'id="plot-selection"' in html
    assert html.count('src="data:image/png;base64,') == 7  # the training report's six plots and this one
    assert "judge: calibrated" not in section  # a rule without thresholds has no calibrated column


def test_a_calibrated_selection_shows_its_score_beside_the_judge_s_mean(training_run: Path, tmp_path: Path) -> None:
    import shutil

    run_dir = tmp_path / "grpo"
    shutil.copytree(training_run, run_dir)
    add_calibrated_selection(run_dir)
    section = build_report(run_dir).read_text(encoding="utf-8").split('<h2 id="selection">', 1)[1].split("<h2", 1)[0]
    assert "<th>judge: mean score</th><th>judge: calibrated</th><th>checker: pass</th>" in section
    assert "<tr class=kept><td>20 (kept)</td><td class=num>0.600</td><td class=num>75.0%</td><td class=num>-</td>" in (
        section
    )
    assert "<td>10</td><td class=num>0.600</td><td class=num>-</td>" in section
    assert "judge (at the gate&#x27;s thresholds) pass change +25.0% [+10.0%, +40.0%], McNemar p 0.002" in section
