from __future__ import annotations

import random

import pytest

from judgerl.report.clusters import cluster_rationales
from support.report_runs import RATIONALES

THEMES = {
    "units": RATIONALES["units"] + ["It forgot the units of the area.", "Units are missing from the final area."],
    "arithmetic": RATIONALES["correct"]
    + ["Wrong arithmetic: 7 times 8 is 56, not 54.", "The multiplication is wrong."],
    "tone": RATIONALES["polite"] + ["Impolite wording; it blames the user.", "The tone is condescending and rude."],
}


def themed(counts: dict[str, int], seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, truth = [], []
    for theme, n in counts.items():
        for _ in range(n):
            texts.append(rng.choice(THEMES[theme]))
            truth.append(theme)
    order = list(range(len(texts)))
    rng.shuffle(order)
    return [texts[i] for i in order], [truth[i] for i in order]


def impurity(clusters: list, truth: list[str]) -> float:
    """Share of rationales outside their group's majority theme."""
    outside = sum(len(c.members) - max(sum(truth[i] == t for i in c.members) for t in THEMES) for c in clusters)
    return outside / len(truth)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_groups_follow_the_themes_and_cover_every_rationale(seed: int) -> None:
    counts = {"units": 40, "arithmetic": 25, "tone": 12}
    texts, truth = themed(counts, seed)
    clusters = cluster_rationales(texts)
    members = sorted(i for c in clusters for i in c.members)
    assert members == list(range(len(texts)))  # a partition of the input
    assert sum(c.count for c in clusters) == len(texts) and sum(c.share for c in clusters) == pytest.approx(1.0)
    assert all(c.count == len(c.members) for c in clusters)
    # Bag-of-words cannot tell every paraphrase apart (one arithmetic rationale talks about "the area"),
    # so a few may land with another theme; the groups must still follow the themes.
    assert impurity(clusters, truth) < 0.15
    majority = [max(THEMES, key=lambda t, c=c: sum(truth[i] == t for i in c.members)) for c in clusters]
    assert set(majority) == set(counts)  # every theme is found
    for cluster, theme in zip(clusters, majority, strict=True):
        assert cluster.representative in THEMES[theme]  # the representative speaks for its group
    assert len(clusters) < len(set(texts))  # paraphrases are merged
    assert [c.count for c in clusters] == sorted((c.count for c in clusters), reverse=True)


def test_identical_rationales_form_one_group_and_edge_cases() -> None:
    assert cluster_rationales([]) == []
    (single,) = cluster_rationales(["Only one reason."])
    assert single.count == 1 and single.representative == "Only one reason." and single.members == [0]
    (same,) = cluster_rationales(["The answer is wrong."] * 30)
    assert same.count == 30 and same.share == 1.0
    # rationales with no distinctive word (all stopwords) still land somewhere and are counted
    clusters = cluster_rationales(["No.", "It is not.", *THEMES["units"] * 3])
    assert sum(c.count for c in clusters) == 2 + 3 * len(THEMES["units"])


def test_large_inputs_are_fitted_on_a_subsample_and_fully_assigned() -> None:
    texts, truth = themed({"units": 300, "arithmetic": 200, "tone": 100}, seed=3)
    texts = [f"{t} (sample {i})" for i, t in enumerate(texts)]  # every rationale unique
    clusters = cluster_rationales(texts, max_fit=120)
    assert sum(c.count for c in clusters) == 600
    assert impurity(clusters, truth) < 0.15
