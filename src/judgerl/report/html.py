"""The report as one self-contained HTML file: inline CSS, inline JS, plots as data URIs, no network at all.

Every piece of stored text is escaped here, or handed to the browser script as JSON and inserted with
textContent: a response that contains ``</script>`` or ``<img onerror=...>`` shows as text.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from html import escape
from importlib import resources
from typing import Any

from pydantic import ValidationError

from judgerl import __version__
from judgerl.report.data import CriterionFailures, ReportData
from judgerl.report.plots import Plot
from judgerl.store import StoredCriterion, StoredSample
from judgerl.train.gate import GateResult
from judgerl.train.selection import StepScore, lead_over_base

# No request can leave the page: images only from data: URIs, style and script only inline.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _asset(name: str) -> str:
    return resources.files("judgerl.report").joinpath("assets", name).read_text(encoding="utf-8")


def _number(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' can end or confuse it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "running or interrupted"
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _browser_data(data: ReportData) -> dict[str, Any]:
    prompts: dict[str, str] = {}
    if data.is_pairwise:
        items = []
        for i, p in enumerate(data.pairs):
            key = f"q{p.row}"
            prompts[key] = p.prompt
            items.append(
                {"i": i, "s": p.step, "id": p.pair_id, "p": key, "a": p.response_a, "b": p.response_b,
                 "pa": _number(p.p_a), "p1": _number(p.p_a_first_order), "p2": _number(p.p_a_second_order),
                 "w": p.winner, "k": p.consistent, "rat": p.rationale, "u": p.unscored_reason}
            )  # fmt: skip
        return {"kind": "pair", "prompts": prompts, "items": items, "total": len(items)}
    cluster_of: dict[tuple[int, str], int] = {}
    for failures in data.failures:
        for index, rows in enumerate(failures.cluster_rows):
            for row in rows:
                cluster_of[(row, failures.criterion)] = index
    items = [_sample_item(i, s, prompts, cluster_of) for i, s in enumerate(data.browser_samples)]
    return {
        "kind": "rubric",
        "prompts": prompts,
        "items": items,
        "total": data.browser_total,
        "length_unit": data.columns.length_unit if data.columns else "characters",
        "clusters": {f.criterion: [f"{c.label} ({c.count})" for c in f.clusters] for f in data.failures if f.clusters},
    }


def _rationale(criterion: StoredCriterion) -> str | None:
    """The rationale as shown: one that argues against its verdict says so (judgerl.judges.rationales), and one
    dropped as garbage shows why (judgerl.judges.garbage)."""
    if criterion.rationale is None and criterion.rationale_dropped is not None:
        return f"[rationale dropped: {criterion.rationale_dropped}]"
    if criterion.rationale is None or criterion.rationale_consistent is not False:
        return criterion.rationale
    return f"[argues against its verdict] {criterion.rationale}"


def _sample_item(
    index: int, sample: StoredSample, prompts: dict[str, str], cluster_of: dict[tuple[int, str], int]
) -> dict[str, Any]:
    prompts[sample.prompt_hash] = sample.prompt
    verdicts = [
        [c.criterion, None if c.passed is None else int(c.passed), _number(c.p_pass), _rationale(c), c.unscored_reason,
         cluster_of.get((sample.row, c.criterion))]
        for c in sample.criteria
    ]  # fmt: skip
    return {
        "i": index, "s": sample.step, "id": sample.sample_id, "p": sample.prompt_hash, "x": sample.response,
        "ref": sample.reference, "rw": _number(sample.reward), "u": sample.unscored_reason, "len": sample.length,
        "c": verdicts,
    }  # fmt: skip


def _summary_cards(data: ReportData) -> str:
    cards: list[tuple[str, str]] = [("steps", str(len(data.steps)))]
    columns = data.columns
    if columns is not None:
        scored = columns.unscored == 0
        cards.append(("responses judged", f"{len(columns.step):,}"))
        cards.append(("unscored", f"{1 - scored.mean():.1%}"))
        first, last = data.steps[0], data.steps[-1]
        for label, step in (("mean reward, first step", first), ("mean reward, last step", last)):
            rewards = columns.reward[(columns.step == step) & scored]
            cards.append((label, f"{rewards.mean():.3f}" if len(rewards) else "–"))
            if first == last:
                break
    if data.pairs:
        consistent = [p.consistent for p in data.pairs if p.consistent is not None]
        cards.append(("pairs judged", f"{len(data.pairs):,}"))
        cards.append(("order-consistent", f"{sum(consistent) / len(consistent):.0%}" if consistent else "–"))
    cards.append(("monitor warnings", str(len(data.monitor.warnings))))
    return "".join(
        f'<div class="card"><span class="muted">{escape(k)}</span><b>{escape(v)}</b></div>' for k, v in cards
    )


def _trust_line(data: ReportData) -> str:
    """The judge's validation on this rubric, or the warning that it had none, as recorded when the run began."""
    recorded = data.config.get("judge_trust") if isinstance(data.config, dict) else None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("line"), str):
        return ""
    line, warning = recorded["line"], bool(recorded.get("warning", True))
    style = ' class="warn"' if warning else ' class="muted"'
    return f'<p id="judge-trust"{style}>{"warning: " if warning else ""}{escape(line)}</p>'


