"""The report's plots: matplotlib (Agg) figures rendered to PNG data URIs, so the HTML needs no network.

Each function returns None when its data is absent (e.g. no pairs), and adapts to a one-step run (a
`judgerl judge` output): curves over steps become bars and histograms.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from judgerl.errors import JudgerlError
from judgerl.monitors import MonitorConfig
from judgerl.report.data import MonitorView, ReportData, monitor_config_of

plt: Any
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover - exercised only without the report extra
    plt = None

_MAX_BOXES = 30
_MAX_POINTS = 6000


@dataclass(frozen=True)
class Plot:
    id: str
    title: str
    caption: str
    data_uri: str


def _require() -> Any:
    if plt is None:
        raise JudgerlError("`judgerl report` needs matplotlib: pip install 'judgerl[report]'")
    return plt


def _render(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    _require().close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _step_buckets(steps: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each sample's bucket index and bucket labels: one per step, or ranges when there are many steps."""
    unique = np.unique(steps)
    if len(unique) <= _MAX_BOXES:
        return np.searchsorted(unique, steps), [str(s) for s in unique]
    edges = np.linspace(unique[0], unique[-1] + 1, _MAX_BOXES + 1)
    index = np.clip(np.searchsorted(edges, steps, side="right") - 1, 0, _MAX_BOXES - 1)
    labels = [f"{int(edges[i])}-{int(np.ceil(edges[i + 1])) - 1}" for i in range(_MAX_BOXES)]
    return index, labels


def pass_rate_plot(data: ReportData) -> Plot | None:
    if not data.pass_rates:
        return None
    fig, ax = _require().subplots(figsize=(8.5, 3.8))
    names = [c.name for c in data.criteria if c.name in data.pass_rates]
    if data.single_step:
        rates = [float(np.nanmean(data.pass_rates[n].pass_rate)) for n in names]
        ax.barh(names[::-1], rates[::-1], color="#4c72b0")
        for y, rate in enumerate(rates[::-1]):
            ax.text(min(rate + 0.01, 0.93), y, f"{rate:.0%}", va="center")
        ax.set_xlim(0, 1)
        ax.set_xlabel("pass rate (scored verdicts)")
        caption = "Share of scored verdicts that passed, per criterion."
    else:
        for name in names:
            series = data.pass_rates[name]
            ax.plot(series.steps, series.pass_rate, marker="o" if len(series.steps) < 40 else None, ms=3, label=name)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("training step")
        ax.set_ylabel("pass rate")
        ax.legend(fontsize=8, loc="best", ncol=2)
        ax.grid(alpha=0.3)
        caption = (
            "Per-criterion pass rate among scored verdicts at each step: which criterion the policy keeps failing."
        )
    return Plot("plot-pass-rates", "Pass rate per criterion", caption, _render(fig))


def reward_distribution_plot(data: ReportData) -> Plot | None:
    columns = data.columns
    if columns is None or np.isnan(columns.reward).all():
        return None
    scored = ~np.isnan(columns.reward)
    fig, ax = _require().subplots(figsize=(8.5, 3.8))
    if data.single_step:
        ax.hist(columns.reward[scored], bins=20, range=(0, 1) if columns.reward[scored].max() <= 1 else None)
        ax.set_xlabel("reward")
        ax.set_ylabel("responses")
        caption = f"Distribution of the reward over {int(scored.sum())} scored responses."
    else:
        index, labels = _step_buckets(columns.step[scored])
        groups = [columns.reward[scored][index == i] for i in range(len(labels))]
        keep = [i for i, g in enumerate(groups) if len(g)]
        ax.boxplot([groups[i] for i in keep], tick_labels=[labels[i] for i in keep], showfliers=False)
        means = [float(groups[i].mean()) for i in keep]
        ax.plot(range(1, len(keep) + 1), means, color="#c44e52", marker=".", label="mean")
        ax.set_xlabel("training step")
        ax.set_ylabel("reward")
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
        ax.legend(fontsize=8)
        caption = "Reward by step (box: quartiles, whiskers: 1.5 IQR, red: mean); unscored responses are left out."
    return Plot("plot-reward-distribution", "Reward distribution", caption, _render(fig))


