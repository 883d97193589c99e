"""ONNX export and the parity proof: real models, real onnxruntime sessions."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from tests.fixtures_bundle import REAL_DATA
from training import parity
from training.clustering import fit_segments
from training.export import export_quantile_models, export_segmenter, quantile_output_name
from training.float32 import float32_grid, snap_thresholds_to_float32
from training.preprocess import make_preprocessor
from training.schema import FEATURE_NAMES, LIMIT_MODEL_FEATURES, LIMIT_TARGET
from training.validation import validate_file


@pytest.fixture(scope="module")
def raw() -> np.ndarray:
    frame = validate_file(REAL_DATA).frame
    assert frame is not None
    return frame.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def segmenter(raw: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    pre = make_preprocessor().fit(raw)
    scaled = pre.transform(raw)
    model, labels = fit_segments(scaled, 4, 42, scalable=False)
    return export_segmenter(pre, model.cluster_centers_), labels, model.transform(scaled), scaled


@pytest.fixture(scope="module")
def limit_data(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    columns = [FEATURE_NAMES.index(n) for n in LIMIT_MODEL_FEATURES]
    return raw[:, columns], raw[:, FEATURE_NAMES.index(LIMIT_TARGET)]


def test_quantile_output_names() -> None:
    assert [quantile_output_name(q) for q in (0.25, 0.5, 0.75)] == ["p25", "p50", "p75"]


def test_segmenter_passes_parity_on_every_real_row(
    raw: np.ndarray, segmenter: tuple[bytes, np.ndarray, np.ndarray, np.ndarray]
) -> None:
    model, labels, distances, scaled = segmenter
    result = parity.check_segmenter(model, raw, labels, distances, scaled)
    assert result["rows"] == 8950
    assert result["label_agreement"] == 1.0 and result["label_mismatches"] == 0
    assert result["max_abs_diff"]["distances"] < parity.BOUNDS["distances"]
    assert result["max_abs_diff"]["scaled"] < parity.BOUNDS["scaled"]


def test_segmenter_graph_signature(
    segmenter: tuple[bytes, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    session = ort.InferenceSession(segmenter[0], providers=["CPUExecutionProvider"])
    (features,) = session.get_inputs()
    assert (features.name, features.type, features.shape[1]) == ("features", "tensor(float)", 17)
    outputs = {o.name: o.type for o in session.get_outputs()}
    assert outputs == {
        "label": "tensor(int64)",
        "distances": "tensor(float)",
        "scaled": "tensor(float)",
    }


def test_wrong_labels_fail_parity(
    raw: np.ndarray, segmenter: tuple[bytes, np.ndarray, np.ndarray, np.ndarray]
) -> None:
    model, labels, distances, scaled = segmenter
    swapped = labels.copy()
    swapped[:10] = (swapped[:10] + 1) % 4
    seg = parity.check_segmenter(model, raw, swapped, distances, scaled)
    assert seg["label_mismatches"] == 10
    with pytest.raises(parity.ParityError, match="10 of 8950 labels differ"):
        parity.verdict(seg, {"max_abs_diff": {}, "files": {}})


def test_limit_graph_matches_scikit_learn_and_bound_is_enforced(
    limit_data: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = limit_data
    known = ~np.isnan(y)
    models = {
        q: HistGradientBoostingRegressor(
            loss="quantile", quantile=q, max_iter=30, random_state=0
        ).fit(X[known], y[known])
        for q in (0.25, 0.5, 0.75)
    }
    onnx_bytes = export_quantile_models(models, X.shape[1])
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["p25", "p50", "p75"]
    outputs = session.run(None, {"features": X.astype(np.float32)})
    assert all(o.shape == (len(X), 1) for o in outputs)
    assert not np.isnan(outputs[1]).any()  # rows with a missing MINIMUM_PAYMENTS too

    expected = {q: m.predict(X) for q, m in models.items()}
    good = parity.check_limits(X, [parity.LimitReference("f.onnx", onnx_bytes, expected)])
    assert max(good["max_abs_diff"].values()) < parity.BOUNDS["limit"]

    shifted = {q: v + 1.0 for q, v in expected.items()}  # a model that is off by 1.0
    bad = parity.check_limits(X, [parity.LimitReference("f.onnx", onnx_bytes, shifted)])
    seg = {
        "rows": 1,
        "label_agreement": 1.0,
        "label_mismatches": 0,
        "tie_mismatches": 0,
        "near_ties": 0,
        "max_abs_diff": {"distances": 0.0, "scaled": 0.0},
    }
    with pytest.raises(parity.ParityError, match="limit_p25: max abs diff 1"):
        parity.verdict(seg, bad)
    assert parity.verdict(seg, good)["passed"] is True


def test_snapped_thresholds_make_the_tree_graph_exact_on_noisy_continuous_data(
    limit_data: tuple[np.ndarray, np.ndarray],
) -> None:
    """Noisy copies put values within a float32 step of split thresholds (the 1M-row
    benchmark data did): snapping makes graph and model agree on every float32 input."""
    X, y = limit_data
    known = ~np.isnan(y)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, int(known.sum()), size=30_000)
    noisy = float32_grid(X[known][rows] * rng.lognormal(0, 0.05, size=(30_000, X.shape[1])))
    target = y[known][rows]
    model = HistGradientBoostingRegressor(
        loss="quantile", quantile=0.5, max_iter=40, random_state=0
    ).fit(noisy, target)
    before = model.predict(noisy)
    snap_thresholds_to_float32(model)
    np.testing.assert_array_equal(model.predict(noisy), before)  # same model on float32
    session = ort.InferenceSession(
        export_quantile_models({0.5: model}, X.shape[1]), providers=["CPUExecutionProvider"]
    )
    (got,) = session.run(None, {"features": noisy.astype(np.float32)})
    assert np.max(np.abs(got[:, 0] - before)) < parity.BOUNDS["limit"]


def test_a_label_tie_is_counted_not_failed(
    raw: np.ndarray, segmenter: tuple[bytes, np.ndarray, np.ndarray, np.ndarray]
) -> None:
    model, labels, distances, scaled = segmenter
    tied = distances.copy()
    other = (labels[0] + 1) % 4
    tied[0, other] = tied[0, labels[0]] + 1e-6  # row 0: two centroids within 1e-6
    claimed = labels.copy()
    claimed[0] = other  # scikit-learn "chose" the other one of the tie
    seg = parity.check_segmenter(model, raw, claimed, tied, scaled)
    assert (seg["label_mismatches"], seg["tie_mismatches"]) == (1, 1)
    # (the edited distance itself is off by more than the bound; only the tie is judged)
    tie_only = {**seg, "max_abs_diff": {"distances": 0.0, "scaled": 0.0}}
    result = parity.verdict(tie_only, {"max_abs_diff": {}, "files": {}})
    assert result["passed"] is True and result["tie_mismatches"] == 1
    assert result["label_agreement"] == pytest.approx(1 - 1 / 8950)
