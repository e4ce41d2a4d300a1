from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from judgerl import PairSample, PairVerdict, Sample, SampleVerdict
from judgerl.backends.base import JudgePrompt
from judgerl.errors import JudgerlError
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.judges.rubric_judge import RubricJudge
from judgerl.store import RunRecorder, VerdictStore, prompt_hash, record_judge_run, schema, store_path
from support.fakes import ScriptedBackend
from support.report_runs import RUBRIC, scripted_judge


def judged(n: int, step: int = 0, prefix: str = "s") -> tuple[list[Sample], list[SampleVerdict]]:
    samples = [
        Sample(
            id=f"{prefix}{step}-{i}",
            prompt=f"A room is {i + 2} m by 3 m. What is its area?",
            response=f"The area is {3 * (i + 2)}" + (" [nounits]" if i % 3 == 0 else " square metres.")
            + (" [timeout]" if i == 4 else ""),
            reference=str(3 * (i + 2)),
            metadata={"group": i % 2},
        )
        for i in range(n)
    ]  # fmt: skip
    return samples, RubricJudge(RUBRIC, scripted_judge(False), rationales="failures").judge(samples)


def test_samples_round_trip_with_every_field(tmp_path: Path) -> None:
    samples, verdicts = judged(6, step=3)
    with VerdictStore(tmp_path / "v.sqlite") as store:
        run = store.start_run("r1", "train", {"lr": 1e-5}, rubric=RUBRIC)
        store.record_samples(run, 3, samples, verdicts, response_tokens=list(range(6)), checks=[{"exact": 1}] * 6)
        stored = store.samples(run)
        assert [s.sample_id for s in stored] == [s.id for s in samples]
        for sample, verdict, row in zip(samples, verdicts, stored, strict=True):
            assert (row.step, row.prompt, row.response, row.reference) == (
                3,
                sample.prompt,
                sample.response,
                sample.reference,
            )
            assert row.prompt_hash == prompt_hash(sample.prompt) and row.metadata == sample.metadata
            assert row.score == verdict.score and row.reward == verdict.score
            assert row.unscored_reason == verdict.unscored_reason and row.judge_model == verdict.judge_model
            assert row.latency_s == pytest.approx(verdict.latency_s) and row.checks == {"exact": 1.0}
            assert [(c.criterion, c.p_pass, c.passed, c.rationale, c.unscored_reason) for c in row.criteria] == [
                (c.name, c.p_pass, c.passed, c.rationale, c.unscored_reason) for c in verdict.criteria
            ]
        # the 'verdicts' view: one row per criterion verdict, with the sample's columns
        view = store._query("SELECT * FROM verdicts WHERE run_id = ? ORDER BY sample_id, criterion", (run,))
        assert len(view) == sum(len(v.criteria) for v in verdicts)
        failed_units = [r for r in view if r["criterion"] == "units" and r["verdict"] == 0]
        assert {r["sample_id"] for r in failed_units} == {
            s.id for s, v in zip(samples, verdicts, strict=True) if "[nounits]" in s.response and v.scored
        }
        assert all(r["rationale"] for r in failed_units)
        info = store.resolve_run("r1")
        assert info.config == {"lr": 1e-5} and [c["name"] for c in info.rubric or []] == RUBRIC.names
        assert store._query("PRAGMA journal_mode")[0][0] == "wal"


def test_unscored_sample_without_criteria_and_nan_reward_are_kept(tmp_path: Path) -> None:
    sample = Sample(id="x", prompt="p", response="r")
    failed = SampleVerdict(id="x", score=None, unscored_reason="judge error: ConnectionError: refused")
    with VerdictStore(tmp_path / "v.sqlite") as store:
        run = store.start_run("r", "serve")
        store.record_samples(run, 0, [sample], [failed], rewards=[float("nan")])
        (row,) = store.samples(run)
        assert row.reward is None and row.unscored_reason == "judge error: ConnectionError: refused"
        view = store._query("SELECT criterion, unscored_reason FROM verdicts")
        assert [tuple(r) for r in view] == [(None, "judge error: ConnectionError: refused")]


