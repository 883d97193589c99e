"""Small typed manifests for tests that need a manifest but not a trained model.

:func:`a_manifest` is the smallest manifest the bundle contract accepts (one feature, ``k``
segments, the files scoring reads), with any section replaced by keyword; :func:`a_segment`
is one of its segments. Tests build what they need through these instead of partial JSON,
so a manifest in a test has the same types as one read from a bundle.
"""

from __future__ import annotations

import hashlib
from typing import Any

from chalicelib.contract.bundle import (
    FileEntry,
    LimitModel,
    Manifest,
    Segment,
    Segmenter,
    SegmentLimit,
    SegmentMap,
)
from chalicelib.contract.feature import Feature
from chalicelib.contract.training_report import DataSource, Elbow, Parity, Surrogate, TrainingRun

BALANCE = Feature(
    "BALANCE", "Balance", "", "amount", train_min=0.0, train_max=1.0, default=0.5, log1p=True
)
GRAPHS = ("segmenter.onnx", "limit_global.onnx")


def a_segment(segment: int, **changes: Any) -> Segment:
    """Segment ``segment`` of :func:`a_manifest` (its profile over ``BALANCE`` only)."""
    fields: dict[str, Any] = {
        "id": segment,
        "name": f"Segment {segment}",
        "description": "",
        "action": "",
        "naming_rule": "",
        "size": 1,
        "share": 0.5,
        "std_diff": {"BALANCE": 0.0},
        "top_features": (),
        "example": {"BALANCE": 1.0},
        "medians": {"BALANCE": 1.0},
        "rules": (),
        "centroid_raw": {"BALANCE": 100.0 * segment},
        "centroid": (float(segment),),
        "distance_percentiles": (0.0, 1.0),
        "limit_model": SegmentLimit("limit_global.onnx", "global"),
    }
    return Segment(**(fields | changes))


def a_manifest(version: str = "v1", k: int = 2, **changes: Any) -> Manifest:
    """The smallest manifest the contract accepts, with ``changes`` (sections by name)."""
    fields: dict[str, Any] = {
        "version": version,
        "created_at": "2026-11-27T12:00:00Z",
        "k": k,
        "features": (BALANCE,),
        "id_field": "CUST_ID",
        "files": {name: a_file(name.encode()) for name in GRAPHS},
        "segmenter": Segmenter("segmenter.onnx", "features", ("label", "distances", "scaled")),
        "limit_model": LimitModel("BALANCE", (), (0.25, 0.5, 0.75), "limit_global.onnx"),
        "segments": tuple(a_segment(i) for i in range(k)),
        "map": SegmentMap(components=((1.0,), (0.0,)), mean=(0.0,)),
        "elbow": Elbow(k_values=(k,), wcss=(1.0,), knee=k, k=k, k_source="knee"),
        "surrogate": Surrogate(max_depth=3, agreement=1.0),
        "limit_errors": {},
        "parity": Parity(passed=True, rows=1, label_agreement=1.0),
        "data": DataSource(None, "0" * 64, 1),
        "libraries": {},
        "training": TrainingRun(seed=42, algorithm="KMeans", seconds=1.0, step_seconds={}),
    }
    return Manifest(**(fields | changes))


def a_file(body: bytes) -> FileEntry:
    """The ``files`` entry of a file with these bytes."""
    return FileEntry(hashlib.sha256(body).hexdigest(), len(body))
