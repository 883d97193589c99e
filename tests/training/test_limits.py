"""Per-segment credit-limit models: evaluation against both baselines, fallback, refit."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures_bundle import REAL_DATA
from training import limits
from training.schema import FEATURE_NAMES, LIMIT_MODEL_FEATURES, LIMIT_TARGET
from training.validation import validate_file


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real rows; segment 0 = purchasers, 1 = the rest, 2 = a deliberately tiny segment."""
    frame = validate_file(REAL_DATA).frame
    assert frame is not None
    frame = frame.iloc[:4000]
    X = frame.loc[:, list(LIMIT_MODEL_FEATURES)].to_numpy(np.float64)
    y = frame[LIMIT_TARGET].to_numpy(np.float64)
    segments = np.where(frame["PURCHASES"].to_numpy() > 500, 0, 1).astype(np.int64)
    segments[:150] = 2
    return X, y, segments


@pytest.fixture(scope="module")
def fitted(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> limits.LimitModels:
    X, y, segments = data
    return limits.fit_limit_models(X, y, segments, 3, seed=0, progress=False)


def test_errors_report_each_segment_against_both_baselines(fitted: limits.LimitModels) -> None:
    errors = fitted.errors
    assert errors["global"]["pinball"] > 0 and errors["global"]["mae_p50"] > 0
    for key in ("0", "1"):
        entry = errors["segments"][key]
        assert {"global", "segment_median", "segment", "source", "reason"} <= entry.keys()
        for scores in (entry["global"], entry["segment_median"], entry["segment"]):
            assert {"pinball", "mae_p50", "pinball_p25", "pinball_p50", "pinball_p75"} <= (
                scores.keys()
            )
        chose_own = entry["segment"]["pinball"] < entry["global"]["pinball"]
        assert entry["source"] == ("segment" if chose_own else "global")
        assert fitted.source(int(key)) == entry["source"]


def test_a_small_segment_falls_back_to_the_global_model(fitted: limits.LimitModels) -> None:
    entry = fitted.errors["segments"]["2"]
    assert entry["train_rows"] < limits.MIN_SEGMENT_TRAIN_ROWS
    assert entry["source"] == "global" and "segment" not in entry
    assert fitted.source(2) == "global" and 2 not in fitted.segment_models


def test_the_models_beat_a_constant_on_held_out_rows(fitted: limits.LimitModels) -> None:
    for entry in fitted.errors["segments"].values():
        assert entry["global"]["pinball"] < entry["segment_median"]["pinball"] * 1.05


def test_rows_without_a_target_are_left_out_and_quantiles_are_ordered(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], fitted: limits.LimitModels
) -> None:
    X, y, _ = data
    rows = fitted.errors["rows"]
    assert rows["train"] + rows["test"] == int(np.sum(~np.isnan(y)))
    p25, p50, p75 = (fitted.global_models[q].predict(X) for q in limits.QUANTILES)
    # Separate quantile fits can cross (serving sorts them); on real rows they mostly don't.
    assert np.mean(p25 <= p50) > 0.9 and np.mean(p50 <= p75) > 0.9


def test_max_fit_rows_caps_the_training_sample(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    X, y, segments = data
    capped = limits.fit_limit_models(
        X, y, np.zeros_like(segments), 1, seed=0, max_fit_rows=500, progress=False
    )
    model = capped.global_models[0.5]
    assert model.n_features_in_ == 16
    # The binned training set shows the cap: at most 500 distinct values per feature.
    assert all(len(t) <= 500 for t in model._bin_mapper.bin_thresholds_)
    assert FEATURE_NAMES.index(LIMIT_TARGET) == 12