def test_a_failing_batch_writes_nothing(tmp_path: Path) -> None:
    samples, verdicts = judged(5)
    with VerdictStore(tmp_path / "v.sqlite") as store:
        run = store.start_run("r", "train")
        store.record_samples(run, 0, samples, verdicts)
        # the last sample's token count cannot be bound: the error comes after four samples were inserted
        bad_tokens: list = [1, 2, 3, 4, object()]
        with pytest.raises(sqlite3.Error):
            store.record_samples(run, 1, samples, verdicts, response_tokens=bad_tokens)
        assert store.steps(run) == [0]
        assert store.counts(run)["samples"] == 5
        orphans = store._query(
            "SELECT COUNT(*) FROM criterion_verdicts WHERE sample_row NOT IN (SELECT id FROM samples)"
        )
        assert orphans[0][0] == 0
        with pytest.raises(ValueError, match="3 rewards for 5 samples"):
            store.record_samples(run, 2, samples, verdicts, rewards=[1, 2, 3])


def test_runs_names_resume_and_discard(tmp_path: Path) -> None:
    samples, verdicts = judged(2)
    with VerdictStore(tmp_path / "v.sqlite") as store:
        run = store.start_run("grpo", "train")
        for step in range(5):
            store.record_samples(run, step, samples, verdicts)
        store.record_events(run, 4, metrics={"monitor/x": 1.0}, warnings=[("length", "too long", 0.9, 0.5)])
        with pytest.raises(JudgerlError, match="already stored"):
            store.start_run("grpo", "train")
        assert store.start_run("grpo", "train", resume=True) == run
        assert store.discard_after(run, 2) == 4  # steps 3 and 4, two samples each
        assert store.steps(run) == [0, 1, 2] and store.events(run) == []
        other = store.start_run("eval", "eval")
        # evaluations stored after training do not hide the training run; without one, the latest run is used
        assert store.resolve_run().id == run and store.resolve_run(str(other)).name == "eval"
        with pytest.raises(JudgerlError, match=r"no run 'nope'; stored runs: grpo \(id 1\), eval \(id 2\)"):
            store.resolve_run("nope")
    with VerdictStore(tmp_path / "judge.sqlite") as store:
        store.start_run("first", "judge")
        latest = store.start_run("second", "serve")
        assert store.resolve_run().id == latest


def test_pairs_keep_both_orders(tmp_path: Path) -> None:
    def probs(prompt: JudgePrompt, labels: Sequence[str]) -> dict[str, float]:
        first = prompt.user.split("## Response A\n", 1)[1].split("\n", 2)[1]
        if "biased" in prompt.user:  # prefers whatever is shown first
            return {"A": 0.8, "B": 0.2}
        return {"A": 0.9, "B": 0.1} if "good" in first else {"A": 0.2, "B": 0.8}

    pairs = [
        PairSample(id="p1", prompt="Q", response_a="good", response_b="meh"),
        PairSample(id="p2", prompt="Q", response_a="meh", response_b="good"),
        PairSample(id="p3", prompt="Q biased", response_a="x", response_b="y"),
    ]
    verdicts = PairwiseJudge(ScriptedBackend(probs)).judge(pairs)
    with VerdictStore(tmp_path / "v.sqlite") as store:
        run = store.start_run("pairs", "judge")
        store.record_pairs(run, 0, pairs, verdicts)
        stored = {p.pair_id: p for p in store.pairs(run)}
    for verdict in verdicts:
        row = stored[verdict.id]
        assert (row.p_a, row.winner, row.consistent) == (verdict.p_a, verdict.winner, verdict.consistent)
        assert row.p_a_first_order == verdict.p_a_first_order and row.p_a_second_order == verdict.p_a_second_order
    assert (stored["p1"].first_order_pick, stored["p1"].second_order_pick) == ("A", "A")
    assert (stored["p2"].first_order_pick, stored["p2"].second_order_pick) == ("B", "B")
    # the position-biased judge picked A when A was first and B when B was first
    assert (stored["p3"].first_order_pick, stored["p3"].second_order_pick, stored["p3"].winner) == ("A", "B", "tie")


