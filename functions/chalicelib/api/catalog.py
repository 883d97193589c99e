"""The read-only views of the manifest: segment profiles and the model card.

Both are the manifest's typed sections rendered by the contract's codec (the same JSON the
manifest holds), the segments without what only the scorer reads (``Segment.INTERNAL``).
"""

from __future__ import annotations

from typing import Any

from chalicelib.api.limits import MAX_BATCH, MAX_BODY_BYTES, MAX_TALLIES
from chalicelib.contract.bundle import Manifest, Segment
from chalicelib.contract.codec import encode

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
        "segments": [
            {k: v for k, v in encode(s).items() if k not in Segment.INTERNAL}
            for s in manifest.segments
        ],
        "map": encode(manifest.map),
    }


def model_body(manifest: Manifest) -> dict[str, Any]:
    """``GET /v1/model``: version, k, metrics and the feature schema the frontend's form uses."""
    return {
        **{key: encode(getattr(manifest, key)) for key in MODEL_KEYS},
        "limits": {
            "max_batch": MAX_BATCH,
            "max_body_bytes": MAX_BODY_BYTES,
            "max_tallies": MAX_TALLIES,
        },
    }
