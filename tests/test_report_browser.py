"""The report opened in headless Chromium (Debian's chromium, driven over the DevTools pipe).

It must render with no console error and no network request, show its plots and the sample browser, and the
browser's filters must select exactly the samples the store says they should. Screenshots are kept in
test-artifacts/ (gitignored). Skips only when chromium is not installed.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from judgerl import PairSample
from judgerl.judges.pairwise_judge import PairwiseJudge
from judgerl.report import build_report
from judgerl.report.clusters import cluster_rationales
from judgerl.store import StoredSample, VerdictStore, record_judge_run, store_path
from support.cdp import Chromium, find_chromium
from support.fakes import ScriptedBackend
from support.report_runs import HOSTILE_RESPONSE, add_selection

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (apt-get install -y chromium); the report's browser test needs it",
    ),
    pytest.mark.timeout(300),
]
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"
PLOTS = ["pass-rates", "reward-distribution", "unscored", "judge-cost", "reward-length", "monitors"]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    assert CHROMIUM is not None
    chromium = Chromium(CHROMIUM, tmp_path / "profile")  # a fresh --user-data-dir per test
    try:
        yield chromium
    finally:
        chromium.close()


def open_page(browser: Chromium, path: Path) -> str:
    session = browser.page(1280, 900)
    browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session)
    browser.wait_for("Page.loadEventFired", session)
    return session


def problems(browser: Chromium) -> list[str]:
    """Console errors, uncaught exceptions and any request that is not the report file itself."""
    found = []
    for event in browser.events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails']}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
            found.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            found.append(f"log: {params['entry'].get('text')}")
        elif method == "Network.requestWillBeSent" and not params["request"]["url"].startswith(("file:", "data:")):
            found.append(f"request: {params['request']['url']}")
    return found


def wait_until(browser: Chromium, session: str, expression: str, timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = browser.evaluate(session, expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s} s: {expression}")
        time.sleep(0.05)


def count(browser: Chromium, session: str) -> int:
    return int(browser.evaluate(session, "document.getElementById('browser-count').dataset.count"))


def choose(browser: Chromium, session: str, select_id: str, value: str) -> None:
    browser.evaluate(
        session,
        f"(() => {{ const s = document.getElementById({json.dumps(select_id)}); s.value = {json.dumps(value)};"
        " s.dispatchEvent(new Event('change')); })()",
    )


def type_into(browser: Chromium, session: str, input_id: str, text: str) -> None:
    """Real keyboard input: focus the field, clear it, and insert text through the input pipeline."""
    browser.evaluate(
        session, f"(() => {{ const e = document.getElementById({json.dumps(input_id)}); e.focus(); e.select(); }})()"
    )
    browser.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Backspace", "code": "Backspace",
                                             "windowsVirtualKeyCode": 8}, session)  # fmt: skip
    browser.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Backspace", "code": "Backspace"}, session)
    if text:
        browser.send("Input.insertText", {"text": text}, session)


def screenshot(browser: Chromium, session: str, name: str) -> Path:
    height = int(browser.evaluate(session, "document.documentElement.scrollHeight"))
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": min(height, 16000), "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    shot = browser.send("Page.captureScreenshot", {"format": "png"}, session)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(base64.b64decode(shot["data"]))
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    return path


def failed(samples: list[StoredSample], criterion: str) -> list[StoredSample]:
    return [s for s in samples if (v := s.verdict(criterion)) is not None and v.passed is False]


def test_training_report_renders_and_filters(browser: Chromium, training_run: Path, training_report: str) -> None:
    report = training_run / "report.html"
    with VerdictStore(store_path(training_run), readonly=True) as store:
        run = store.resolve_run()
        samples = store.samples(run.id)
        unit_failures = store.failure_rationales(run.id, "units")
    session = open_page(browser, report)

    plots = browser.evaluate(
        session,
        "Array.from(document.querySelectorAll('figure.plot')).map(f => [f.id, f.querySelector('img').complete"
        " && f.querySelector('img').naturalWidth > 300])",
    )
    assert plots == [[f"plot-{p}", True] for p in PLOTS]
    assert browser.evaluate(session, "document.querySelectorAll('#browser-list details.sample').length") == 25
    assert count(browser, session) == len(samples)
    assert browser.evaluate(session, "document.querySelectorAll('.warning[data-monitor=length]').length") >= 1
    screenshot(browser, session, "report.png")

    # failed criterion: exactly the samples whose 'units' verdict failed, each showing a failed 'units' chip
    choose(browser, session, "f-criterion", "units")
    assert count(browser, session) == len(failed(samples, "units"))
    chips = browser.evaluate(
        session,
        "Array.from(document.querySelectorAll('#browser-list details.sample')).map(d =>"
        " d.querySelector('.chip[data-criterion=units]').className)",
    )
    assert chips and all(c == "chip fail" for c in chips)

    # failure group, then a step range typed on the keyboard
    groups = cluster_rationales([r["rationale"] for r in unit_failures])
    options = browser.evaluate(session, "Array.from(document.getElementById('f-cluster').options).map(o => o.text)")
    assert options == ["all"] + [f"{g.label} ({g.count})" for g in groups]
    choose(browser, session, "f-cluster", "0")
    assert count(browser, session) == groups[0].count
    type_into(browser, session, "f-step-min", "6")
    steps_in_group = [unit_failures[i]["step"] for i in groups[0].members]
    wait_until(
        browser,
        session,
        f"document.getElementById('browser-count').dataset.count == {sum(s >= 6 for s in steps_in_group)}",
    )
    shown_steps = browser.evaluate(
        session, "Array.from(document.querySelectorAll('#browser-list details.sample')).map(d => +d.dataset.step)"
    )
    assert shown_steps and min(shown_steps) >= 6
    screenshot(browser, session, "report-filtered.png")

    # the "browse" button of a failure group in the 'polite' table sets both filters
    type_into(browser, session, "f-step-min", "")
    browser.evaluate(
        session, "document.querySelector('button[data-browse-criterion=polite][data-browse-cluster=\"1\"]').click()"
    )
    polite = cluster_rationales([r["rationale"] for r in store_rows(training_run, "polite")])
    assert browser.evaluate(session, "document.getElementById('f-criterion').value") == "polite"
    assert count(browser, session) == polite[1].count

    # hostile markup shows as text and runs nothing
    choose(browser, session, "f-criterion", "")
    type_into(browser, session, "f-text", "pwned")
    wait_until(browser, session, "document.getElementById('browser-count').dataset.count == 1")
    browser.evaluate(session, "document.querySelector('#browser-list details.sample summary').click()")
    response = wait_until(
        browser, session, "(document.querySelectorAll('#browser-list details.sample[open] pre')[1] || {}).textContent"
    )
    assert response == HOSTILE_RESPONSE
    assert browser.evaluate(session, "typeof window.__pwned") == "undefined"

    # pagination over everything
    type_into(browser, session, "f-text", "")
    wait_until(browser, session, f"document.getElementById('browser-count').dataset.count == {len(samples)}")
    browser.evaluate(session, "document.getElementById('browser-next').click()")
    pages = -(-len(samples) // 25)
    assert browser.evaluate(session, "document.getElementById('browser-page').textContent") == f"page 2 of {pages}"
    assert problems(browser) == []


def store_rows(run_dir: Path, criterion: str) -> list[Any]:
    with VerdictStore(store_path(run_dir), readonly=True) as store:
        return store.failure_rationales(store.resolve_run().id, criterion)


def test_pairwise_report_renders_and_filters(browser: Chromium, tmp_path: Path) -> None:
    def probs(prompt, labels):  # position-biased unless response B is clearly better
        return {"A": 0.2, "B": 0.8} if "best" in prompt.user.split("## Response B", 1)[1] else {"A": 0.7, "B": 0.3}

    pairs = [
        PairSample(id=f"p{i}", prompt=f"Question {i}", response_a=f"answer {i}", response_b="best" if i % 3 else "meh")
        for i in range(30)
    ]
    verdicts = PairwiseJudge(ScriptedBackend(probs)).judge(pairs)
    record_judge_run(tmp_path / "pairs", pairs, verdicts)
    report = build_report(tmp_path / "pairs")
    session = open_page(browser, report)
    assert browser.evaluate(session, "!!document.querySelector('#plot-position img').naturalWidth")
    assert count(browser, session) == len(pairs)
    choose(browser, session, "f-outcome", "inconsistent")
    assert count(browser, session) == sum(v.consistent is False for v in verdicts) > 0
    choose(browser, session, "f-outcome", "B")
    assert count(browser, session) == sum(v.winner == "B" for v in verdicts) > 0
    screenshot(browser, session, "report-pairwise.png")
    assert problems(browser) == []


def test_the_harness_sees_errors_and_requests(browser: Chromium, tmp_path: Path) -> None:
    """Guard against a browser test that cannot fail: a page with an error and a request is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><body><script>console.error('broken'); fetch('http://example.invalid/x').catch(() => 0);"
        " undefinedFunction();</script></body></html>"
    )
    session = open_page(browser, page)
    deadline = time.monotonic() + 20
    while len(found := problems(browser)) < 3 and time.monotonic() < deadline:
        browser.evaluate(session, "1")  # each round trip collects the events that arrived meanwhile
    assert any("console.error" in p for p in found) and any("exception" in p for p in found)
    assert any("request: http://example.invalid/x" in p for p in found)


def test_the_checkpoint_selection_renders_with_its_plot(browser: Chromium, training_run: Path, tmp_path: Path) -> None:
    import shutil

    run_dir = tmp_path / "grpo"
    shutil.copytree(training_run, run_dir)
    add_selection(run_dir)
    session = open_page(browser, build_report(run_dir))
    shown = browser.evaluate(
        session,
        "(() => { const h = document.getElementById('selection'); const t = h.nextElementSibling.nextElementSibling;"
        " const img = document.querySelector('#plot-selection img');"
        " return [h.offsetHeight > 0, t.tagName, t.querySelectorAll('tr').length,"
        " t.querySelector('tr.kept td').textContent, img.complete && img.naturalWidth > 300]; })()",
    )
    assert shown == [True, "TABLE", 4, "10 (kept)", True]
    assert problems(browser) == []
    screenshot(browser, session, "report-selection.png")