def test_migrations_are_ordered_and_applied_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v.sqlite"
    samples, verdicts = judged(2)
    with VerdictStore(path) as store:
        run = store.start_run("r", "train")
        store.record_samples(run, 0, samples, verdicts)
        assert schema.schema_version(store._db) == schema.SCHEMA_VERSION
    extra = ("ALTER TABLE samples ADD COLUMN policy_model TEXT", "UPDATE samples SET policy_model = 'tiny'")
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, extra])
    for _ in range(2):  # reopening must not run it again (ALTER TABLE would fail the second time)
        with VerdictStore(path) as store:
            assert schema.schema_version(store._db) == schema.SCHEMA_VERSION + 1
            rows = store._query("SELECT policy_model FROM samples")
            assert [r[0] for r in rows] == ["tiny", "tiny"] and store.counts(run)["samples"] == 2


def test_a_failed_migration_leaves_the_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v.sqlite"
    VerdictStore(path).close()
    broken = ("CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL")
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    with pytest.raises(JudgerlError, match=f"migration {schema.SCHEMA_VERSION + 1} failed"):
        VerdictStore(path)
    monkeypatch.undo()
    with VerdictStore(path) as store:
        assert schema.schema_version(store._db) == schema.SCHEMA_VERSION
        assert not store._query("SELECT name FROM sqlite_master WHERE name = 'half_done'")


def test_newer_or_foreign_databases_are_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    db = sqlite3.connect(newer)
    db.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 5}")
    db.close()
    with pytest.raises(JudgerlError, match="newer than this judgerl understands"):
        VerdictStore(newer)
    with pytest.raises(JudgerlError, match="no verdict store here"):
        VerdictStore(tmp_path / "missing.sqlite", readonly=True)
    foreign = tmp_path / "foreign.sqlite"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE t (x)")
    db.close()
    with pytest.raises(JudgerlError, match="not a judgerl verdict store"):
        VerdictStore(foreign, readonly=True)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JudgerlError, match="not a readable verdict store"):
        VerdictStore(garbage)


