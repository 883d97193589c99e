"""The manifest's ``drift_reference``: decile edges, bin shares and segment shares."""

from __future__ import annotations

import numpy as np
import pytest
from chalicelib.contract.codec import encode

from tests.fixtures_bundle import REAL_DATA
from training import drift_reference
from training.pipeline import BundleSummary
from training.schema import FEATURE_NAMES
from training.validation import validate_file


def test_distinct_values_give_nine_deciles_and_equal_shares() -> None:
    values = np.arange(1.0, 101.0)  # 1..100
    edges = drift_reference.feature_edges(values)
    assert edges.tolist() == pytest.approx([10.9, 20.8, 30.7, 40.6, 50.5, 60.4, 70.3, 80.2, 90.1])
    assert drift_reference.bin_shares(values, edges).tolist() == pytest.approx([0.1] * 10)


def test_ties_collapse_edges_and_a_value_on_an_edge_falls_in_the_lower_bin() -> None:
    values = np.array([0.0] * 6 + [5.0, 7.0, np.nan, np.nan])
    edges = drift_reference.feature_edges(values)
    # 8 non-missing values, linear interpolation at position q * 7: the deciles 0.1..0.7
    # are all 0; 0.8 -> 0 + 0.6 * (5 - 0) = 3; 0.9 -> 5 + 0.3 * (7 - 5) = 5.6.
    assert edges.tolist() == pytest.approx([0.0, 3.0, 5.6])
    # 0 is "at most e1" -> bin 0; 5 lies in (3, 5.6] -> bin 2; 7 is above e3 -> bin 3.
    assert drift_reference.bin_shares(values, edges).tolist() == [0.75, 0.0, 0.125, 0.125]
    on_edge = drift_reference.bin_shares(np.array([3.0]), edges)
    assert on_edge.tolist() == [0.0, 1.0, 0.0, 0.0]


def test_build_records_missing_share_and_segment_shares() -> None:
    raw = np.array([[1.0, np.nan], [2.0, 4.0], [3.0, np.nan], [4.0, 8.0]])
    reference = encode(drift_reference.build(raw, ["A", "B"], np.array([0, 0, 1, 2]), 4))
    assert reference["bins"] == 10
    assert reference["rows"] == 4
    assert [f["name"] for f in reference["features"]] == ["A", "B"]
    assert reference["features"][1]["missing_share"] == 0.5
    assert sum(reference["features"][1]["shares"]) == pytest.approx(1.0)
    assert reference["segment_shares"] == [
        {"id": 0, "share": 0.5},
        {"id": 1, "share": 0.25},
        {"id": 2, "share": 0.25},
        {"id": 3, "share": 0.0},
    ]


def test_the_bundle_carries_the_real_training_distribution(
    trained_bundle: BundleSummary,
) -> None:
    typed = trained_bundle.manifest.drift_reference
    assert typed is not None
    reference = encode(typed)
    assert reference["rows"] == trained_bundle.rows
    assert [f["name"] for f in reference["features"]] == [
        f.name for f in trained_bundle.manifest.features
    ]
    frame = validate_file(REAL_DATA).frame
    assert frame is not None
    for feature in reference["features"]:
        edges = feature["edges"]
        assert 1 <= len(edges) <= 9
        assert edges == sorted(set(edges))
        assert len(feature["shares"]) == len(edges) + 1
        assert sum(feature["shares"]) == pytest.approx(1.0)
        # Re-binning the real column with the shipped edges gives the shipped shares.
        values = frame[feature["name"]].to_numpy(dtype=np.float64)
        seen = values[~np.isnan(values)]
        bins = np.searchsorted(np.asarray(edges), seen, side="left")
        assert np.bincount(bins, minlength=len(edges) + 1) / len(seen) == pytest.approx(
            feature["shares"]
        )
        assert feature["missing_share"] == pytest.approx(np.isnan(values).mean())
    minimum = next(f for f in reference["features"] if f["name"] == "MINIMUM_PAYMENTS")
    assert minimum["missing_share"] > 0  # the real data has gaps there
    counts = np.bincount(trained_bundle.labels, minlength=trained_bundle.k)
    assert [s["share"] for s in reference["segment_shares"]] == pytest.approx(
        (counts / trained_bundle.rows).tolist()
    )
    assert [s["id"] for s in reference["segment_shares"]] == list(range(trained_bundle.k))
    assert len(FEATURE_NAMES) == len(reference["features"])