def unscored_plot(data: ReportData) -> Plot | None:
    columns = data.columns
    if columns is None:
        return None
    if data.single_step:
        if not data.unscored_reasons:
            return None
        fig, ax = _require().subplots(figsize=(8.5, 0.6 + 0.4 * len(data.unscored_reasons)))
        reasons = [r if len(r) < 70 else r[:67] + "..." for r, _ in data.unscored_reasons][::-1]
        ax.barh(reasons, [n for _, n in data.unscored_reasons][::-1], color="#dd8452")
        ax.set_xlabel("unscored responses")
        ax.tick_params(axis="y", labelsize=7)
        caption = f"Why {int(columns.unscored.sum())} of {len(columns.unscored)} responses are unscored."
        return Plot("plot-unscored", "Unscored responses", caption, _render(fig))
    steps = np.unique(columns.step)
    fraction = [float(columns.unscored[columns.step == s].mean()) for s in steps]
    fig, ax = _require().subplots(figsize=(8.5, 3.0))
    ax.plot(steps, fraction, color="#dd8452", marker="o" if len(steps) < 40 else None, ms=3)
    ax.set_ylim(-0.02, max(0.1, max(fraction) * 1.15))
    ax.set_xlabel("training step")
    ax.set_ylabel("unscored fraction")
    ax.grid(alpha=0.3)
    caption = "Share of responses the judge could not score (timeouts, unparsable replies); they get no reward."
    return Plot("plot-unscored", "Unscored fraction", caption, _render(fig))


def judge_cost_plot(data: ReportData) -> Plot | None:
    columns = data.columns
    if columns is not None:
        step, latency = columns.step, columns.latency
        prompt_tokens, completion_tokens = columns.prompt_tokens, columns.completion_tokens
    elif data.pairs:
        step = np.array([p.step for p in data.pairs])
        latency = np.array([p.latency_s for p in data.pairs])
        prompt_tokens = np.array([p.prompt_tokens for p in data.pairs], dtype=float)
        completion_tokens = np.array([p.completion_tokens for p in data.pairs], dtype=float)
    else:
        return None
    fig, (left, right) = _require().subplots(1, 2, figsize=(10, 3.4))
    if data.single_step:
        left.hist(latency, bins=20, color="#55a868")
        left.set_xlabel("judge latency per response (s)")
        right.hist([prompt_tokens, completion_tokens], bins=20, label=["prompt", "completion"])
        right.set_xlabel("judge tokens per response")
        right.legend(fontsize=8)
    else:
        steps = np.unique(step)
        left.plot(steps, [latency[step == s].mean() for s in steps], label="mean")
        left.plot(steps, [np.percentile(latency[step == s], 95) for s in steps], label="p95", ls="--")
        left.set_xlabel("training step")
        left.set_ylabel("latency per response (s)")
        left.legend(fontsize=8)
        right.plot(steps, [prompt_tokens[step == s].mean() for s in steps], label="prompt")
        right.plot(steps, [completion_tokens[step == s].mean() for s in steps], label="completion")
        right.set_xlabel("training step")
        right.set_ylabel("judge tokens per response")
        right.legend(fontsize=8)
    caption = (
        f"Judge latency (mean {latency.mean():.2f} s, p95 {np.percentile(latency, 95):.2f} s) and tokens "
        f"(mean {prompt_tokens.mean():.0f} prompt + {completion_tokens.mean():.0f} completion) per response."
    )
    return Plot("plot-judge-cost", "Judge latency and tokens", caption, _render(fig))


def reward_length_plot(data: ReportData) -> Plot | None:
    from judgerl.monitors import length_reward_correlation

    columns = data.columns
    if columns is None:
        return None
    scored = ~np.isnan(columns.reward)
    if scored.sum() < 3:
        return None
    length, reward, step = columns.length[scored], columns.reward[scored], columns.step[scored]
    shown = np.arange(len(length))
    if len(shown) > _MAX_POINTS:
        shown = np.linspace(0, len(length) - 1, _MAX_POINTS).astype(int)
    fig, ax = _require().subplots(figsize=(8.5, 3.8))
    points = ax.scatter(length[shown], reward[shown], c=step[shown], s=8, alpha=0.5, cmap="viridis")
    if not data.single_step:
        fig.colorbar(points, ax=ax, label="step")
    edges = np.unique(np.quantile(length, np.linspace(0, 1, 11)))
    if len(edges) > 2:
        bins = np.clip(np.searchsorted(edges, length, side="right") - 1, 0, len(edges) - 2)
        centres = [(edges[i] + edges[i + 1]) / 2 for i in range(len(edges) - 1) if (bins == i).any()]
        means = [reward[bins == i].mean() for i in range(len(edges) - 1) if (bins == i).any()]
        ax.plot(centres, means, color="#c44e52", lw=2, label="mean reward by length decile")
        ax.legend(fontsize=8)
    ax.set_xlabel(f"response length ({columns.length_unit})")
    ax.set_ylabel("reward")
    rho = length_reward_correlation(length.tolist(), reward.tolist(), list(step))
    within = "n/a" if rho is None else f"{rho:.2f}"
    caption = (
        f"Each dot is a response. Spearman correlation of length and reward within steps: {within}. "
        "A rising red line over training is the classic sign of a judge rewarding verbosity."
    )
    return Plot("plot-reward-length", "Reward against response length", caption, _render(fig))


