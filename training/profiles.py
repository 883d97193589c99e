"""Segment profiles: the numbers a business user reads about each segment.

Size and share, medians in original units, each feature's standardized difference from
the whole population (in model space, so skewed amounts do not dominate), the top
distinguishing features, the centroid in both spaces, the distribution of members'
distances to their centroid (for the typicality score) and a typical real member.
Names, descriptions and actions are added by :mod:`training.naming`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline

from training.preprocess import to_original_units
from training.schema import FEATURE_NAMES

TOP_FEATURES = 4


def _finite_or_none(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _by_name(values: NDArray[np.floating[Any]]) -> dict[str, float | None]:
    return {name: _finite_or_none(v) for name, v in zip(FEATURE_NAMES, values, strict=True)}


def _example_row(
    raw: NDArray[np.float64], distances: NDArray[np.float64], members: NDArray[np.intp]
) -> int:
    """The member closest to its centroid, preferring rows with no missing value."""
    complete = members[~np.isnan(raw[members]).any(axis=1)]
    pool = complete if len(complete) else members
    return int(pool[np.argmin(distances[pool])])


def build_profiles(
    raw: NDArray[np.float64],
    scaled: NDArray[np.float64],
    labels: NDArray[np.int64],
    centers: NDArray[np.float64],
    preprocessor: Pipeline,
) -> list[dict[str, Any]]:
    """One profile dict per segment id 0..k-1 (manifest ``segments`` fields, minus naming).

    ``raw`` is the training data in original units (NaN = missing), ``scaled`` the same
    rows in model space, ``labels`` their canonical ids, ``centers`` the canonical
    centroids in model space.
    """
    k = len(centers)
    n = len(labels)
    pop_mean = scaled.mean(axis=0)
    pop_std = scaled.std(axis=0)
    pop_std[pop_std == 0] = 1.0
    own_distance = np.linalg.norm(scaled - centers[labels], axis=1)
    centers_raw = to_original_units(preprocessor, centers)
    profiles = []
    for segment in range(k):
        members = np.flatnonzero(labels == segment)
        if len(members) == 0:
            raise ValueError(f"segment {segment} has no members; choose a smaller k")
        std_diff = (scaled[members].mean(axis=0) - pop_mean) / pop_std
        top = np.argsort(-np.abs(std_diff), kind="stable")[:TOP_FEATURES]
        example = _example_row(raw, own_distance, members)
        profiles.append(
            {
                "id": segment,
                "size": len(members),
                "share": round(len(members) / n, 6),
                "medians": _by_name(np.nanmedian(raw[members], axis=0)),
                "std_diff": {
                    name: round(float(v), 4)
                    for name, v in zip(FEATURE_NAMES, std_diff, strict=True)
                },
                "top_features": [
                    {
                        "feature": FEATURE_NAMES[i],
                        "std_diff": round(float(std_diff[i]), 4),
                        "direction": "high" if std_diff[i] > 0 else "low",
                    }
                    for i in top
                ],
                "centroid_raw": _by_name(centers_raw[segment]),
                "centroid": [float(v) for v in centers[segment]],
                "distance_percentiles": [
                    float(v) for v in np.percentile(own_distance[members], np.arange(101))
                ],
                "example": _by_name(raw[example]),
            }
        )
    return profiles
