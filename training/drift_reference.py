"""The training distribution a scored file is compared with: the manifest's ``drift_reference``.

Drift reports (population stability index per feature, segment shares) need the training
distribution, and serving has no access to the training data, so the bundle carries it in
a fixed set of bins:

- per feature, ``edges``: the ascending, de-duplicated training deciles (quantiles
  0.1 .. 0.9) of the non-missing raw values. A value ``x`` falls in bin
  ``numpy.searchsorted(edges, x, side="left")`` (the number of edges strictly below it),
  so bin 0 is ``(-inf, e1]`` and bin ``m`` is ``(em, +inf)``; ``shares`` (length m + 1,
  sum 1) are the training shares per bin over the non-missing values and
  ``missing_share`` the share of missing values;
- ``segment_shares``: the training rows' share per segment id.

Deciles, not equal-width bins: the amount columns are heavily skewed, so equal-width bins
would put almost every customer in the first bin. Ties (many zeros) collapse into fewer
edges, which is why ``m <= 9``. Raw values, not model space: serving sees raw values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from chalicelib.contract.bundle import DriftReference, FeatureBins, SegmentShare
from numpy.typing import NDArray

#: Deciles: nine inner cut points, at most ten bins per feature.
BINS = 10


def feature_edges(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """The ascending, de-duplicated deciles of the non-missing ``values`` (empty if none)."""
    seen = values[~np.isnan(values)]
    if len(seen) == 0:
        return np.empty(0, dtype=np.float64)
    quantiles = np.arange(1, BINS) / BINS
    return np.unique(np.quantile(seen, quantiles))


def bin_shares(values: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.float64]:
    """Shares of the non-missing ``values`` per bin of ``edges`` (zeros when all are missing)."""
    seen = values[~np.isnan(values)]
    counts = np.bincount(np.searchsorted(edges, seen, side="left"), minlength=len(edges) + 1)
    return counts / len(seen) if len(seen) else counts.astype(np.float64)


def build(
    raw: NDArray[np.float64],
    feature_names: list[str] | tuple[str, ...],
    labels: NDArray[np.int64],
    k: int,
) -> DriftReference:
    """The manifest's ``drift_reference`` for raw training values (NaN = missing).

    ``raw`` columns are in ``feature_names`` order (the manifest's feature order) and
    ``labels`` are the rows' final segment ids, 0 .. k-1.
    """
    edges = [feature_edges(raw[:, column]) for column in range(len(feature_names))]
    bins = []
    for column, cuts in enumerate(edges):
        seen = raw[:, column][~np.isnan(raw[:, column])]
        bins.append(np.bincount(np.searchsorted(cuts, seen, side="left"), minlength=len(cuts) + 1))
    missing = np.isnan(raw).sum(axis=0).astype(np.int64)
    sizes = np.bincount(labels, minlength=k)
    return from_counts(feature_names, edges, bins, missing, len(raw), sizes)


def from_counts(
    feature_names: Sequence[str],
    edges: Sequence[NDArray[np.float64]],
    bin_counts: Sequence[NDArray[np.int64]],
    missing: NDArray[np.int64],
    rows: int,
    segment_sizes: NDArray[np.int64],
) -> DriftReference:
    """The ``drift_reference`` from counts: per feature the rows in each bin of ``edges``
    (non-missing values) and the missing ones, and the rows per segment id, out of
    ``rows``. Training counts them over every row of its file (``training.whole_base``)
    with edges from its sample."""
    features = []
    for name, cuts, counts, absent in zip(feature_names, edges, bin_counts, missing, strict=True):
        seen = int(counts.sum())
        shares = counts / seen if seen else counts.astype(np.float64)
        features.append(
            FeatureBins(
                name=name,
                edges=tuple(float(e) for e in cuts),
                shares=tuple(float(s) for s in shares),
                missing_share=float(int(absent) / rows) if rows else 0.0,
            )
        )
    return DriftReference(
        bins=BINS,
        rows=rows,
        features=tuple(features),
        segment_shares=tuple(
            SegmentShare(id=segment, share=float(size / rows) if rows else 0.0)
            for segment, size in enumerate(segment_sizes.tolist())
        ),
    )
