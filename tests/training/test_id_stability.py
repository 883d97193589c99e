"""Segment ids survive retraining on similar data (real data, resampled with noise)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from tests.fixtures_bundle import REAL_DATA
from training.clustering import fit_segments, reference_to_model_space
from training.preprocess import make_preprocessor, to_original_units
from training.schema import FEATURE_NAMES
from training.validation import validate_file


@pytest.fixture(scope="module")
def raw() -> np.ndarray:
    frame = validate_file(REAL_DATA).frame
    assert frame is not None
    return frame.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64)


def _resampled(raw: np.ndarray, seed: int, *, noise: float, bootstrap: bool) -> np.ndarray:
    """Similar data, not the same: optionally a bootstrap resample, with multiplicative noise."""
    rng = np.random.default_rng(seed)
    sample = raw[rng.integers(0, len(raw), size=len(raw))] if bootstrap else raw
    return sample * rng.normal(1.0, noise, size=sample.shape)


def _retrain_and_relabel(
    raw: np.ndarray, data: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """First labels on ``raw``; then retrain on ``data`` against them and relabel ``raw``."""
    first_pre = make_preprocessor().fit(raw)
    first_model, first_labels = fit_segments(first_pre.transform(raw), k, 42, scalable=False)
    published = [
        dict(zip(FEATURE_NAMES, row, strict=True))
        for row in to_original_units(first_pre, first_model.cluster_centers_)
    ]
    pre = make_preprocessor().fit(data)
    reference = reference_to_model_space(pre, published)
    # Another seed, so the raw fit order differs; matching must undo it.
    model, _ = fit_segments(pre.transform(data), k, 7, scalable=False, reference_centers=reference)
    return first_labels, model.predict(pre.transform(raw))


def _best_agreement_over_relabelings(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Agreement under the best possible id mapping: what perfect id matching achieves."""
    confusion = np.zeros((k, k))
    np.add.at(confusion, (a, b), 1)
    rows, cols = linear_sum_assignment(-confusion)
    return float(confusion[rows, cols].sum() / len(a))


@pytest.mark.parametrize("k", [3, 4, 6])
def test_noisy_copy_keeps_99_percent_of_ids(raw: np.ndarray, k: int) -> None:
    data = _resampled(raw, seed=k, noise=0.01, bootstrap=False)
    first, again = _retrain_and_relabel(raw, data, k)
    assert np.mean(again == first) >= 0.99


@pytest.mark.parametrize("k", [3, 4, 6])
def test_bootstrap_retraining_picks_the_best_id_mapping(raw: np.ndarray, k: int) -> None:
    data = _resampled(raw, seed=k, noise=0.02, bootstrap=True)
    first, again = _retrain_and_relabel(raw, data, k)
    agreement = float(np.mean(again == first))
    # Boundary rows may move with the data; the ids themselves must be the right ones.
    assert agreement == pytest.approx(_best_agreement_over_relabelings(first, again, k))
    assert agreement >= 0.95