def _warnings_section(data: ReportData) -> str:
    view = data.monitor
    anchors = data.counts.get("anchors", 0)
    origin = (
        "The monitors ran live during the run: each warning is shown at the step it fired"
        + (f"; {anchors} anchor verdicts were re-judged along the way" if anchors else "")
        if view.source == "recorded"
        else "The monitors did not run during this run: they were replayed now over the stored verdicts"
    )
    parts = [
        f'<h2 id="monitors">Reward-hacking monitors</h2><p class="muted" id="monitor-origin" '
        f'data-source="{"live" if view.source == "recorded" else "replayed"}">{escape(origin)}.</p>'
    ]
    for stop in view.stops:
        parts.append(
            f'<div class="warning" id="stopped"><b>Training stopped at step {stop.step}</b> '
            f"(monitors.stop_on_warning): {escape(stop.message or '')}</div>"
        )
    if not view.warnings:
        parts.append('<p class="ok" id="no-warnings">No monitor raised a warning.</p>')
    for warning in view.warnings:
        parts.append(
            f'<div class="warning" data-monitor="{escape(warning.name)}"><b>step {warning.step} · '
            f"{escape(warning.name)}</b>: {escape(warning.message or '')}</div>"
        )
    if view.series:
        rows = "".join(
            f"<tr><td>{escape(name.removeprefix('monitor/'))}</td><td class=num>{steps[-1]}</td>"
            f"<td class=num>{values[-1]:.3f}</td></tr>"
            for name, (steps, values) in sorted(view.series.items())
        )
        parts.append(
            '<details id="monitor-latest"><summary>Latest monitor metrics</summary><table><tr><th>metric</th>'
            f"<th>step</th><th>value</th></tr>{rows}</table></details>"
        )
    return "".join(parts)


def _failures_section(data: ReportData) -> str:
    parts = ['<h2 id="failures">Failure modes per criterion</h2>']
    parts.append(
        '<p class="muted">Rationales of failed verdicts, grouped by similarity (TF-IDF, k-means). Each group shows '
        "its most typical rationale; the label lists its most characteristic words.</p>"
    )
    texts = {c.name: c.text for c in data.criteria}
    any_failures = False
    for failures in data.failures:
        if failures.failures == 0:
            continue
        any_failures = True
        parts.append(_criterion_failures(failures, texts.get(failures.criterion, "")))
    if not any_failures:
        parts.append("<p>No failed verdicts.</p>")
    return "".join(parts)


def _criterion_failures(failures: CriterionFailures, text: str) -> str:
    name = escape(failures.criterion)
    head = (
        f'<h3 data-criterion="{name}">{name}</h3>'
        + (f'<p class="muted">{escape(text)}</p>' if text else "")
        + f"<p>{failures.failures:,} failed verdicts, {failures.with_rationale:,} with a rationale.</p>"
    )
    if not failures.clusters:
        return head + '<p class="muted">No rationales were recorded for these failures (judge with rationales).</p>'
    rows = []
    for index, (cluster, (first, last)) in enumerate(zip(failures.clusters, failures.cluster_steps, strict=True)):
        examples = "".join(f"<li>{escape(e)}</li>" for e in cluster.examples)
        more = (
            f"<details><summary class=muted>more like this</summary><ul>{examples}</ul></details>" if examples else ""
        )
        rows.append(
            f"<tr><td>{escape(cluster.label)}</td><td class=num>{cluster.count:,}</td>"
            f"<td class=num>{cluster.share:.0%}</td><td class=num>{first}–{last}</td>"
            f"<td>{escape(cluster.representative)}"
            + (more if examples else "")
            + f'</td><td><button class="linkish" data-browse-criterion="{name}" data-browse-cluster="{index}">'
            "browse</button></td></tr>"
        )  # fmt: skip
    table = (
        f'<table class="clusters" data-criterion="{name}"><tr><th>group</th><th>count</th><th>share</th><th>steps</th>'
        f"<th>representative rationale</th><th></th></tr>{''.join(rows)}</table>"
    )
    return head + table


