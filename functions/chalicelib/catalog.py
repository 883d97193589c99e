"""The read-only views of the manifest: segment profiles and the model card."""

from __future__ import annotations

from typing import Any

from chalicelib.config import MAX_BATCH, MAX_BODY_BYTES

# Numbers only the scorer needs; clients get the readable profile.
INTERNAL_SEGMENT_KEYS = frozenset({"centroid", "distance_percentiles"})
MODEL_KEYS = (
    "version",
    "k",
    "created_at",
    "features",
    "elbow",
    "stability",
    "migration",
    "surrogate",
    "limit_errors",
    "parity",
    "data",
    "libraries",
)


def segments_body(manifest: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/segments``: profiles, names, actions, rules and the 2-D map."""
    profiles = [
        {k: v for k, v in s.items() if k not in INTERNAL_SEGMENT_KEYS} for s in manifest["segments"]
    ]
    return {
        "model_version": manifest["version"],
        "k": manifest["k"],
        "segments": profiles,
        "map": manifest.get("map"),
    }


def model_body(manifest: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/model``: version, k, metrics and the feature schema the frontend's form uses."""
    return {
        **{k: manifest.get(k) for k in MODEL_KEYS},
        "limits": {"max_batch": MAX_BATCH, "max_body_bytes": MAX_BODY_BYTES},
    }
