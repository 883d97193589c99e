"""The read-only views of the manifest: segment profiles and the model card."""

from __future__ import annotations

from typing import Any

from chalicelib.api.limits import MAX_BATCH, MAX_BODY_BYTES
from chalicelib.contract.bundle import Manifest

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


def segments_body(manifest: Manifest) -> dict[str, Any]:
    """``GET /v1/segments``: profiles, names, actions, rules and the 2-D map."""
    return {
        "model_version": manifest.version,
        "k": manifest.k,
        "segments": [s.public() for s in manifest.segments],
        "map": manifest.map.to_json(),
    }


def model_body(manifest: Manifest) -> dict[str, Any]:
    """``GET /v1/model``: version, k, metrics and the feature schema the frontend's form uses."""
    body = manifest.to_json()
    return {
        **{k: body.get(k) for k in MODEL_KEYS},
        "limits": {"max_batch": MAX_BATCH, "max_body_bytes": MAX_BODY_BYTES},
    }
