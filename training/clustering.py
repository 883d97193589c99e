"""KMeans fitting and canonical segment ids.

Segment ids are what marketing stories, dashboards and cached answers are keyed to, so
they must not change when the model is retrained on similar data. The fitted centroids
are therefore permuted *before* export, so the exported graph's label already is the
canonical id:

- first training: segments ordered by size, largest first (deterministic);
- retraining: the new centroids are matched to the published version's centroids
  (given in original units, mapped through the new preprocessor) with the Hungarian
  algorithm; matched segments keep their id, extra segments get the next ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from chalicelib.contract.bundle import Manifest
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.pipeline import Pipeline

from training.schema import FEATURE_NAMES

#: KMeans or MiniBatchKMeans (scikit-learn ships no type hints, so Any to mypy).
type KMeansModel = Any

#: Above this many rows, training switches to the scalable estimators by default.
SCALABLE_ROWS = 200_000


def is_scalable(n_rows: int, scalable: bool | None) -> bool:
    """Resolve the ``scalable`` option: None means automatic, by row count."""
    return n_rows > SCALABLE_ROWS if scalable is None else scalable


def make_kmeans(k: int, seed: int, *, scalable: bool) -> KMeansModel:
    """KMeans with a fixed seed; MiniBatchKMeans when the data is large."""
    if scalable:
        return MiniBatchKMeans(
            n_clusters=k, n_init=3, batch_size=4096, random_state=seed, max_no_improvement=20
        )
    return KMeans(n_clusters=k, n_init=10, random_state=seed)


def canonical_order(
    centers: NDArray[np.float64],
    labels: NDArray[np.int64],
    reference_centers: NDArray[np.float64] | None = None,
) -> NDArray[np.int64]:
    """Return ``order`` with ``order[new_id] = fitted cluster index``.

    ``reference_centers`` are the published version's centroids in the *new* model
    space, row i = segment id i.
    """
    k = len(centers)
    sizes = np.bincount(labels, minlength=k)
    by_size = sorted(range(k), key=lambda c: (-int(sizes[c]), c))
    if reference_centers is None or len(reference_centers) == 0:
        return np.asarray(by_size, dtype=np.int64)

    rows, cols = linear_sum_assignment(cdist(centers, reference_centers))
    matched = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    # Matched clusters keep the reference's order (and its ids when none disappeared);
    # new clusters follow, largest first.
    kept = sorted(matched, key=lambda c: matched[c])
    new = [c for c in by_size if c not in matched]
    return np.asarray(kept + new, dtype=np.int64)


def apply_order(
    model: KMeansModel, labels: NDArray[np.int64], order: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Permute ``model``'s centroids in place to canonical order; return remapped labels."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    model.cluster_centers_ = np.ascontiguousarray(model.cluster_centers_[order])
    remapped = inverse[labels].astype(np.int64)
    model.labels_ = remapped
    return remapped


def reference_centroids(manifest: Manifest) -> list[dict[str, float]]:
    """A published manifest's ``centroid_raw`` per segment id: the reference that keeps
    segment ids stable when training again (a missing value reads as NaN)."""
    return [
        {name: float("nan") if v is None else v for name, v in s.centroid_raw.items()}
        for s in manifest.segments
    ]


def reference_to_model_space(
    preprocessor: Pipeline, reference_centroids: list[dict[str, float]]
) -> NDArray[np.float64]:
    """Map published ``centroid_raw`` dicts (original units) into the new model space."""
    raw = np.array(
        [[float(c[name]) for name in FEATURE_NAMES] for c in reference_centroids],
        dtype=np.float64,
    )
    return np.asarray(preprocessor.transform(raw), dtype=np.float64)


def fit_segments(
    scaled: NDArray[np.float64],
    k: int,
    seed: int,
    *,
    scalable: bool,
    fitted: KMeansModel | None = None,
    reference_centers: NDArray[np.float64] | None = None,
) -> tuple[KMeansModel, NDArray[np.int64]]:
    """Fit (or reuse ``fitted``) KMeans on model-space data and put ids in canonical order.

    Returns the model, whose ``predict`` now gives canonical ids, and the canonical
    label of every row.
    """
    model = fitted if fitted is not None else make_kmeans(k, seed, scalable=scalable)
    if fitted is None:
        model.fit(scaled)
    labels = np.asarray(model.predict(scaled), dtype=np.int64)
    order = canonical_order(model.cluster_centers_, labels, reference_centers)
    return model, apply_order(model, labels, order)
