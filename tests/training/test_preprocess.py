"""The preprocessing pipeline and its ONNX form, against numpy by hand."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType

from training.export import export_segmenter
from training.preprocess import (
    LOG1P_MASK,
    Log1pColumns,
    imputation_values,
    make_preprocessor,
    to_original_units,
)
from training.schema import FEATURE_NAMES, LOG1P_FEATURES


def _data(rows: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.gamma(1.5, 500.0, size=(rows, len(FEATURE_NAMES)))
    X[rng.random(X.shape) < 0.05] = np.nan
    return X


def test_log1p_columns_transforms_only_masked_columns() -> None:
    X = np.array([[0.0, 3.0, 9.0], [1.0, 0.5, 99.0]])
    out = Log1pColumns((True, False, True)).fit(X).transform(X)
    np.testing.assert_allclose(out[:, 0], np.log1p(X[:, 0]))
    np.testing.assert_array_equal(out[:, 1], X[:, 1])
    np.testing.assert_allclose(out[:, 2], np.log1p(X[:, 2]))


def test_log1p_columns_rejects_a_mask_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="mask has 2 flags but X has 3 columns"):
        Log1pColumns((True, False)).fit(np.zeros((2, 3)))


def test_log1p_converter_matches_numpy_in_onnxruntime() -> None:
    X = np.abs(np.random.default_rng(1).normal(0, 1000, size=(50, 4)))
    step = Log1pColumns((True, False, False, True)).fit(X)
    model = convert_sklearn(step, initial_types=[("x", FloatTensorType([None, 4]))])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": X.astype(np.float32)})
    np.testing.assert_allclose(got, step.transform(X), rtol=1e-6, atol=1e-5)


def test_preprocessor_is_median_impute_then_log1p_then_standardise() -> None:
    X = _data()
    pre = make_preprocessor().fit(X)
    medians = np.nanmedian(X, axis=0)
    np.testing.assert_allclose(imputation_values(pre), medians)
    by_hand = np.where(np.isnan(X), medians, X)
    mask = np.array([name in LOG1P_FEATURES for name in FEATURE_NAMES])
    by_hand[:, mask] = np.log1p(by_hand[:, mask])
    by_hand = (by_hand - by_hand.mean(axis=0)) / by_hand.std(axis=0)
    np.testing.assert_allclose(pre.transform(X), by_hand, atol=1e-10)
    assert sum(LOG1P_MASK) == len(LOG1P_FEATURES) == 10  # 8 amounts + 2 counts


def test_to_original_units_inverts_the_transform_on_complete_rows() -> None:
    X = _data()
    pre = make_preprocessor().fit(X)
    complete = X[~np.isnan(X).any(axis=1)]
    np.testing.assert_allclose(to_original_units(pre, pre.transform(complete)), complete, rtol=1e-9)


def test_segmenter_graph_imputes_nan_like_scikit_learn() -> None:
    X = _data()
    pre = make_preprocessor().fit(X)
    centers = pre.transform(X[:3])
    centers = np.nan_to_num(centers)
    session = ort.InferenceSession(
        export_segmenter(pre, centers), providers=["CPUExecutionProvider"]
    )
    row = X[:1].copy()
    row[0, :] = np.nan  # every value missing -> every value imputed
    label, distances, scaled = session.run(None, {"features": row.astype(np.float32)})
    np.testing.assert_allclose(scaled, pre.transform(row), atol=1e-5)
    assert label.dtype == np.int64 and label.shape == (1,)
    assert distances.shape == (1, 3) and np.isfinite(distances).all()


def test_segmenter_distance_is_zero_not_nan_at_a_centroid() -> None:
    X = _data()
    pre = make_preprocessor().fit(X)
    complete = X[~np.isnan(X).any(axis=1)][:2]
    centers = pre.transform(complete)
    session = ort.InferenceSession(
        export_segmenter(pre, centers), providers=["CPUExecutionProvider"]
    )
    label, distances, _ = session.run(None, {"features": complete.astype(np.float32)})
    assert np.isfinite(distances).all()
    assert list(label) == [0, 1]
    assert distances[0, 0] < 1e-3 and distances[1, 1] < 1e-3
