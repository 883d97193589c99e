"""The proof that the exported graphs compute what scikit-learn computed.

Every training row goes through onnxruntime (float32, as serving sends it) and is
compared with scikit-learn on the same values (float32-rounded, see
``export.float32_grid``): every label equal and every numeric output within a stated
bound. Anything less raises :class:`ParityError` and the bundle is not written.

The one tolerated label difference is a tie: a row whose two nearest centroids are
within ``NEAR_TIE`` of each other, which float32 arithmetic cannot order reliably. Such
rows are counted (``tie_mismatches``, and ``near_ties`` for all rows that close), never
hidden; on the real data there are none.

Bounds: float32 carries about 7 significant digits. Model-space values are O(1-10), so
1e-4 on ``scaled`` and 1e-3 on ``distances`` leave ample room for rounding yet catch any
real error (a wrong median, a missing log1p, a swapped centroid all move values by >0.01).
Credit-limit quantiles are O(10^3-10^4); 0.5 (half a currency unit) is ~1e-4 relative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline

from training.export import quantile_output_name
from training.float32 import float32_grid

BOUNDS: dict[str, float] = {"distances": 1e-3, "scaled": 1e-4, "limit": 0.5}
#: Two centroid distances closer than this could order differently in float32.
NEAR_TIE = 1e-4


class ParityError(RuntimeError):
    """The exported ONNX graphs disagree with scikit-learn beyond the stated bounds."""


@dataclass(frozen=True)
class LimitReference:
    """A limit-model file and scikit-learn's predictions for the rows it is checked on."""

    file: str
    onnx_bytes: bytes
    expected: dict[float, NDArray[np.float64]]


@dataclass(frozen=True)
class LimitGraph:
    """An exported limit file and the fitted quantile models it was exported from."""

    file: str
    onnx_bytes: bytes
    models: Mapping[float, Any]


def rows_to_check(n: int, seed: int, cap: int | None) -> NDArray[np.intp]:
    """Every row, or a sorted fixed-seed sample of ``cap`` rows when there are more.

    Tree decisions are exact by construction (``float32.snap_thresholds_to_float32``), so
    on large data the limit graphs are checked on a sample: scikit-learn's tree prediction
    is the slowest step at a million rows.
    """
    if cap is None or n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


def prove(
    segmenter: bytes,
    raw: NDArray[np.float64],
    preprocessor: Pipeline,
    kmeans: Any,
    limit_graphs: Sequence[LimitGraph],
    limit_raw: NDArray[np.float64],
    limit_rows: NDArray[np.intp],
) -> dict[str, Any]:
    """The whole proof: scikit-learn's answers on the float32 values the graphs receive,
    compared with onnxruntime's; the segmenter on every row, the limit graphs on
    ``limit_rows``. Returns the manifest's ``parity`` section or raises ParityError."""
    scaled32 = np.asarray(preprocessor.transform(float32_grid(raw)), dtype=np.float64)
    segmenter_check = check_segmenter(
        segmenter,
        raw,
        np.asarray(kmeans.predict(scaled32), dtype=np.int64),
        np.asarray(kmeans.transform(scaled32), dtype=np.float64),
        scaled32,
    )
    checked = limit_raw[limit_rows]
    references = [expected_limits(graph, checked) for graph in limit_graphs]
    result = verdict(segmenter_check, check_limits(checked, references))
    result["limit_rows_checked"] = len(limit_rows)
    return result


def expected_limits(graph: LimitGraph, limit_raw: NDArray[np.float64]) -> LimitReference:
    """scikit-learn's quantiles for ``limit_raw`` as the graph receives it (float32)."""
    values = float32_grid(limit_raw)
    expected = {q: np.asarray(m.predict(values), dtype=np.float64) for q, m in graph.models.items()}
    return LimitReference(graph.file, graph.onnx_bytes, expected)


def _session(model: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def check_segmenter(
    model: bytes,
    raw: NDArray[np.float64],
    labels: NDArray[np.int64],
    distances: NDArray[np.float64],
    scaled: NDArray[np.float64],
) -> dict[str, Any]:
    """Compare ``segmenter.onnx`` on ``raw`` with scikit-learn's labels/distances/scaled."""
    got_labels, got_distances, got_scaled = _session(model).run(
        ["label", "distances", "scaled"], {"features": raw.astype(np.float32)}
    )
    agree = got_labels == labels
    ordered = np.sort(distances, axis=1)
    near_ties = int(np.sum(ordered[:, 1] - ordered[:, 0] < NEAR_TIE)) if ordered.shape[1] > 1 else 0
    rows = np.flatnonzero(~agree)
    # How much closer scikit-learn found its own centroid than the one onnxruntime chose.
    gaps = np.abs(distances[rows, got_labels[rows]] - distances[rows, labels[rows]])
    return {
        "rows": len(raw),
        "label_agreement": float(np.mean(agree)),
        "label_mismatches": len(rows),
        "tie_mismatches": int(np.sum(gaps < NEAR_TIE)),
        "near_ties": near_ties,
        "max_abs_diff": {
            "distances": float(np.max(np.abs(got_distances - distances))),
            "scaled": float(np.max(np.abs(got_scaled - scaled))),
        },
    }


def check_limits(
    raw_limit_features: NDArray[np.float64], references: list[LimitReference]
) -> dict[str, Any]:
    """Max |onnx - sklearn| per quantile across every limit file, and per file."""
    features = raw_limit_features.astype(np.float32)
    per_file: dict[str, dict[str, float]] = {}
    overall: dict[str, float] = {}
    for ref in references:
        session = _session(ref.onnx_bytes)
        diffs = {}
        for quantile, expected in ref.expected.items():
            name = quantile_output_name(quantile)
            (got,) = session.run([name], {"features": features})
            diffs[name] = float(np.max(np.abs(got[:, 0] - expected)))
            overall[f"limit_{name}"] = max(overall.get(f"limit_{name}", 0.0), diffs[name])
        per_file[ref.file] = diffs
    return {"max_abs_diff": overall, "files": per_file}


def verdict(segmenter: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    """Merge both checks into the manifest's ``parity`` section; raise if any bound fails."""
    max_abs = {**segmenter["max_abs_diff"], **limits["max_abs_diff"]}
    failures = []
    real_mismatches = segmenter["label_mismatches"] - segmenter["tie_mismatches"]
    if real_mismatches:
        failures.append(
            f"{segmenter['label_mismatches']} of {segmenter['rows']} labels differ, "
            f"{real_mismatches} of them not explained by a tie within {NEAR_TIE}"
        )
    for output in ("distances", "scaled"):
        if not max_abs[output] <= BOUNDS[output]:
            failures.append(f"{output}: max abs diff {max_abs[output]:.3g} > {BOUNDS[output]}")
    for key, value in limits["max_abs_diff"].items():
        if not value <= BOUNDS["limit"]:
            failures.append(f"{key}: max abs diff {value:.3g} > {BOUNDS['limit']}")
    result = {
        "rows": segmenter["rows"],
        "label_agreement": segmenter["label_agreement"],
        "label_mismatches": segmenter["label_mismatches"],
        "tie_mismatches": segmenter["tie_mismatches"],
        "near_ties": segmenter["near_ties"],
        "max_abs_diff": max_abs,
        "limit_files": limits["files"],
        "bounds": BOUNDS,
        "passed": not failures,
    }
    if failures:
        raise ParityError("ONNX parity check failed: " + "; ".join(failures))
    return result