def _browser_section(data: ReportData) -> str:
    if data.is_pairwise:
        filters = (
            '<label>outcome<select id="f-outcome"><option value="">all</option>'
            '<option value="inconsistent">orders disagree</option><option value="A">A wins</option>'
            '<option value="B">B wins</option><option value="tie">tie</option>'
            '<option value="unscored">unscored</option></select></label>'
        )
    else:
        options = "".join(f'<option value="{escape(c.name)}">{escape(c.name)}</option>' for c in data.criteria)
        filters = (
            f'<label>failed criterion<select id="f-criterion"><option value="">any</option>{options}</select></label>'
            '<label>failure group<select id="f-cluster" disabled><option value="">all</option></select></label>'
            '<label>outcome<select id="f-outcome"><option value="">all</option>'
            '<option value="failed-any">failed a criterion</option><option value="passed-all">passed all</option>'
            '<option value="unscored">unscored</option></select></label>'
            '<label>sort<select id="f-sort"><option value="step">step</option>'
            '<option value="reward-asc">reward, lowest first</option>'
            '<option value="reward-desc">reward, highest first</option>'
            '<option value="ppass">P(pass) of the criterion, lowest first</option></select></label>'
        )
    return (
        '<h2 id="browser">Sample browser</h2><div class="controls">'
        + filters
        + '<label>step from<input type="number" id="f-step-min"></label>'
        '<label>step to<input type="number" id="f-step-max"></label>'
        '<label>text<input type="search" id="f-text" placeholder="prompt, response, rationale"></label></div>'
        '<p id="browser-count" class="muted"></p><div id="browser-list"></div>'
        '<div class="pager"><button id="browser-prev">previous</button><span id="browser-page"></span>'
        '<button id="browser-next">next</button></div>'
    )


def _gate_section(data: ReportData) -> str:
    """The judge's validation before step 1 (``judge.validation``): a labelled file, the policy's own replies; and
    the thresholds a pass/fail reward paid by."""
    if not data.gates and not data.reward_thresholds:
        return ""
    parts = ['<h2 id="gate">Judge validation before step 1</h2>']
    if data.reward_thresholds:
        paid = "; ".join(
            f"{value:.3f} for &lsquo;{escape(criteria)}&rsquo;" for criteria, value in data.reward_thresholds.items()
        )
        parts.append(
            '<p id="reward-thresholds">The reward paid the judge&rsquo;s verdict, not its score: 1 above the '
            f"gate&rsquo;s threshold for the reply&rsquo;s criteria, 0 at or below ({paid}).</p>"
        )
    for gate in data.gates:
        auc = gate.get("judge_auc")
        figure = (
            f"AUC {auc:.2f} [{gate.get('low', 0.0):.2f}, {gate.get('high', 0.0):.2f}]"
            if isinstance(auc, (int, float))
            else "no AUC (one outcome only)"
        )
        verdict = "passed" if gate.get("passed") else "below the bar"
        css = "ok" if gate.get("passed") else "warning"
        replies = escape(str(gate.get("replies")))
        if gate.get("source") == "labels":
            element = "gate-labels-figure"
            what = f"{replies} labelled rows of {escape(str(gate.get('labels_file')))} against their labels"
        else:
            element = "gate-figure"
            what = f"{replies} of the policy's own replies against the {escape(str(gate.get('checker')))} checker"
        try:
            caveats = "".join(f" {c[:1].upper()}{c[1:]}." for c in GateResult.model_validate(gate).caveats())
        except ValidationError:  # a gate file from another version: its figure alone
            caveats = ""
        parts.append(
            f'<p id="{element}" class="{css}">{escape(figure)} within each criterion on {what} '
            f"({escape(str(gate.get('checker_passed')))} passed); bar {escape(str(gate.get('min_auc')))}: "
            f"{verdict}.{escape(caveats)}</p>"
        )
    return "".join(parts)


def _selection_row(step: StepScore, kept: int, kinds: list[str], calibrated: bool) -> str:
    name = ("base" if step.step == 0 else str(step.step)) + (" (kept)" if step.step == kept else "")
    judge = "-" if step.judge_score_mean is None else f"{step.judge_score_mean:.3f}"
    # the calibrated rule's score, in its own column after the judge's mean
    calibrated_cell = ""
    if calibrated:
        calibrated_cell = "<td class=num>" + ("-" if step.calibrated is None else f"{step.calibrated:.1%}") + "</td>"
    check = "-" if step.check_rate is None else f"{step.check_rate:.1%}"
    by_kind = "".join(
        f"<td class=num>{step.check_by_instruction[k]:.0%}</td>" if k in step.check_by_instruction else "<td>-</td>"
        for k in kinds
    )
    css = " class=kept" if step.step == kept else ""
    return (
        f"<tr{css}><td>{name}</td><td class=num>{judge}</td>{calibrated_cell}<td class=num>{check}</td>{by_kind}</tr>"
    )


