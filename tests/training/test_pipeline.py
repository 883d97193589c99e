"""The whole pipeline on the real data: the bundle matches docs/contracts.md section 1."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from chalicelib.contract.bundle import SCHEMA_VERSION, Manifest

from tests.fixtures_bundle import REAL_DATA
from training import parity, stages
from training.clustering import reference_centroids
from training.data import file_sha256
from training.pipeline import BundleSummary, ParityError, StepClock, build_bundle
from training.schema import FEATURE_NAMES, LIMIT_MODEL_FEATURES
from training.validation import validate_file

MANIFEST_KEYS = {
    "schema_version",
    "version",
    "created_at",
    "k",
    "features",
    "id_field",
    "files",
    "segmenter",
    "limit_model",
    "segments",
    "map",
    "elbow",
    "stability",
    "migration",
    "drift_reference",
    "surrogate",
    "limit_errors",
    "parity",
    "data",
    "libraries",
    "training",
}
SEGMENT_KEYS = {
    "id",
    "name",
    "description",
    "action",
    "size",
    "share",
    "medians",
    "std_diff",
    "top_features",
    "rules",
    "centroid_raw",
    "centroid",
    "distance_percentiles",
    "limit_model",
    "example",
}


@pytest.fixture(scope="module")
def manifest(trained_bundle: BundleSummary) -> dict[str, Any]:
    return json.loads((trained_bundle.out_dir / "manifest.json").read_text())


def _no_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_no_nan(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_nan(v) for v in value)
    return True


def test_manifest_has_every_contract_section(manifest: dict[str, Any]) -> None:
    assert manifest.keys() >= MANIFEST_KEYS
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["limit_model"]["target"] == "CREDIT_LIMIT"
    assert manifest["id_field"] == "CUST_ID"
    data = dict(manifest["data"])
    sample = data.pop("sample")
    assert data == {
        "file": "CC_GENERAL.csv",
        "sha256": file_sha256(REAL_DATA),
        "rows": 8950,
    }
    # The whole file was fitted on (build_bundle without a base: the frame is every row).
    assert (sample["rows"], sample["capacity"], sample["seed"]) == (8950, None, 42)
    assert sum(sample["segment_sizes"]) == 8950
    assert [s["size"] for s in manifest["segments"]] == sample["segment_sizes"]
    assert {
        "python",
        "scikit-learn",
        "skl2onnx",
        "onnx",
        "onnxruntime",
        "numpy",
        "pandas",
    } <= manifest["libraries"].keys()
    assert manifest["elbow"]["k"] == manifest["k"]
    assert {"k", "wcss", "knee"} <= manifest["elbow"].keys()
    assert manifest["parity"]["passed"] is True
    assert manifest["parity"]["label_agreement"] == 1.0
    assert _no_nan(manifest)


def test_version_is_utc_time_and_content_hash(manifest: dict[str, Any]) -> None:
    stamp, digest = manifest["version"].split("-")
    assert stamp == manifest["created_at"].replace("-", "").replace(":", "")
    assert len(digest) == 8 and int(digest, 16) >= 0


def test_every_listed_file_exists_with_its_sha256(
    trained_bundle: BundleSummary, manifest: dict[str, Any]
) -> None:
    k = manifest["k"]
    expected = {"segmenter.onnx", "limit_global.onnx", "elbow.png"}
    expected |= {s["limit_model"]["file"] for s in manifest["segments"]}
    assert set(manifest["files"]) == expected
    for name, entry in manifest["files"].items():
        data = (trained_bundle.out_dir / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert len(manifest["segments"]) == k


def test_features_are_the_schema_with_training_ranges(manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    assert [f["name"] for f in features] == list(FEATURE_NAMES)
    by_name = {f["name"]: f for f in features}
    assert by_name["BALANCE"]["train_max"] == pytest.approx(19043.138560)
    assert by_name["CREDIT_LIMIT"]["optional"] is True
    assert by_name["MINIMUM_PAYMENTS"]["default"] == pytest.approx(312.343947, rel=1e-6)
    assert by_name["TENURE"]["integer"] is True and by_name["TENURE"]["log1p"] is False
    assert manifest["limit_model"]["features"] == list(LIMIT_MODEL_FEATURES)


def test_segments_are_complete_and_consistent(
    trained_bundle: BundleSummary, manifest: dict[str, Any]
) -> None:
    segments = manifest["segments"]
    assert [s["id"] for s in segments] == list(range(manifest["k"]))
    assert len({s["name"] for s in segments}) == len(segments)
    assert sum(s["size"] for s in segments) == 8950
    assert list(np.bincount(trained_bundle.labels)) == [s["size"] for s in segments]
    for segment in segments:
        assert segment.keys() >= SEGMENT_KEYS
        assert len(segment["centroid"]) == 17 and len(segment["distance_percentiles"]) == 101
        assert segment["distance_percentiles"] == sorted(segment["distance_percentiles"])
        assert set(segment["example"]) == set(FEATURE_NAMES)
        assert segment["limit_model"]["source"] in {"segment", "global"}


def test_segmenter_reproduces_training_labels_and_typicality(
    trained_bundle: BundleSummary, manifest: dict[str, Any]
) -> None:
    frame = validate_file(REAL_DATA).frame
    assert frame is not None
    raw = frame.loc[:, list(FEATURE_NAMES)].to_numpy(np.float32)
    session = ort.InferenceSession(
        str(trained_bundle.out_dir / "segmenter.onnx"), providers=["CPUExecutionProvider"]
    )
    labels, distances, scaled = session.run(None, {"features": raw})
    np.testing.assert_array_equal(labels, trained_bundle.labels)
    assert distances.shape == (8950, manifest["k"]) and scaled.shape == (8950, 17)
    for segment in manifest["segments"]:
        own = distances[labels == segment["id"], segment["id"]]
        assert own.max() == pytest.approx(segment["distance_percentiles"][100], abs=1e-3)
        # KMeans stops at a tolerance, so the centroid is the members' mean to ~1e-3.
        np.testing.assert_allclose(
            segment["centroid"], scaled[labels == segment["id"]].mean(0), atol=1e-2
        )


def test_manifest_scaler_numbers_reproduce_the_graphs_model_space(
    trained_bundle: BundleSummary, manifest: dict[str, Any]
) -> None:
    """Imputation default, log1p flag and the scaler's mean/scale from the manifest are
    enough to compute model space by hand (what maps a point back to the data's units)."""
    frame = validate_file(REAL_DATA).frame
    assert frame is not None
    raw = frame.loc[:, list(FEATURE_NAMES)].to_numpy(np.float64)
    features = manifest["features"]
    filled = np.where(np.isnan(raw), [f["default"] for f in features], raw)
    logged = np.where([f["log1p"] for f in features], np.log1p(filled), filled)
    by_hand = (logged - [f["scaler_mean"] for f in features]) / [
        f["scaler_scale"] for f in features
    ]
    session = ort.InferenceSession(
        str(trained_bundle.out_dir / "segmenter.onnx"), providers=["CPUExecutionProvider"]
    )
    (scaled,) = session.run(["scaled"], {"features": raw.astype(np.float32)})
    np.testing.assert_allclose(by_hand, scaled, atol=1e-4)


def test_graphs_use_opset_18_or_lower_and_standard_domains(trained_bundle: BundleSummary) -> None:
    for path in trained_bundle.out_dir.glob("*.onnx"):
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        for opset in model.opset_import:
            assert opset.domain in {"", "ai.onnx.ml"}
            assert opset.domain != "" or opset.version <= 18


def test_summary_line(trained_bundle: BundleSummary, manifest: dict[str, Any]) -> None:
    line = trained_bundle.one_line()
    assert manifest["version"] in line and f"k={manifest['k']}" in line
    assert "\n" not in line


def _small_frame(rows: int = 1500) -> Any:
    frame = validate_file(REAL_DATA).frame
    assert frame is not None
    return frame.iloc[:rows].reset_index(drop=True)


def test_a_failed_parity_check_leaves_no_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bundle"
    build_bundle(_small_frame(600), out, k=2, k_range=(2, 2), progress=False)
    assert (out / "manifest.json").is_file()
    # An impossible bound (real float32 rounding is ~1e-6): the same run must now fail.
    monkeypatch.setitem(parity.BOUNDS, "scaled", 0.0)
    with pytest.raises(ParityError, match="scaled: max abs diff"):
        build_bundle(_small_frame(600), out, k=2, k_range=(2, 2), progress=False)
    assert not (out / "manifest.json").exists()


def test_k_override_and_reference_ids(tmp_path: Path) -> None:
    first = build_bundle(_small_frame(), tmp_path / "a", k=4, k_range=(4, 4), progress=False)
    assert first.k == 4 and first.k_source == "override"
    reference = reference_centroids(first.manifest)
    again = build_bundle(
        _small_frame(),
        tmp_path / "b",
        k=4,
        k_range=(4, 4),
        seed=5,
        reference_centroids=reference,
        progress=False,
    )
    # Another seed may move boundary rows; each segment's members must keep their id.
    confusion = np.zeros((4, 4), dtype=int)
    np.add.at(confusion, (first.labels, again.labels), 1)
    assert list(confusion.argmax(axis=1)) == [0, 1, 2, 3]
    assert np.trace(confusion) / confusion.sum() >= 0.95


def test_every_stage_is_timed_the_last_one_included(manifest: dict[str, Any]) -> None:
    run = manifest["training"]
    assert list(run["step_seconds"]) == list(StepClock.STEPS)
    assert all(seconds >= 0 for seconds in run["step_seconds"].values())
    assert sum(run["step_seconds"].values()) <= run["seconds"]


def test_every_number_is_written_once(trained_bundle: BundleSummary) -> None:
    """The manifest is the only JSON in the bundle: no copy of its sections elsewhere."""
    assert sorted(p.name for p in trained_bundle.out_dir.glob("*.json")) == ["manifest.json"]
    manifest = json.loads((trained_bundle.out_dir / "manifest.json").read_text())
    assert "algorithm" not in manifest["elbow"]  # training.algorithm has it
    assert "limit_parity_rows" not in manifest["training"]  # parity.limit_rows_checked has it


def test_the_written_manifest_reads_back_through_the_contract(
    trained_bundle: BundleSummary, manifest: dict[str, Any]
) -> None:
    typed = Manifest.from_json(manifest)
    assert typed == trained_bundle.manifest
    assert typed.to_json() == manifest  # nothing lost or added on the way
    written = (trained_bundle.out_dir / "manifest.json").read_bytes()
    assert typed.dumps() == written  # and written back to the same bytes
    assert set(typed.scoring_files()) == set(manifest["files"]) - {"elbow.png"}


def test_the_stages_run_alone(tmp_path: Path) -> None:
    """Each stage takes the typed results of the ones before it, nothing else."""
    raw = _small_frame(800).loc[:, list(FEATURE_NAMES)].to_numpy(np.float64)
    options = stages.Options(
        k=3, k_range=(3, 3), seed=1, scalable=False, progress=False, stability_resamples=2
    )
    data = stages.preprocess(raw)
    assert data.scaled.shape == raw.shape and not np.isnan(data.scaled).any()
    stable = stages.check_stability(data, stages.choose_k(data, options), options)
    assert stable.chosen.k == 3 and stable.result.resamples == 2
    clusters = stages.cluster(data, stable.chosen, options, None)
    assert clusters.centers.shape == (3, 17) and set(clusters.labels.tolist()) == {0, 1, 2}
    described = stages.describe(data, clusters, stable, options)
    assert [p["id"] for p in described.profiles] == [0, 1, 2]
    assert len({n["name"] for n in described.names}) == 3
    assert described.drift_reference.rows == 800
    assert [s.id for s in described.stability.segments] == [0, 1, 2]
