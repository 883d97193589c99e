"""A promotion that cannot be served, made the way an operator could make one by accident.

A published version's file gets one damaged byte range (same length, manifest unchanged: a
broken upload or a bad copy), and the ``current`` pointer is moved to it by hand (as a
hand-edited pointer or a copy between buckets would), bypassing ``training promote``, which
verifies and would refuse it. Shared by the loader, health, CLI and local-stack tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from training.registry import POINTER, Pointer

DAMAGED_FILE = "segmenter.onnx"
DAMAGE_AT, DAMAGE_BYTES = 64, 16  # the byte range flipped


def damage_file(s3: Any, bucket: str, key: str) -> None:
    """Flip ``DAMAGE_BYTES`` bytes of the object from ``DAMAGE_AT`` (or its last ones, in a
    small test file): same size, other sha256."""
    body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert body, f"{key} is empty: nothing to damage"
    start = min(DAMAGE_AT, max(0, len(body) - DAMAGE_BYTES))
    end = start + DAMAGE_BYTES
    body[start:end] = bytes(b ^ 0xFF for b in body[start:end])
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))


def point_current_at(s3: Any, bucket: str, prefix: str, version: str, previous: str) -> None:
    """Write the ``current`` pointer by hand: ``version`` current, ``previous`` before it (so
    ``training rollback`` finds its way back)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pointer = Pointer(version, now, (previous,))
    s3.put_object(Bucket=bucket, Key=f"{prefix}{POINTER}", Body=pointer.to_json())