def _selection_section(data: ReportData) -> str:
    """The checkpoint `judgerl select` kept: every candidate's validation figures and the kept one's lead."""
    if not data.selections:
        return ""
    parts = ['<h2 id="selection">Checkpoint kept on validation prompts</h2>']
    for selection in data.selections:
        kinds = sorted({k for step in selection.steps for k in step.check_by_instruction})
        head = "".join(f"<th>checker: {escape(k)}</th>" for k in kinds)
        calibrated = selection.thresholds is not None
        rows = "".join(_selection_row(step, selection.chosen_step, kinds, calibrated) for step in selection.steps)
        what = f"{selection.prompts} prompts of {escape(selection.prompts_file)}, rule <b>{escape(selection.rule)}</b>"
        calibrated_head = "<th>judge: calibrated</th>" if calibrated else ""
        parts.append(
            f'<p class="selection">{what}; {escape(lead_over_base(selection))}.</p><table><tr><th>step</th>'
            f"<th>judge: mean score</th>{calibrated_head}<th>checker: pass</th>{head}</tr>{rows}</table>"
        )
    return "".join(parts)


def render_html(data: ReportData, plots: list[Plot]) -> str:
    run = data.run
    judge_models = sorted({s.judge_model for s in data.browser_samples} | {p.judge_model for p in data.pairs})
    title = f"judgerl report: {run.name}"
    what = "pairwise" if data.is_pairwise else "rubric"
    plot_html = "".join(
        f'<figure class="plot" id="{p.id}"><h3>{escape(p.title)}</h3><img alt="{escape(p.title)}" src="{p.data_uri}">'
        f"<figcaption>{escape(p.caption)}</figcaption></figure>"
        for p in plots
    )
    unscored = "".join(
        f"<tr><td>{escape(reason)}</td><td class=num>{count:,}</td></tr>" for reason, count in data.unscored_reasons
    )
    config = escape(json.dumps(data.config, indent=2, ensure_ascii=False, default=str))
    unscored_table = (
        f"<h3>Unscored reasons</h3><table><tr><th>reason</th><th>responses</th></tr>{unscored}</table>"
        if unscored
        else ""
    )
    failures_link = "" if data.is_pairwise else '<a href="#failures">failure modes</a>'
    cascade = "".join(
        f"<tr><td>{stage}</td><td>{escape(model)}</td><td>{escape(kind)}s</td><td class=num>{count:,}</td></tr>"
        for kind, stage, model, count in data.cascade_stages
    )
    cascade_table = (
        "<h3>Judge cascade: the stage that decided each verdict</h3><table><tr><th>stage</th><th>judge</th>"
        f"<th>kind</th><th>verdicts</th></tr>{cascade}</table>"
        if cascade
        else ""
    )
    generated = _when(dt.datetime.now(tz=dt.UTC).timestamp())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{escape(title)}</title><style>{_asset("report.css")}</style></head>
<body><header><h1>{escape(title)}</h1>
<p class="muted">{escape(run.kind)} run · {what} judging · judge {escape(", ".join(judge_models) or "unknown")} ·
started {_when(run.started)} · finished {_when(run.finished)} · store {escape(data.store_path)}</p>
<nav><a href="#plots">plots</a><a href="#monitors">monitors</a>{failures_link}<a href="#browser">samples</a></nav>
{_trust_line(data)}<div class="cards">{_summary_cards(data)}</div></header>
<main>{_gate_section(data)}{_selection_section(data)}{_warnings_section(data)}<h2 id="plots">Plots</h2>{plot_html}
{unscored_table}{cascade_table}
{"" if data.is_pairwise else _failures_section(data)}{_browser_section(data)}
<details><summary>Run configuration</summary><pre>{config}</pre></details></main>
<footer>Generated by judgerl {escape(__version__)} (run recorded by {escape(run.judgerl_version)}) on {generated}.
Self-contained: no network is needed to view it.</footer>
<script type="application/json" id="browser-data">{_script_json(_browser_data(data))}</script>
<script>{_asset("report.js")}</script></body></html>
"""
