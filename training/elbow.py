"""Choosing k: the elbow method, cross-checked by three internal validity indices.

WCSS for every k in the range; silhouette (on a fixed-seed sample when n is large),
Calinski-Harabasz and Davies-Bouldin for every k >= 2. k is the knee of the WCSS curve
found by ``kneed``; when there is no knee, the best silhouette decides; when the two
disagree the notes say so and both are recorded. ``k_override`` wins over both.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from chalicelib.contract.codec import encode
from chalicelib.contract.training_report import Elbow
from kneed import KneeLocator
from numpy.typing import NDArray
from sklearn.metrics import (
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from tqdm import tqdm

from training.clustering import KMeansModel, make_kmeans

#: Silhouette is O(n^2); above this many rows it is computed on a fixed-seed sample.
SILHOUETTE_MAX_ROWS = 4_000


@dataclass(frozen=True)
class ElbowResult:
    """The per-k table and the decision taken from it."""

    k_values: list[int]
    wcss: list[float]
    silhouette: dict[int, float]
    calinski_harabasz: dict[int, float]
    davies_bouldin: dict[int, float]
    knee: int | None
    best_silhouette_k: int | None
    k: int
    k_source: str
    silhouette_sample_size: int
    algorithm: str
    notes: list[str]
    models: dict[int, KMeansModel] = field(repr=False, compare=False)

    def section(self) -> Elbow:
        """The manifest's ``elbow`` section (dict keys for k are strings, as JSON needs).

        The algorithm is not repeated here: the manifest's ``training`` section has it.
        """
        return Elbow(
            k_values=tuple(self.k_values),
            wcss=tuple(self.wcss),
            knee=self.knee,
            k=self.k,
            k_source=self.k_source,
            extra={
                "best_silhouette_k": self.best_silhouette_k,
                "silhouette": {str(k): v for k, v in self.silhouette.items()},
                "calinski_harabasz": {str(k): v for k, v in self.calinski_harabasz.items()},
                "davies_bouldin": {str(k): v for k, v in self.davies_bouldin.items()},
                "silhouette_sample_size": self.silhouette_sample_size,
                "notes": self.notes,
            },
        )

    def to_json(self) -> dict[str, Any]:
        """The ``elbow`` section as JSON."""
        body: dict[str, Any] = encode(self.section())
        return body


def find_knee(k_values: list[int], wcss: list[float]) -> int | None:
    """The knee of a decreasing convex WCSS curve, or None when kneed finds none."""
    if len(k_values) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kneed warns "no knee/elbow found"
        knee = KneeLocator(k_values, wcss, curve="convex", direction="decreasing").knee
    return None if knee is None else int(knee)


def decide_k(
    k_values: list[int],
    knee: int | None,
    best_silhouette_k: int | None,
    k_override: int | None,
) -> tuple[int, str, list[str]]:
    """Return (k, source, notes) from the knee, the best silhouette and any override."""
    notes: list[str] = []
    if knee is None:
        notes.append("no knee found in the WCSS curve")
    if knee is not None and best_silhouette_k is not None and knee != best_silhouette_k:
        notes.append(
            f"knee (k={knee}) and best silhouette (k={best_silhouette_k}) disagree; "
            + ("used the override" if k_override is not None else "used the knee")
        )
    if k_override is not None:
        notes.append(f"k={k_override} set by override")
        return k_override, "override", notes
    if knee is not None:
        return knee, "knee", notes
    if best_silhouette_k is not None:
        notes.append(f"used the best silhouette (k={best_silhouette_k})")
        return best_silhouette_k, "silhouette", notes
    raise ValueError("cannot choose k: no knee and no k >= 2 in the range; pass k explicitly")


def analyse(
    scaled: NDArray[np.float64],
    k_range: tuple[int, int] = (1, 10),
    *,
    seed: int = 42,
    k_override: int | None = None,
    scalable: bool = False,
    progress: bool = True,
) -> ElbowResult:
    """Fit one clustering per k in ``k_range`` (inclusive) and choose k.

    The fitted models are kept (``models``) so the final fit at the chosen k is reused,
    not repeated.
    """
    _check_range(len(scaled), k_range, k_override)
    n = len(scaled)
    sample_size = min(n, SILHOUETTE_MAX_ROWS)
    k_values = list(range(k_range[0], k_range[1] + 1))
    quality = _Quality()
    models: dict[int, KMeansModel] = {}
    for k in tqdm(k_values, desc="elbow: k", disable=not progress, leave=False):
        models[k] = make_kmeans(k, seed, scalable=scalable).fit(scaled)
        quality.add(k, models[k], scaled, seed, sample_size)
    wcss = [float(models[k].inertia_) for k in k_values]
    knee = find_knee(k_values, wcss)
    sil = quality.silhouette
    best_sil = max(sil, key=lambda k: sil[k]) if sil else None
    k, source, notes = decide_k(k_values, knee, best_sil, k_override)
    if sample_size < n:
        notes.append(f"silhouette computed on a fixed-seed sample of {sample_size} of {n} rows")
    return ElbowResult(
        k_values=k_values,
        wcss=wcss,
        silhouette=sil,
        calinski_harabasz=quality.calinski_harabasz,
        davies_bouldin=quality.davies_bouldin,
        knee=knee,
        best_silhouette_k=best_sil,
        k=k,
        k_source=source,
        silhouette_sample_size=sample_size,
        algorithm=type(make_kmeans(2, seed, scalable=scalable)).__name__,
        notes=notes,
        models=models,
    )


def _check_range(n: int, k_range: tuple[int, int], k_override: int | None) -> None:
    low, high = k_range
    if low < 1 or high < low:
        raise ValueError(f"k_range must satisfy 1 <= low <= high, got {k_range}")
    if high > n:
        raise ValueError(f"k_range goes up to {high} but there are only {n} rows")
    if k_override is not None and not 1 <= k_override <= n:
        raise ValueError(f"k must be between 1 and {n}, got {k_override}")


@dataclass
class _Quality:
    """The clustering quality indices per k (k >= 2 with at least two non-empty clusters)."""

    silhouette: dict[int, float] = field(default_factory=dict)
    calinski_harabasz: dict[int, float] = field(default_factory=dict)
    davies_bouldin: dict[int, float] = field(default_factory=dict)

    def add(
        self, k: int, model: KMeansModel, scaled: NDArray[np.float64], seed: int, sample: int
    ) -> None:
        if k < 2:
            return
        labels = model.predict(scaled)
        if len(np.unique(labels)) < 2:
            return
        n = len(scaled)
        self.silhouette[k] = float(
            silhouette_score(
                scaled, labels, sample_size=sample if sample < n else None, random_state=seed
            )
        )
        self.calinski_harabasz[k] = float(calinski_harabasz_score(scaled, labels))
        self.davies_bouldin[k] = float(davies_bouldin_score(scaled, labels))


def plot(result: ElbowResult, path: Path) -> None:
    """Save the WCSS curve (chosen k and knee marked) with the silhouette beside it."""
    fig, (ax_wcss, ax_sil) = plt.subplots(1, 2, figsize=(10, 4))
    ax_wcss.plot(result.k_values, result.wcss, marker="o")
    chosen = result.k_values.index(result.k) if result.k in result.k_values else None
    if chosen is not None:
        ax_wcss.plot(
            result.k,
            result.wcss[chosen],
            marker="o",
            markersize=14,
            fillstyle="none",
            color="red",
            label=f"chosen k={result.k} ({result.k_source})",
        )
    if result.knee is not None:
        ax_wcss.axvline(result.knee, linestyle="--", color="grey", label=f"knee k={result.knee}")
    ax_wcss.set(title="Elbow: within-cluster sum of squares", xlabel="k", ylabel="WCSS")
    ax_wcss.legend()
    if result.silhouette:
        ks = sorted(result.silhouette)
        ax_sil.plot(ks, [result.silhouette[k] for k in ks], marker="o", color="tab:green")
        ax_sil.axvline(result.k, linestyle="--", color="red")
    ax_sil.set(title="Silhouette (higher is better)", xlabel="k", ylabel="silhouette")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
