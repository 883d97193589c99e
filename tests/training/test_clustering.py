"""Canonical segment ids: size order on a first training, matching on a retraining."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from training.clustering import apply_order, canonical_order, fit_segments, is_scalable


def _blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=[500, 300, 150, 50], n_features=5, cluster_std=0.5, random_state=7)
    return X, y


def test_first_training_orders_segments_by_size() -> None:
    X, _ = _blobs()
    model, labels = fit_segments(X, 4, seed=1, scalable=False)
    assert list(np.bincount(labels)) == [500, 300, 150, 50]
    np.testing.assert_array_equal(model.predict(X), labels)


def test_canonical_order_breaks_size_ties_by_index() -> None:
    order = canonical_order(np.zeros((3, 2)), np.array([0, 1, 1, 2, 2]))
    assert list(order) == [1, 2, 0]


def test_matching_recovers_reference_ids_from_shuffled_centroids() -> None:
    reference = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    fitted = reference[[2, 0, 1]] + 0.1  # same clusters, another fit order
    labels = np.array([0, 1, 2])
    order = canonical_order(fitted, labels, reference)
    np.testing.assert_allclose(fitted[order], reference + 0.1)


def test_a_new_segment_gets_the_next_id() -> None:
    reference = np.array([[0.0, 0.0], [10.0, 0.0]])
    fitted = np.array([[20.0, 20.0], [10.0, 0.5], [0.5, 0.0]])
    order = canonical_order(fitted, np.array([0, 1, 2]), reference)
    assert list(order) == [2, 1, 0]  # matched keep ids 0 and 1; the new one is id 2


def test_when_a_segment_disappears_the_others_keep_their_relative_order() -> None:
    reference = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    fitted = np.array([[0.0, 9.0], [0.5, 0.0]])  # reference 1 has no successor
    order = canonical_order(fitted, np.array([0, 1]), reference)
    assert list(order) == [1, 0]


def test_apply_order_permutes_centroids_and_labels_together() -> None:
    X, _ = _blobs()
    model, labels = fit_segments(X, 4, seed=1, scalable=False)
    before = model.predict(X)
    order = np.array([3, 1, 0, 2])
    remapped = apply_order(model, labels, order)
    np.testing.assert_array_equal(model.predict(X), remapped)
    np.testing.assert_array_equal(order[remapped], before)


@pytest.mark.parametrize(
    ("rows", "option", "expected"),
    [(1000, None, False), (300_000, None, True), (1000, True, True), (300_000, False, False)],
)
def test_is_scalable(rows: int, option: bool | None, expected: bool) -> None:
    assert is_scalable(rows, option) is expected
