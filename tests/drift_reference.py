"""A drift reference built from a data frame the way training builds the manifest's
``drift_reference`` (docs/contracts.md): per feature the training deciles as inner cut
points and the bins' shares, and the segment shares.

Tests use it to give a manifest a reference of known content; it is test code, not a
second definition for the product (training owns the real one).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from chalicelib.contract.bundle import DriftReference, FeatureBins, SegmentShare

BINS = 10


def feature_reference(name: str, values: np.ndarray) -> FeatureBins:
    present = values[~np.isnan(values)]
    edges = np.unique(np.quantile(present, np.arange(1, BINS) / BINS))
    which = np.searchsorted(edges, present, side="left")
    shares = np.bincount(which, minlength=len(edges) + 1) / len(present)
    return FeatureBins(
        name=name,
        edges=tuple(edges.tolist()),
        shares=tuple(shares.tolist()),
        missing_share=float(1 - len(present) / len(values)),
    )


def drift_reference(
    frame: pd.DataFrame, features: Sequence[str], labels: Sequence[int]
) -> DriftReference:
    counts = np.bincount(np.asarray(labels))
    return DriftReference(
        bins=BINS,
        rows=len(frame),
        features=tuple(feature_reference(n, frame[n].to_numpy(dtype=np.float64)) for n in features),
        segment_shares=tuple(
            SegmentShare(id=i, share=float(c / counts.sum())) for i, c in enumerate(counts)
        ),
    )
