"""Migration between model versions: old -> new segment counts of the training rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from chalicelib.contract.codec import encode
from threadpoolctl import threadpool_limits

from tests.fixtures_bundle import REAL_DATA
from training import migration
from training.pipeline import BundleSummary, build_bundle
from training.schema import FEATURE_NAMES
from training.validation import validate_file


def _published(summary: BundleSummary) -> migration.PublishedModel:
    return migration.from_manifest(
        summary.manifest, (summary.out_dir / "segmenter.onnx").read_bytes()
    )


def test_matrix_counts_hand_worked() -> None:
    old = np.array([0, 0, 1, 1, 1, 2])
    new = np.array([0, 1, 1, 1, 3, 2])
    matrix = migration.migration_matrix(old, new, 3, 4)
    assert matrix.tolist() == [[1, 1, 0, 0], [0, 2, 0, 1], [0, 0, 1, 0]]
    published = migration.PublishedModel("v1", ("A",), ("x", "y", "z"), [], b"")
    section = encode(migration.section(published, old, new, ["a", "b", "c", "d"]))
    assert (section["rows"], section["changed"]) == (6, 2)
    assert section["changed_share"] == pytest.approx(2 / 6)
    assert section["from_version"] == "v1"
    assert [s["name"] for s in section["to_segments"]] == ["a", "b", "c", "d"]


def test_published_segmenter_gives_the_published_training_labels(
    trained_bundle: BundleSummary,
) -> None:
    frame = validate_file(REAL_DATA).frame
    assert frame is not None
    raw = frame.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    published = _published(trained_bundle)
    assert published.version == trained_bundle.manifest.version
    # Columns given in another order are put back in the graph's order by name.
    reversed_names = tuple(reversed(FEATURE_NAMES))
    labels = migration.published_labels(published, raw[:, ::-1], reversed_names)
    np.testing.assert_array_equal(labels, trained_bundle.labels)
    with pytest.raises(ValueError, match="BALANCE"):
        migration.published_labels(published, raw[:, 1:], FEATURE_NAMES[1:])


def test_retrain_against_a_published_model_records_exact_migration(tmp_path: Path) -> None:
    frame = validate_file(REAL_DATA).frame
    assert frame is not None
    small = frame.iloc[:1500].reset_index(drop=True)
    options = {"k": 3, "k_range": (3, 3), "progress": False, "stability_resamples": 2}
    with threadpool_limits(limits=1, user_api="openmp"):  # see tests/fixtures_bundle.py
        first = build_bundle(small, tmp_path / "a", **options)  # type: ignore[arg-type]
    assert first.manifest.migration is None
    # Another seed and 300 customers' balances and cash advances multiplied by 20.
    shifted = small.copy()
    shifted.loc[:299, ["BALANCE", "CASH_ADVANCE"]] *= 20
    with threadpool_limits(limits=1, user_api="openmp"):
        again = build_bundle(
            shifted,
            tmp_path / "b",
            seed=5,
            published=_published(first),
            **options,  # type: ignore[arg-type]
        )
    section = encode(again.manifest.migration)
    assert section is not None
    assert section["from_version"] == first.version
    # Old segments: the published model on the rows trained on now (shifted included).
    raw = shifted.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    old = migration.published_labels(_published(first), raw, FEATURE_NAMES)
    np.testing.assert_array_equal(old[300:], first.labels[300:])  # unshifted: as published
    expected = pd.crosstab(old, again.labels).reindex(index=range(3), columns=range(3)).fillna(0)
    assert section["matrix"] == expected.astype(int).to_numpy().tolist()
    assert section["rows"] == 1500
    assert section["changed"] == int((old != again.labels).sum())
    assert 0 < section["changed"] < 1500
    # Ids were matched to the published ones: most customers keep their segment.
    assert section["changed_share"] < 0.5


def test_check_refuses_a_published_model_this_training_cannot_compare_with() -> None:
    unknown = migration.PublishedModel("v1", ("BALANCE", "NEW_COLUMN"), ("x",), [], b"")
    with pytest.raises(ValueError, match=r"lacks: \['NEW_COLUMN'\]"):
        migration.check(unknown, FEATURE_NAMES)
    broken = migration.PublishedModel("v1", ("BALANCE",), ("x",), [], b"not onnx")
    with pytest.raises(ValueError, match="segmenter cannot be loaded"):
        migration.check(broken, FEATURE_NAMES)
