"""Scoring with onnxruntime: segment, explanation, typicality, map position, limit band.

Built once per container from a verified bundle. Everything beyond the ONNX graphs is a
few numpy operations on the graph outputs and on numbers from the manifest, done for a
whole batch at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from chalicelib.model_store import Bundle
from chalicelib.validation import Validator, ValidRecord

Result = dict[str, Any]

LIMIT_FEATURE = "CREDIT_LIMIT"
LIMIT_NOTE = "Look-alike benchmark from customers of this segment, not a credit decision."
SUGGESTIONS = {
    "below": "consider an increase",
    "within": "keep",
    "above": "review",
    "unknown": "none",
}
# Typicality from the percentile of the customer's distance among the segment's members.
TYPICAL_UP_TO = 75.0
UNUSUAL_UP_TO = 95.0
TOP_DRIVERS = 3


def new_session(graph: bytes) -> ort.InferenceSession:
    """An onnxruntime session pinned to one thread: Lambda gives a request about one vCPU,
    and thread pools only add start-up time and contention there."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class _SegmentInfo:
    header: dict[str, Any]
    medians: list[float | None]
    percentiles: np.ndarray
    limit_file: str
    limit_source: str


class ScoringModel:
    """One loaded model version: validator, ONNX sessions and the manifest numbers."""

    def __init__(self, bundle: Bundle) -> None:
        manifest = bundle.manifest
        self.version = bundle.version
        self.manifest = manifest
        self.features: tuple[str, ...] = tuple(f["name"] for f in manifest["features"])
        self.defaults = np.array(
            [np.nan if f.get("default") is None else f["default"] for f in manifest["features"]],
            dtype=np.float64,
        )
        self.validator = Validator(manifest["features"], manifest.get("id_field", "CUST_ID"))
        segmenter = manifest["segmenter"]
        self._segmenter = new_session(bundle.files[segmenter["file"]])
        self._segmenter_input = segmenter.get("input", "features")
        limit = manifest["limit_model"]
        self._limit_columns = [self.features.index(n) for n in limit["features"]]
        self._limit_position = self.features.index(LIMIT_FEATURE)
        self.segments = [self._segment_info(s) for s in manifest["segments"]]
        files = {s.limit_file for s in self.segments}
        self._limit_sessions = {name: new_session(bundle.files[name]) for name in files}
        self._centroids = np.array([s["centroid"] for s in manifest["segments"]], np.float64)
        self._map_components = np.array(manifest["map"]["components"], np.float64)
        self._map_mean = np.array(manifest["map"]["mean"], np.float64)

    def _segment_info(self, segment: dict[str, Any]) -> _SegmentInfo:
        limit = segment.get("limit_model") or {}
        return _SegmentInfo(
            header={k: segment[k] for k in ("id", "name", "description", "action")},
            medians=[segment.get("medians", {}).get(n) for n in self.features],
            percentiles=np.asarray(segment["distance_percentiles"], np.float64),
            limit_file=limit.get("file", self.manifest["limit_model"]["global_file"]),
            limit_source=limit.get("source", "global"),
        )

    @property
    def k(self) -> int:
        return int(self.manifest["k"])

    def matrix(self, records: Sequence[ValidRecord]) -> np.ndarray:
        """float32 [N, 17] in graph column order, NaN for a missing value."""
        return np.array(
            [[np.nan if v is None else v for v in r.values] for r in records], dtype=np.float32
        ).reshape(len(records), len(self.features))

    def score(self, records: Sequence[ValidRecord]) -> list[Result]:
        """Score validated rows; one result per row, in order (no customer id, no cache)."""
        if not records:
            return []
        features = self.matrix(records)
        label, distances, scaled = self._segmenter.run(
            ["label", "distances", "scaled"], {self._segmenter_input: features}
        )
        labels: list[int] = label.astype(np.int64).tolist()
        rows = np.arange(len(labels))
        distances64 = distances.astype(np.float64)
        scaled64 = scaled.astype(np.float64)
        own = distances64[rows, labels]
        runner_up, margin = self._runner_up(distances64, labels, own)
        drivers = self._drivers(scaled64, labels, runner_up)
        percentiles = self._percentiles(own, np.asarray(labels)).tolist()
        bands = np.round(self._limit_bands(features, labels), 2).tolist()
        distance_lists = np.round(distances64, 6).tolist()
        positions = np.round((scaled64 - self._map_mean) @ self._map_components.T, 6).tolist()
        raw_filled = np.where(np.isnan(features), self.defaults, features.astype(np.float64))
        raw_lists = np.round(raw_filled, 6).tolist()
        results: list[Result] = []
        for i, record in enumerate(records):
            segment = self.segments[labels[i]]
            results.append(
                {
                    "model_version": self.version,
                    "segment": segment.header,
                    "credit_limit": self._credit_limit(record, segment, bands[i]),
                    "typicality": _typicality(percentiles[i]),
                    "explanation": {
                        "distances": [
                            {"segment": j, "distance": d} for j, d in enumerate(distance_lists[i])
                        ],
                        "runner_up": runner_up[i],
                        "margin": _rounded(margin[i]),
                        "drivers": [
                            {
                                "feature": self.features[j],
                                "value": raw_lists[i][j],
                                "segment_median": segment.medians[j],
                                "contribution": round(c, 6),
                            }
                            for j, c in drivers[i]
                        ],
                    },
                    "map_position": {"x": positions[i][0], "y": positions[i][1]},
                    "imputed": list(record.imputed),
                    "flags": [f.to_dict() for f in record.flags],
                }
            )
        return results

    def _percentiles(self, own: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Percentile (0-100) of each row's distance among its segment's training members."""
        out = np.zeros(own.shape, dtype=np.float64)
        for segment_id, segment in enumerate(self.segments):
            members = labels == segment_id
            if members.any():
                grid = np.linspace(0.0, 100.0, segment.percentiles.size)
                out[members] = np.interp(own[members], segment.percentiles, grid)
        return np.round(out, 2)

    def _limit_bands(self, features: np.ndarray, labels: list[int]) -> np.ndarray:
        """[N, 3] sorted p25/p50/p75, one onnxruntime run per limit model in use."""
        bands = np.zeros((len(labels), 3), dtype=np.float64)
        files = np.array([self.segments[s].limit_file for s in labels])
        limit_inputs = np.ascontiguousarray(features[:, self._limit_columns])
        for name, session in self._limit_sessions.items():
            rows = np.flatnonzero(files == name)
            if rows.size == 0:
                continue
            p25, p50, p75 = session.run(["p25", "p50", "p75"], {"features": limit_inputs[rows]})
            stacked = np.hstack([p25, p50, p75]).astype(np.float64)
            bands[rows] = np.sort(stacked, axis=1)
        return bands

    @staticmethod
    def _runner_up(
        distances: np.ndarray, labels: list[int], own: np.ndarray
    ) -> tuple[list[int | None], list[float | None]]:
        if distances.shape[1] < 2:
            return [None] * len(labels), [None] * len(labels)
        others = distances.copy()
        others[np.arange(len(labels)), labels] = np.inf
        second = others.argmin(axis=1)
        margins = others[np.arange(len(labels)), second] - own
        return [int(s) for s in second], [float(m) for m in margins]

    def _drivers(
        self, scaled: np.ndarray, labels: list[int], runner_up: list[int | None]
    ) -> list[list[tuple[int, float]]]:
        """Per feature, how much it favours the assigned segment over the runner-up.

        ``(x - c_runner)^2 - (x - c_own)^2`` per feature; the terms sum to the gap between
        the squared distances, so the largest ones are what decided the assignment.
        """
        if runner_up[0] is None:
            return [[] for _ in labels]
        own_c = self._centroids[labels]
        other_c = self._centroids[[int(r) for r in runner_up if r is not None]]
        contribution = (scaled - other_c) ** 2 - (scaled - own_c) ** 2
        top = np.argsort(-contribution, axis=1, kind="stable")[:, :TOP_DRIVERS]
        picked = np.take_along_axis(contribution, top, axis=1).tolist()
        return [
            [(j, c) for j, c in zip(columns, values, strict=True) if c > 0]
            for columns, values in zip(top.tolist(), picked, strict=True)
        ]

    def _credit_limit(
        self, record: ValidRecord, segment: _SegmentInfo, band: list[float]
    ) -> dict[str, Any]:
        p25, p50, p75 = band
        customer_limit = record.values[self._limit_position]
        if customer_limit is None:
            position = "unknown"
        elif customer_limit < p25:
            position = "below"
        elif customer_limit > p75:
            position = "above"
        else:
            position = "within"
        return {
            "benchmark": {"p25": p25, "p50": p50, "p75": p75},
            "model": segment.limit_source,
            "customer_limit": customer_limit,
            "position": position,
            "suggestion": SUGGESTIONS[position],
            "note": LIMIT_NOTE,
        }


def _typicality(percentile: float) -> dict[str, Any]:
    """Typical up to the 75th percentile of members' distances, atypical beyond the 95th."""
    if percentile <= TYPICAL_UP_TO:
        label = "typical"
    elif percentile <= UNUSUAL_UP_TO:
        label = "unusual"
    else:
        label = "atypical"
    return {"percentile": percentile, "score": round(100.0 - percentile, 2), "label": label}
