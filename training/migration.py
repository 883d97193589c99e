"""Migration between model versions: which training customers change segment on a retrain.

When a model is trained against a published one (the id-matching path of
:mod:`training.clustering`), every training row is scored by the *published* model's own
``segmenter.onnx`` (its preprocessing and centroids, exactly as serving scored it) and by
the new model. The manifest's ``migration`` records the counts old segment -> new
segment and the share of rows whose segment changes because of the retrain. Segment ids
are matched, so the diagonal is "stayed".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from chalicelib.contract.bundle import Manifest
from chalicelib.contract.training_report import Migration, SegmentName
from numpy.typing import NDArray

from training.clustering import reference_centroids


@dataclass(frozen=True)
class PublishedModel:
    """What a retrain needs of the published version: ids to keep and a scorer to compare."""

    version: str
    feature_names: tuple[str, ...]
    segment_names: tuple[str, ...]  # index = segment id
    centroids: list[dict[str, float]]  # ``centroid_raw`` by segment id, for id matching
    segmenter: bytes  # the published segmenter.onnx


def from_manifest(manifest: Manifest, segmenter: bytes) -> PublishedModel:
    """The published model described by ``manifest`` with its ``segmenter.onnx`` bytes."""
    return PublishedModel(
        version=manifest.version,
        feature_names=manifest.feature_names,
        segment_names=tuple(s.name for s in manifest.segments),
        centroids=reference_centroids(manifest),
        segmenter=segmenter,
    )


def check(published: PublishedModel, feature_names: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless the published model can score rows of ``feature_names``:
    every feature it needs is known and its segmenter graph loads. Called before training
    starts, so a bad reference is refused in a second, not after the whole run."""
    unknown = sorted(set(published.feature_names) - set(feature_names))
    if unknown:
        raise ValueError(f"the published model needs features this training lacks: {unknown}")
    try:
        ort.InferenceSession(published.segmenter, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ValueError(f"its segmenter cannot be loaded: {exc}") from exc


def published_labels(
    published: PublishedModel, raw: NDArray[np.float64], feature_names: tuple[str, ...]
) -> NDArray[np.int64]:
    """Each row's segment under the published model (``raw`` columns in ``feature_names``).

    Columns are reordered by name to the published graph's input order; a feature the
    published model does not know raises ``ValueError``.
    """
    missing = [name for name in published.feature_names if name not in feature_names]
    if missing:
        raise ValueError(f"the published model needs features this data lacks: {missing}")
    columns = [feature_names.index(name) for name in published.feature_names]
    session = ort.InferenceSession(published.segmenter, providers=["CPUExecutionProvider"])
    (label,) = session.run(["label"], {"features": raw[:, columns].astype(np.float32)})
    return np.asarray(label, dtype=np.int64).reshape(-1)


def migration_matrix(
    old: NDArray[np.int64], new: NDArray[np.int64], k_old: int, k_new: int
) -> NDArray[np.int64]:
    """``matrix[i, j]`` = rows in segment i under the old model and j under the new one."""
    matrix = np.zeros((k_old, k_new), dtype=np.int64)
    np.add.at(matrix, (old, new), 1)
    return matrix


def section(
    published: PublishedModel,
    old: NDArray[np.int64],
    new: NDArray[np.int64],
    new_names: list[str],
) -> Migration:
    """The manifest's ``migration`` section.

    A row "changed" when its new segment id differs from its old one; ids are matched by
    the retrain, so a segment that kept its meaning kept its id.
    """
    matrix = migration_matrix(old, new, len(published.segment_names), len(new_names))
    return from_matrix(published, matrix, new_names)


def from_matrix(
    published: PublishedModel, matrix: NDArray[np.int64], new_names: list[str]
) -> Migration:
    """The ``migration`` section from the counts ``matrix[old segment][new segment]``
    (training counts them over every row of its file, ``training.whole_base``)."""
    rows = int(matrix.sum())
    changed = rows - int(np.trace(matrix))
    return Migration(
        from_version=published.version,
        rows=rows,
        changed=changed,
        changed_share=changed / rows if rows else 0.0,
        from_segments=tuple(SegmentName(i, n) for i, n in enumerate(published.segment_names)),
        to_segments=tuple(SegmentName(i, n) for i, n in enumerate(new_names)),
        matrix=tuple(tuple(row) for row in matrix.tolist()),
    )
