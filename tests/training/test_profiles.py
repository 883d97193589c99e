"""Segment profiles, names, surrogate rules and the map, on data with known answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from chalicelib.contract.codec import encode

from training.naming import RULES, name_segments
from training.preprocess import make_preprocessor
from training.profiles import build_profiles
from training.schema import FEATURE_NAMES
from training.segment_map import MAX_SAMPLE_POINTS, build_map
from training.surrogate import fit_surrogate


def _column(name: str) -> int:
    return FEATURE_NAMES.index(name)


@pytest.fixture(scope="module")
def toy() -> dict[str, Any]:
    """Two obvious groups: cash-advance users (no purchases) and full-pay purchasers."""
    rng = np.random.default_rng(0)
    n = 600
    raw = rng.uniform(1.0, 50.0, size=(n, 17))
    raw[:, _column("TENURE")] = 12
    cash = np.arange(n) < 400
    raw[cash, _column("CASH_ADVANCE")] = rng.uniform(2000, 5000, cash.sum())
    raw[cash, _column("PURCHASES")] = 0.0
    raw[~cash, _column("PURCHASES")] = rng.uniform(1000, 3000, (~cash).sum())
    raw[~cash, _column("PRC_FULL_PAYMENT")] = 1.0
    raw[cash, _column("PRC_FULL_PAYMENT")] = 0.0
    raw[5, _column("MINIMUM_PAYMENTS")] = np.nan
    pre = make_preprocessor().fit(raw)
    scaled = pre.transform(raw)
    labels = np.where(cash, 0, 1).astype(np.int64)
    centers = np.vstack([scaled[labels == s].mean(axis=0) for s in (0, 1)])
    return {"raw": raw, "scaled": scaled, "labels": labels, "centers": centers, "pre": pre}


@pytest.fixture(scope="module")
def profiles(toy: dict[str, Any]) -> list[dict[str, Any]]:
    return build_profiles(toy["raw"], toy["scaled"], toy["labels"], toy["centers"], toy["pre"])


def test_sizes_shares_and_medians(profiles: list[dict[str, Any]], toy: dict[str, Any]) -> None:
    assert [p["size"] for p in profiles] == [400, 200]
    assert [p["share"] for p in profiles] == pytest.approx([2 / 3, 1 / 3], abs=1e-6)
    cash_median = float(np.median(toy["raw"][:400, _column("CASH_ADVANCE")]))
    assert profiles[0]["medians"]["CASH_ADVANCE"] == pytest.approx(cash_median)
    assert profiles[0]["medians"]["PURCHASES"] == 0.0


def test_std_diff_and_top_features(profiles: list[dict[str, Any]]) -> None:
    cash, buyers = profiles
    assert cash["std_diff"]["CASH_ADVANCE"] > 0.5 > cash["std_diff"]["PURCHASES"]
    assert buyers["std_diff"]["PRC_FULL_PAYMENT"] > 1
    top = {t["feature"]: t["direction"] for t in cash["top_features"]}
    assert top["CASH_ADVANCE"] == "high" and len(cash["top_features"]) == 4
    strengths = [abs(t["std_diff"]) for t in cash["top_features"]]
    assert strengths == sorted(strengths, reverse=True)


def test_centroid_raw_example_and_distance_percentiles(
    profiles: list[dict[str, Any]], toy: dict[str, Any]
) -> None:
    for profile in profiles:
        members = toy["scaled"][toy["labels"] == profile["id"]]
        distances = np.linalg.norm(members - toy["centers"][profile["id"]], axis=1)
        assert profile["distance_percentiles"][0] == pytest.approx(distances.min())
        assert profile["distance_percentiles"][100] == pytest.approx(distances.max())
        assert len(profile["distance_percentiles"]) == 101
        example = np.array([profile["example"][n] for n in FEATURE_NAMES])
        member_rows = toy["raw"][toy["labels"] == profile["id"]]
        assert any(np.allclose(example, row) for row in member_rows)  # a real member
        assert all(v is not None for v in profile["example"].values())  # a complete one
    assert profiles[0]["centroid_raw"]["CASH_ADVANCE"] > 1000


def test_names_follow_the_rules_and_are_unique(profiles: list[dict[str, Any]]) -> None:
    named = name_segments(profiles)
    assert [n["name"] for n in named] == ["Cash-advance revolvers", "Full-pay transactors"]
    assert all(n["action"] and n["description"] and n["naming_rule"] for n in named)
    assert "67% of customers" in named[0]["description"]


def test_two_matching_segments_do_not_share_a_name(profiles: list[dict[str, Any]]) -> None:
    twin = {**profiles[0], "id": 2}
    named = name_segments([profiles[0], twin])
    assert len({n["name"] for n in named}) == 2


def test_rule_names_are_unique() -> None:
    assert len({r.name for r in RULES}) == len(RULES)


def test_surrogate_states_segments_as_rules(toy: dict[str, Any]) -> None:
    imputed = toy["pre"].named_steps["impute"].transform(toy["raw"])
    tree = fit_surrogate(imputed, toy["labels"], 2, seed=0)
    assert tree.agreement == 1.0
    assert tree.rules[0] and tree.rules[1]
    assert any(
        "PURCHASES" in r or "CASH_ADVANCE" in r or "PRC_FULL_PAYMENT" in r for r in tree.rules[0]
    )
    assert encode(tree.section()) == {"max_depth": 3, "agreement": 1.0}


def test_map_projects_a_capped_sample_and_the_centroids(toy: dict[str, Any]) -> None:
    scaled = np.vstack([toy["scaled"]] * 2)
    labels = np.concatenate([toy["labels"]] * 2)
    seg_map = build_map(scaled, labels, toy["centers"], seed=0)
    assert len(seg_map["sample"]) == MAX_SAMPLE_POINTS
    assert np.array(seg_map["components"]).shape == (2, 17)
    first = np.array(seg_map["components"]) @ (toy["centers"][0] - np.array(seg_map["mean"]))
    assert [seg_map["centroids"][0]["x"], seg_map["centroids"][0]["y"]] == pytest.approx(first)
