"""The preprocessing that turns raw customer values into model space.

Median imputation, then log1p on the skewed amount and count columns, then standard
scaling. It is a plain scikit-learn pipeline so it can be exported into the ONNX graph:
serving then takes raw values and never re-implements any of it.

skl2onnx has no converter for ``FunctionTransformer(np.log1p)``, so the log step is a
tiny transformer of our own (:class:`Log1pColumns`) with a registered converter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from skl2onnx import update_registered_converter
from skl2onnx.algebra.onnx_ops import OnnxAdd, OnnxLog, OnnxWhere
from skl2onnx.common.data_types import guess_numpy_type
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from training.schema import FEATURE_NAMES, LOG1P_FEATURES


class Log1pColumns(TransformerMixin, BaseEstimator):
    """Apply ``log1p`` to the columns selected by ``mask``; pass the others through.

    Parameters
    ----------
    mask : sequence of bool
        One flag per input column; True means the column is log1p-transformed.
    """

    def __init__(self, mask: tuple[bool, ...] = ()) -> None:
        self.mask = mask

    def fit(self, X: NDArray[np.floating[Any]], y: object = None) -> Log1pColumns:
        """Check the mask fits the data; nothing is learnt."""
        n_columns = np.asarray(X).shape[1]
        if len(self.mask) != n_columns:
            raise ValueError(f"mask has {len(self.mask)} flags but X has {n_columns} columns")
        self.mask_ = np.asarray(self.mask, dtype=bool)
        self.n_features_in_ = n_columns
        return self

    def transform(self, X: NDArray[np.floating[Any]]) -> NDArray[np.floating[Any]]:
        """Return a copy of X with log1p applied to the masked columns."""
        out = np.array(X, dtype=np.float64, copy=True)
        out[:, self.mask_] = np.log1p(out[:, self.mask_])
        return out


def _log1p_shape(operator: Any) -> None:
    """Output has the input's type and shape (the transform is element-wise)."""
    source = operator.inputs[0].type
    operator.outputs[0].type = source.__class__(
        [operator.inputs[0].get_first_dimension(), operator.raw_operator.n_features_in_]
    )


def _log1p_converter(scope: Any, operator: Any, container: Any) -> None:
    """Emit ``Where(mask, Log(X + 1), X)``: standard ONNX ops only."""
    opv = container.target_opset
    X = operator.inputs[0]
    dtype = guess_numpy_type(X.type)
    mask = operator.raw_operator.mask_.reshape(1, -1)
    logged = OnnxLog(OnnxAdd(X, np.array([1], dtype=dtype), op_version=opv), op_version=opv)
    result = OnnxWhere(mask, logged, X, op_version=opv, output_names=operator.outputs[:1])
    result.add_to(scope, container)


update_registered_converter(Log1pColumns, "CcSegLog1pColumns", _log1p_shape, _log1p_converter)

LOG1P_MASK: tuple[bool, ...] = tuple(name in LOG1P_FEATURES for name in FEATURE_NAMES)


def make_preprocessor() -> Pipeline:
    """The unfitted preprocessing pipeline for the 17 schema features, in schema order."""
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("log1p", Log1pColumns(LOG1P_MASK)),
            ("scale", StandardScaler()),
        ]
    )


def imputation_values(preprocessor: Pipeline) -> NDArray[np.float64]:
    """The per-column imputation values (training medians) in original units."""
    return np.asarray(preprocessor.named_steps["impute"].statistics_, dtype=np.float64)


def scaler_values(preprocessor: Pipeline) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The standard scaler's per-column mean and scale (of the log1p-or-identity values)."""
    scale = preprocessor.named_steps["scale"]
    return np.asarray(scale.mean_, np.float64), np.asarray(scale.scale_, np.float64)


def to_original_units(preprocessor: Pipeline, scaled: NDArray[np.floating[Any]]) -> NDArray[Any]:
    """Map model-space points (e.g. centroids) back to original units.

    Inverse scaling, then ``expm1`` on the log1p columns. Imputation has no inverse and
    needs none: a point in model space already has every value.
    """
    unscaled = preprocessor.named_steps["scale"].inverse_transform(np.asarray(scaled))
    unlogged = np.array(unscaled, dtype=np.float64, copy=True)
    unlogged[:, preprocessor.named_steps["log1p"].mask_] = np.expm1(
        unlogged[:, preprocessor.named_steps["log1p"].mask_]
    )
    return unlogged