def position_plot(data: ReportData) -> Plot | None:
    pairs = [p for p in data.pairs if p.p_a is not None]
    if not pairs:
        return None
    steps = np.array([p.step for p in pairs])
    consistent = np.array([bool(p.consistent) for p in pairs])
    # Order 1 shows A first, order 2 shows B first: the first-shown response won if A won order 1, B order 2.
    first_won = np.array([(p.first_order_pick == "A") + (p.second_order_pick == "B") for p in pairs]) / 2
    winners = [p.winner for p in pairs]
    fig, (left, right) = _require().subplots(1, 2, figsize=(10, 3.4))
    if data.single_step:
        left.bar(
            ["order-consistent", "first shown wins"],
            [consistent.mean(), first_won.mean()],
            color=["#4c72b0", "#dd8452"],
        )
        left.set_ylim(0, 1)
        for x, value in enumerate([consistent.mean(), first_won.mean()]):
            left.text(x, value + 0.02, f"{value:.0%}", ha="center")
        right.bar(["A", "B", "tie"], [winners.count(w) for w in ("A", "B", "tie")], color="#55a868")
        right.set_ylabel("pairs")
    else:
        unique = np.unique(steps)
        left.plot(unique, [consistent[steps == s].mean() for s in unique], label="order-consistent")
        left.plot(unique, [first_won[steps == s].mean() for s in unique], label="first shown wins", ls="--")
        left.set_ylim(-0.02, 1.02)
        left.set_xlabel("training step")
        left.legend(fontsize=8)
        for winner in ("A", "B", "tie"):
            share = [np.mean([w == winner for w, s in zip(winners, steps, strict=True) if s == u]) for u in unique]
            right.plot(unique, share, label=winner)
        right.set_xlabel("training step")
        right.set_ylabel("share of pairs")
        right.legend(fontsize=8)
    caption = (
        f"Position consistency: {consistent.mean():.0%} of pairs got the same winner in both orders; the first-shown "
        f"response won {first_won.mean():.0%} of single-order verdicts (0.5 = no position bias)."
    )  # fmt: skip
    return Plot("plot-position", "Position consistency (pairwise)", caption, _render(fig))


_MONITOR_PANELS = [
    ("monitor/length_reward_corr", "length-reward correlation", "length_correlation", "above"),
    ("monitor/flat_group_fraction", "groups with flat rewards", "collapse_group_fraction", "above"),
    ("monitor/reward_std", "reward std", "collapse_min_std", "below"),
    ("monitor/anchor_flip_rate", "anchor verdicts flipped", "anchor_flip_rate", "above"),
    ("monitor/anchor_separation", "anchor good - bad", "anchor_min_separation", "below"),
    ("monitor/longer_wins", "pairs won by the longer response", "longer_wins", "above"),
]


