"""The 2-D segment map: a PCA projection of model space, for plotting customers.

Serving projects a scored customer with the same ``components`` and ``mean`` (a matrix
product), so a new customer lands on the same picture as the training sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.decomposition import PCA

MAX_SAMPLE_POINTS = 1000


def build_map(
    scaled: NDArray[np.float64],
    labels: NDArray[np.int64],
    centers: NDArray[np.float64],
    seed: int,
) -> dict[str, Any]:
    """The manifest's ``map``: components, mean, <= 1000 sampled points, the centroids."""
    pca = PCA(n_components=2, random_state=seed).fit(scaled)
    rng = np.random.default_rng(seed)
    size = min(len(scaled), MAX_SAMPLE_POINTS)
    rows = np.sort(rng.choice(len(scaled), size=size, replace=False))
    points = pca.transform(scaled[rows])
    centroid_points = pca.transform(centers)
    return {
        "components": [[float(v) for v in row] for row in pca.components_],
        "mean": [float(v) for v in pca.mean_],
        "explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio_],
        "sample": [
            {"x": round(float(x), 5), "y": round(float(y), 5), "segment": int(labels[r])}
            for (x, y), r in zip(points, rows, strict=True)
        ],
        "centroids": [
            {"x": float(x), "y": float(y), "segment": segment}
            for segment, (x, y) in enumerate(centroid_points)
        ],
    }
