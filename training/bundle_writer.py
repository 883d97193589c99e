"""Writing the bundle directory: files, hashes, the feature catalogue and the manifest.

The manifest is the typed :class:`chalicelib.contract.bundle.Manifest` (the contract
serving reads). ``manifest.json`` is written last, after every other file and its sha256:
a directory without a manifest is not a bundle, so an interrupted or failed run never
leaves something that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
from chalicelib.contract.bundle import MANIFEST_NAME, FileEntry, Manifest
from chalicelib.contract.feature import Feature
from numpy.typing import NDArray

from training.population import Population
from training.schema import FEATURES

_LIBRARIES = (
    "scikit-learn",
    "skl2onnx",
    "onnx",
    "onnxruntime",
    "numpy",
    "pandas",
    "scipy",
    "kneed",
)
#: Files a previous run may have left in the output directory; removed before writing
#: (including report files older bundles had: metrics.json, elbow.json, profiles.json).
_BUNDLE_PATTERNS = (
    MANIFEST_NAME,
    "*.onnx",
    "profiles.json",
    "elbow.json",
    "elbow.png",
    "metrics.json",
)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def library_versions() -> dict[str, str]:
    """Python and the installed versions of the libraries that shape the bundle."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = package_version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def feature_catalogue(
    population: Population,
    defaults: NDArray[np.float64],
    scaler: tuple[NDArray[np.float64], NDArray[np.float64]],
) -> tuple[Feature, ...]:
    """The manifest's ``features``: the catalogue's features completed with what training
    learnt of each column: the range over every row of the data, the imputation value (the
    preprocessor's median, from the rows fitted on) and ``scaler``: the standard scaler's
    per-column mean and scale, which map model space back to the data's units (paths)."""
    means, scales = scaler
    catalogue = []
    for column, feature in enumerate(FEATURES):
        low, high = population.minimum[column], population.maximum[column]
        catalogue.append(
            replace(
                feature,
                train_min=None if np.isnan(low) else _number(low),
                train_max=None if np.isnan(high) else _number(high),
                default=_number(defaults[column]),
                scaler_mean=float(means[column]),
                scaler_scale=float(scales[column]),
            )
        )
    return tuple(catalogue)


def to_json_bytes(document: Any) -> bytes:
    """Strict JSON (NaN/inf refused: they are not JSON), UTF-8, stable key order."""
    return json.dumps(document, indent=2, allow_nan=False, ensure_ascii=False).encode("utf-8")


def clear_previous(out_dir: Path) -> None:
    """Remove a previous bundle's files (manifest first) so no stale file survives."""
    for pattern in _BUNDLE_PATTERNS:
        for path in sorted(out_dir.glob(pattern)):
            path.unlink()


def make_version(created_at: datetime, file_hashes: dict[str, str]) -> str:
    """UTC build time + the first 8 hex of a hash over every file's name and sha256."""
    digest = sha256_bytes(to_json_bytes(sorted(file_hashes.items())))
    return f"{created_at.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}"


def write_files(out_dir: Path, files: dict[str, bytes]) -> dict[str, FileEntry]:
    """Write every bundle file except the manifest; return the manifest's ``files``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: dict[str, FileEntry] = {}
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
        entries[name] = FileEntry(sha256=sha256_bytes(data), bytes=len(data))
    return entries


def write_manifest(out_dir: Path, draft: Manifest) -> Manifest:
    """Stamp ``draft`` with its version and build time, check it, write it last; return it.

    ``draft`` holds every section, ``files`` included (from :func:`write_files`); its
    ``version`` and ``created_at`` are filled in here. The manifest is read back through
    the contract before it is written, so training never writes one serving would refuse.
    """
    created_at = datetime.now(UTC).replace(microsecond=0)
    manifest = replace(
        draft,
        version=make_version(created_at, {n: e.sha256 for n, e in draft.files.items()}),
        created_at=created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    body = manifest.dumps()
    checked = Manifest.loads(body)
    tmp = out_dir / (MANIFEST_NAME + ".tmp")
    tmp.write_bytes(body)
    tmp.replace(out_dir / MANIFEST_NAME)
    return checked