def monitor_plot(view: MonitorView, config: MonitorConfig | None = None) -> Plot | None:
    config = config or MonitorConfig()
    panels = [(k, t, getattr(config, c), side) for k, t, c, side in _MONITOR_PANELS if k in view.series]
    panels += [(k, k.removeprefix("monitor/"), config.divergence, "above") for k in view.series if "/divergence/" in k]
    signal_checks = sorted({k.split("/")[2] for k in view.series if k.startswith("monitor/signal/")})
    by = config.signal_by or "kind"
    panels += [(f"monitor/signal/{c}", f"push toward passing '{c}', by {by}", 0.0, "kinds") for c in signal_checks]
    if not panels:
        return None
    columns = min(3, len(panels))
    rows = (len(panels) + columns - 1) // columns
    fig, axes = _require().subplots(rows, columns, figsize=(3.6 * columns, 2.6 * rows), squeeze=False)
    warned = {w.step for w in view.warnings}
    for ax, (key, title, limit, side) in zip(axes.flat, panels, strict=False):
        if side == "kinds":  # the behaviour-signal monitor: one line per kind of row, pooled over signal_steps
            for name in sorted(k for k in view.series if k.startswith(key + "/")):
                ax.plot(*view.series[name], marker="o", ms=3, label=name.rsplit("/", 1)[1])
            ax.axhline(limit, color="grey", lw=0.8)
            ax.set_title(title, fontsize=9)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=7)
            continue
        steps, values = view.series[key]
        ax.plot(steps, values, marker="o" if len(steps) < 40 else None, ms=3)
        ax.axhline(limit, color="#c44e52", ls="--", lw=1, label=f"warn {side} {limit:g}")
        marked = [(s, v) for s, v in zip(steps, values, strict=True) if s in warned]
        if marked:
            ax.scatter(*zip(*marked, strict=True), color="#c44e52", zorder=3, s=14)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    caption = f"Reward-hacking monitor metrics ({view.source}); red dots mark steps with a warning."
    return Plot("plot-monitors", "Reward-hacking monitors", caption, _render(fig))


def judge_share_plot(data: ReportData) -> Plot | None:
    """Step time and the share of it spent waiting for the judge (the trainer's metrics.jsonl)."""
    if len(data.step_times) < 2:
        return None
    steps = [s for s, _, _ in data.step_times]
    fig, ax = _require().subplots(figsize=(8.5, 3.0))
    ax.plot(steps, [t for _, t, _ in data.step_times], color="#4c72b0", label="step seconds")
    ax.plot(steps, [t * f for _, t, f in data.step_times], color="#dd8452", label="of which waiting for the judge")
    ax.set_xlabel("training step")
    ax.set_ylabel("seconds")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    share = sum(t * f for _, t, f in data.step_times) / max(1e-9, sum(t for _, t, _ in data.step_times))
    caption = f"Waiting for the judge: {share:.0%} of training time over {len(steps)} steps (judge/wait_fraction)."
    return Plot("plot-judge-share", "Judge share of step time", caption, _render(fig))


def selection_plot(data: ReportData) -> Plot | None:
    """Each candidate's validation figures by step (`judgerl select`): where the policy swung, and what was kept."""
    selections = [s for s in data.selections if len(s.steps) > 1]
    if not selections:
        return None
    fig, axes = _require().subplots(1, len(selections), figsize=(5.0 * len(selections), 3.2), squeeze=False)
    for ax, selection in zip(axes[0], selections, strict=True):
        steps = [s.step for s in selection.steps]
        if any(s.judge_score_mean is not None for s in selection.steps):
            ax.plot(steps, [s.judge_score_mean for s in selection.steps], marker="o", label="judge: mean score")
        if any(s.calibrated is not None for s in selection.steps):
            ax.plot(steps, [s.calibrated for s in selection.steps], marker="s", label="judge: calibrated")
        for kind in sorted({k for s in selection.steps for k in s.check_by_instruction}):
            rates = [s.check_by_instruction.get(kind) for s in selection.steps]
            ax.plot(steps, rates, marker=".", ls="--", label=f"checker: {kind}")
        ax.axvline(selection.chosen_step, color="#c44e52", alpha=0.6, label="kept")
        ax.set_xticks(steps)
        ax.set_xlabel("checkpoint step (0: the base policy)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{selection.prompts} prompts, rule {selection.rule}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    caption = (
        "The base policy and each checkpoint on the validation prompts of `judgerl select`; the red line marks "
        "the one kept (ties go to the earliest step)."
    )
    return Plot("plot-selection", "Checkpoints on validation prompts", caption, _render(fig))


def all_plots(data: ReportData) -> list[Plot]:
    makers = [
        pass_rate_plot,
        reward_distribution_plot,
        unscored_plot,
        judge_cost_plot,
        judge_share_plot,
        reward_length_plot,
        position_plot,
        selection_plot,
    ]
    plots = [plot for make in makers if (plot := make(data)) is not None]
    if data.single_step:  # one point per metric: the monitor section's table says it better
        return plots
    monitors = monitor_plot(data.monitor, monitor_config_of(data.config))
    return plots + ([monitors] if monitors else [])
