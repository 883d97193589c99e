"""chalicelib.drift.stats on the real data: PSI, thresholds, chunked counting, migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from chalicelib.contract.bundle import FeatureBins, Manifest
from chalicelib.contract.feature import Feature
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.drift_reference import drift_reference
from tests.manifests import a_manifest, a_segment
from training.schema import FEATURES

# functions/ is on sys.path once tests.functions.conftest is imported (as in Lambda).
from chalicelib.drift import stats as drift  # isort: skip

DATA = Path(__file__).resolve().parents[3] / "data" / "CC_GENERAL.csv"
NAMES = [f.name for f in FEATURES]
SHIFTED = ("BALANCE", "PURCHASES")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def manifest(frame: pd.DataFrame, schema_features: tuple[Feature, ...]) -> Manifest:
    """A manifest with the real data's ranges and a reference built from the real data
    (segments: a fixed three-way split stands in for the model's labels)."""
    labels = np.arange(len(frame)) % 3
    return a_manifest(
        k=3,
        features=schema_features,
        segments=tuple(a_segment(i, name=f"segment {i}", share=1 / 3) for i in range(3)),
        drift_reference=drift_reference(frame, NAMES, labels.tolist()),
    )


def counts_of(reference: drift.Reference, frame: pd.DataFrame, chunk: int = 1000) -> Any:
    """Count a frame the way the batch paths do: chunk by chunk, then merge."""
    parts = []
    matrix = frame[NAMES].to_numpy(dtype=np.float64)
    for start in range(0, len(frame), chunk):
        part = drift.new_counts(reference)
        rows = matrix[start : start + chunk]
        values = [[None if np.isnan(v) else float(v) for v in row] for row in rows]
        segments = [(start + i) % 3 for i in range(len(rows))]
        drift.add_rows(part, reference, values, segments, ["typical"] * len(rows))
        parts.append(part)
    return drift.merge(parts)


def report_of(manifest: Manifest, frame: pd.DataFrame) -> dict[str, Any]:
    reference = drift.reference_of(manifest)
    return drift.build_report(
        counts_of(reference, frame),
        reference,
        name="test",
        created_at="2026-12-02T00:00:00Z",
        model_version="v1",
        rows_in_file=len(frame),
    )


def psi_by_feature(report: dict[str, Any]) -> dict[str, float]:
    return {f["name"]: f["psi"] for f in report["features"]}


def test_a_resampled_copy_of_the_real_data_is_stable_on_every_feature(
    manifest: Manifest, frame: pd.DataFrame
) -> None:
    resampled = frame.sample(n=len(frame), replace=True, random_state=7)
    report = report_of(manifest, resampled)
    psis = psi_by_feature(report)
    assert set(psis) == set(NAMES)
    assert all(value < drift.PSI_WATCH for value in psis.values()), psis
    assert report["status"] == drift.STABLE
    assert report["flags"] == []
    assert report["rows"] == len(frame)


def test_balance_and_purchases_times_three_are_flagged_for_retraining(
    manifest: Manifest, frame: pd.DataFrame
) -> None:
    shifted = frame.copy()
    for name in SHIFTED:
        shifted[name] = shifted[name] * 3
    report = report_of(manifest, shifted)
    psis = psi_by_feature(report)
    for name in SHIFTED:
        assert psis[name] > drift.PSI_RETRAIN, (name, psis[name])
    unshifted = {n: v for n, v in psis.items() if n not in SHIFTED}
    assert all(v < drift.PSI_WATCH for v in unshifted.values()), unshifted
    flagged = {f["feature"]: f["status"] for f in report["flags"]}
    assert flagged == {"BALANCE": drift.RETRAIN, "PURCHASES": drift.RETRAIN}
    assert report["status"] == drift.RETRAIN
    assert report["worst_psi"]["feature"] in SHIFTED
    # Tripled balances and purchases run past the training maximum for some customers.
    outside = {f["name"]: f["outside_range_share"] for f in report["features"]}
    assert outside["BALANCE"] > 0 and outside["PURCHASES"] > 0
    assert outside["TENURE"] == 0
    assert report["outside_range_share"]["rows"] > 0


def test_the_unchanged_training_data_has_zero_psi(manifest: Manifest, frame: pd.DataFrame) -> None:
    report = report_of(manifest, frame)
    assert max(psi_by_feature(report).values()) < 1e-9
    assert report["segments"]["psi"] < 1e-6
    missing = {f["name"]: f["missing_share"] for f in report["features"]}
    assert missing["MINIMUM_PAYMENTS"]["now"] == pytest.approx(313 / 8950, abs=1e-6)
    assert missing["MINIMUM_PAYMENTS"]["now"] == missing["MINIMUM_PAYMENTS"]["training"]


def test_chunked_counts_equal_counts_of_the_whole_file(
    manifest: Manifest, frame: pd.DataFrame
) -> None:
    reference = drift.reference_of(manifest)
    assert counts_of(reference, frame, chunk=1000) == counts_of(reference, frame, chunk=10_000)
    restored = drift.DriftCounts.from_dict(counts_of(reference, frame).to_dict())
    assert restored == counts_of(reference, frame)


def test_a_value_on_a_cut_point_falls_in_the_lower_bin() -> None:
    reference = drift.Reference(
        features=(Feature("X", train_min=0.0, train_max=3.0),),
        bins=(FeatureBins("X", edges=(1.0, 2.0), shares=(0.3, 0.4, 0.3), missing_share=0.0),),
        segment_shares={0: 1.0},
        segment_names={0: "only"},
        rows=10,
        has_bins=True,
    )
    counts = drift.new_counts(reference)
    values: list[list[float | None]] = [[0.5], [1.0], [1.5], [2.0], [2.5], [None], [4.0]]
    drift.add_rows(counts, reference, values, [0] * 7, ["typical"] * 6 + ["atypical"])
    assert counts.bins == [[2, 2, 2]]
    assert counts.missing == [1]
    assert counts.outside == [1] and counts.rows_outside == 1
    assert counts.unusual == 1 and counts.atypical == 1


def test_psi_uses_the_epsilon_for_empty_bins_and_the_thresholds_are_inclusive() -> None:
    value = drift.psi([0.5, 0.5], [1.0, 0.0])
    expected = 0.5 * np.log(1 / 0.5) + (drift.PSI_EPSILON - 0.5) * np.log(drift.PSI_EPSILON / 0.5)
    assert value == pytest.approx(expected)
    assert drift.status_of(0.0999) == drift.STABLE
    assert drift.status_of(0.1) == drift.WATCH
    assert drift.status_of(0.25) == drift.WATCH
    assert drift.status_of(0.2501) == drift.RETRAIN


def test_a_bundle_without_bins_still_reports_segment_shares(
    schema_features: tuple[Feature, ...],
) -> None:
    manifest = a_manifest(
        features=schema_features,
        segments=(a_segment(0, name="a", share=0.5), a_segment(1, name="b", share=0.5)),
    )
    reference = drift.reference_of(manifest)
    counts = drift.new_counts(reference)
    values = [[1.0] * len(NAMES)] * 4
    drift.add_rows(counts, reference, values, [0, 0, 0, 1], ["typical"] * 4)
    report = drift.build_report(
        counts, reference, name="n", created_at="t", model_version="v", rows_in_file=4
    )
    assert report["features"] == [] and report["reference"]["bins"] is False
    shares = {s["id"]: (s["training"], s["now"]) for s in report["segments"]["shares"]}
    assert shares == {0: (0.5, 0.75), 1: (0.5, 0.25)}


def test_migration_counts_matched_moved_new_and_gone() -> None:
    before = [("A", 0), ("B", 1), ("C", 2), ("D", 0), ("", 1)]
    after = [("A", 0), ("B", 2), ("C", 0), ("E", 1), ("", 0)]
    result = drift.migration(before, after)
    assert (result["matched"], result["moved"], result["new"], result["gone"]) == (3, 2, 1, 1)
    assert result["segments"] == [0, 1, 2]
    assert result["matrix"] == [[1, 0, 0], [0, 0, 1], [1, 0, 0]]
    assert result["moved_share"] == pytest.approx(2 / 3, abs=1e-6)


def per_feature(reference: drift.Reference, values: list[list[float | None]]) -> Any:
    """The counts as one ``searchsorted`` per feature gives them (the definition)."""
    counts = drift.new_counts(reference)
    matrix = np.array(values, dtype=np.float64).reshape(len(values), len(reference.features))
    outside_any = np.zeros(len(values), dtype=bool)
    for j, (feature, bins) in enumerate(zip(reference.features, reference.bins, strict=True)):
        column = matrix[:, j]
        present = column[~np.isnan(column)]
        counts.missing[j] += len(column) - len(present)
        which = np.searchsorted(np.asarray(bins.edges), present, side="left")
        counts.bins[j] = np.bincount(which, minlength=len(bins.edges) + 1).tolist()
        low = -np.inf if feature.train_min is None else feature.train_min
        high = np.inf if feature.train_max is None else feature.train_max
        with np.errstate(invalid="ignore"):
            outside = (column < low) | (column > high)
        counts.outside[j] += int(outside.sum())
        outside_any |= outside
    counts.rows = len(values)
    counts.rows_outside = int(outside_any.sum())
    return counts


EDGES = st.lists(st.sampled_from([0.0, 1.0, 2.5, 2.5, 10.0, 100.0]), max_size=5).map(sorted)
VALUE = st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 1.0, 2.5, 3.0, 10.0, 1e6]),
                  st.floats(-5, 200))  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(EDGES, min_size=1, max_size=4), st.data())
def test_every_feature_counted_at_once_as_each_alone(
    edges: list[list[float]], data: st.DataObject
) -> None:
    features = tuple(
        Feature(f"F{j}", train_min=data.draw(st.sampled_from([None, 0.0])),
                train_max=data.draw(st.sampled_from([None, 10.0])))
        for j in range(len(edges))
    )  # fmt: skip
    reference = drift.Reference(
        features=features,
        bins=tuple(FeatureBins(f.name, tuple(e), (1.0,) * (len(e) + 1), 0.0)
                   for f, e in zip(features, edges, strict=True)),
        segment_shares={0: 1.0}, segment_names={0: "only"}, rows=1, has_bins=True,
    )  # fmt: skip
    rows = data.draw(st.lists(st.lists(VALUE, min_size=len(edges), max_size=len(edges)),
                              min_size=1, max_size=30))  # fmt: skip
    counts = drift.new_counts(reference)
    drift.add_rows(counts, reference, rows, [0] * len(rows), ["typical"] * len(rows))
    expected = per_feature(reference, rows)
    assert (counts.bins, counts.missing, counts.outside) == (
        expected.bins,
        expected.missing,
        expected.outside,
    )
    assert (counts.rows, counts.rows_outside) == (expected.rows, expected.rows_outside)