def test_concurrent_writers_and_a_reader_during_a_write(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    samples, verdicts = judged(8)
    with VerdictStore(path) as setup:
        run = setup.start_run("r", "train")
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            with VerdictStore(path) as store:  # each thread its own connection, as separate processes would be
                for step in range(offset, offset + 10):
                    store.record_samples(run, step, samples, verdicts)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(offset,)) for offset in (0, 100, 200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    with VerdictStore(path) as store:
        assert store.counts(run)["samples"] == 3 * 10 * 8
        # a reader sees committed data while another connection holds an open write transaction
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("DELETE FROM criterion_verdicts")
        with VerdictStore(path, readonly=True) as reader:
            assert reader.counts(run)["samples"] == 240
            assert len(reader.verdict_matrix(run)) == 30 * sum(len(v.criteria) for v in verdicts)
        blocker.execute("ROLLBACK")
        blocker.close()
        assert store._query("PRAGMA integrity_check")[0][0] == "ok"


def test_run_recorder_and_judge_helper(tmp_path: Path) -> None:
    samples, verdicts = judged(3)
    with RunRecorder.open(store_path(tmp_path / "run"), rubric=RUBRIC) as recorder:
        recorder.record_samples("train-1", 0, samples, verdicts, rewards=[0.1, 0.2, None])
    with VerdictStore(store_path(tmp_path / "run"), readonly=True) as store:
        run = store.resolve_run()
        assert run.finished is not None and [s.reward for s in store.samples(run.id)] == [0.1, 0.2, None]
    out = tmp_path / "judged"
    assert record_judge_run(out, samples, verdicts, rubric=RUBRIC) == out / "verdicts.sqlite"
    record_judge_run(out, samples, verdicts, rubric=RUBRIC)
    pairs = [PairSample(id="p", prompt="Q", response_a="a", response_b="b")]
    pair_verdicts = PairwiseJudge(ScriptedBackend(lambda p, labels: {"A": 0.7, "B": 0.3})).judge(pairs)
    record_judge_run(out, pairs, pair_verdicts, name="pairs")
    with VerdictStore(out / "verdicts.sqlite", readonly=True) as store:
        names = [r.name for r in store.runs()]
        assert names == ["judged", "judged-2", "pairs"]
        assert [s.sample_id for s in store.samples(store.resolve_run("judged-2").id)] == [s.id for s in samples]
        assert [p.pair_id for p in store.pairs(store.resolve_run("pairs").id)] == ["p"]


def test_worst_samples_orders_failures_by_p_pass(tmp_path: Path) -> None:
    with VerdictStore(tmp_path / "v.sqlite") as store:
        run = store.start_run("r", "train")
        for step in range(4):
            samples, verdicts = judged(9, step=step)
            store.record_samples(run, step, samples, verdicts)
        worst = store.worst_samples(run, "units", step=2, window=1, limit=50)
        assert worst and {s.step for s in worst} <= {1, 2, 3}
        units = [s.verdict("units") for s in worst]
        passed = [v.passed for v in units if v is not None]
        # failures first, then passes, unscored last; within each, lowest P(pass) first
        assert passed == sorted(passed, key=lambda p: {False: 0, True: 1, None: 2}[p])
        failures = [v.p_pass for v in units if v is not None and v.passed is False]
        assert failures == sorted(failures)
        expected_failures = sum(
            1 for step in (1, 2, 3) for s in store.samples(run, step_range=(step, step))
            if (v := s.verdict("units")) is not None and v.passed is False
        )  # fmt: skip
        assert len(failures) == expected_failures
        rewards = [s.reward for s in store.worst_samples(run, None, step=None, limit=100)]
        scored = [r for r in rewards if r is not None]
        assert scored == sorted(scored) and rewards[: len(scored)] == scored


def _open_and_record(path: str, index: int) -> int:
    from judgerl.store import VerdictStore

    with VerdictStore(path) as store:
        return store.start_run(f"run-{index}", "judge")


def test_processes_opening_a_new_store_at_once_all_get_it(tmp_path: Path) -> None:
    """Every training process opens the store; on a new file SQLite refuses a concurrent switch to WAL at once
    ("database is locked"), which must be waited out, not turned into "not a readable verdict store"."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    for attempt in range(3):
        path = str(tmp_path / f"store-{attempt}.sqlite")
        with context.Pool(6) as pool:
            ids = pool.starmap(_open_and_record, [(path, i) for i in range(6)])
        assert sorted(ids) == list(range(1, 7))


def test_a_retried_batch_is_stored_once(tmp_path: Path) -> None:
    samples, verdicts = judged(5)
    with VerdictStore(tmp_path / "v.sqlite") as store:
        run = store.start_run("r", "train")
        assert store.record_samples(run, 0, samples, verdicts) == 5
        assert store.record_samples(run, 0, samples, verdicts) == 0  # the trainer retried the reward call
        assert store.record_samples(run, 0, samples[2:] + samples[:1], verdicts[2:] + verdicts[:1]) == 0
        assert store.counts(run)["samples"] == 5
        assert len(store._query("SELECT * FROM criterion_verdicts")) == sum(len(v.criteria) for v in verdicts)
        # the same sample at another step, from the anchors or with another response is another sample
        assert store.record_samples(run, 1, samples[:1], verdicts[:1]) == 1
        assert store.record_samples(run, 1, samples[:1], verdicts[:1], source="anchor") == 1
        edited = samples[0].model_copy(update={"response": samples[0].response + " Done."})
        assert store.record_samples(run, 0, [edited], verdicts[:1]) == 1
        # the same batch in another run is stored there
        other = store.start_run("r2", "train")
        assert store.record_samples(other, 0, samples, verdicts) == 5


def test_a_retry_that_scores_replaces_an_unscored_sample(tmp_path: Path) -> None:
    samples, verdicts = judged(2)
    failed = [SampleVerdict(id=s.id, score=None, unscored_reason="judge error: timeout") for s in samples]
    with VerdictStore(tmp_path / "v.sqlite") as store:
        run = store.start_run("r", "train")
        assert store.record_samples(run, 0, samples, failed) == 2
        assert store.record_samples(run, 0, samples, verdicts) == 2
        assert store.record_samples(run, 0, samples, failed) == 0  # a failed retry never hides a verdict
        rows = store.samples(run)
        assert [(r.sample_id, r.score) for r in rows] == [(v.id, v.score) for v in verdicts]
        assert all(r.unscored_reason is None for r in rows)
        orphans = store._query(
            "SELECT COUNT(*) FROM criterion_verdicts WHERE sample_row NOT IN (SELECT id FROM samples)"
        )
        assert orphans[0][0] == 0


def test_a_retried_pair_batch_is_stored_once(tmp_path: Path) -> None:
    pairs = [PairSample(id=f"p{i}", prompt="Q", response_a=f"a{i}", response_b="b") for i in range(3)]
    verdicts = PairwiseJudge(ScriptedBackend(lambda prompt, labels: {"A": 0.7, "B": 0.3})).judge(pairs)
    with VerdictStore(tmp_path / "v.sqlite") as store:
        run = store.start_run("pairs", "judge")
        assert store.record_pairs(run, 0, pairs, verdicts) == 3
        assert store.record_pairs(run, 0, pairs, verdicts) == 0
        assert store.record_pairs(run, 1, pairs[:1], verdicts[:1]) == 1
        assert len(store.pairs(run)) == 4


def test_a_store_written_before_keys_is_keyed_and_its_duplicates_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    assert schema.migrate(db, str(path), schema.MIGRATIONS[:1]) == 1
    db.execute("INSERT INTO runs (name, kind, judgerl_version, started) VALUES ('old', 'train', '0.1', 0)")
    h = prompt_hash("Q")
    db.execute("INSERT INTO prompts (hash, text) VALUES (?, 'Q')", (h,))
    for sample_id in ("a", "a", "b"):  # 'a' stored twice by a retried batch before keys existed
        db.execute(
            "INSERT INTO samples (run_id, step, sample_id, prompt_hash, response, response_chars, score, "
            "judge_model, n_criteria, created) VALUES (1, 0, ?, ?, 'R', 1, 0.8, 'm', 0, 0)",
            (sample_id, h),
        )
    db.execute("INSERT INTO pairs (run_id, step, pair_id, prompt_hash, response_a, response_b, judge_model, created) "
               "VALUES (1, 0, 'p', ?, 'x', 'y', 'm', 0)", (h,))  # fmt: skip
    db.close()
    with VerdictStore(path) as store:
        assert schema.schema_version(store._db) == schema.SCHEMA_VERSION
        keys = [r[0] for r in store._query("SELECT sample_key FROM samples ORDER BY id")]
        assert keys[0] is not None and keys[1] is None and keys[2] not in (None, keys[0])
        assert store.counts(1)["samples"] == 3  # nothing stored is deleted
        again = Sample(id="a", prompt="Q", response="R")
        assert store.record_samples(1, 0, [again], [SampleVerdict(id="a", score=0.8)]) == 0
        pair = PairSample(id="p", prompt="Q", response_a="x", response_b="y")
        assert store._query("SELECT pair_key FROM pairs")[0][0] is not None
        assert store.record_pairs(1, 0, [pair], [PairVerdict(id="p", p_a=0.5, winner="tie", judge_model="m")]) == 0
