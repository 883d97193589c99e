"""Scoring with onnxruntime: segment, explanation, typicality, map position, limit band.

Built once per container from a verified bundle. The ONNX graphs and the few array
operations that need every row at once (map projection, runner-up, per-feature
contributions) run on the whole batch with numpy; what is left per row (picking the top
drivers, a percentile lookup, the limit position) is a handful of Python operations on
plain lists, which for the common one-customer request is faster than more numpy calls.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from chalicelib.contract.bundle import Segment as ManifestSegment
from chalicelib.scoring.loader import Bundle
from chalicelib.scoring.scored import (
    CreditLimit,
    Driver,
    Explanation,
    Scored,
    SegmentHeader,
    Typicality,
)
from chalicelib.scoring.validator import Validator, ValidRecord

# Typicality from the percentile of the customer's distance among the segment's members.
TYPICAL_UP_TO = 75.0
UNUSUAL_UP_TO = 95.0
TOP_DRIVERS = 3
# The graphs compute in float32 (about 7 significant digits), and a row scored alone or in
# a batch can differ in the last one: model-space numbers are reported to 4 decimals.
DIGITS = 4


def new_session(graph: bytes) -> ort.InferenceSession:
    """An onnxruntime session pinned to one thread: Lambda gives a request about one vCPU,
    and thread pools only add start-up time and contention there.

    Basic graph optimisations only (constant folding, redundant nodes): building both
    sessions took 84 ms instead of 125 ms with all of them, in the same run, while runs
    took the same time and gave identical outputs (the extended fusions have nothing to
    fuse in a KMeans head and a tree ensemble). Session building is on the cold path."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 3
    return ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class _Segment:
    """What scoring needs of one manifest segment."""

    header: SegmentHeader
    medians: list[float | None]
    percentiles: list[float]  # distance percentiles 0..100 of the members, ascending
    limit_file: str
    limit_source: str


class ScoringModel:
    """One loaded model version: validator, ONNX sessions and the manifest numbers."""

    def __init__(self, bundle: Bundle) -> None:
        manifest = bundle.manifest
        self.version = bundle.version
        self.manifest = manifest
        self.features: tuple[str, ...] = manifest.feature_names
        self.defaults = np.array(
            [np.nan if f.default is None else f.default for f in manifest.features],
            dtype=np.float64,
        )
        self.validator = Validator(manifest.features, manifest.id_field)
        self._segmenter = new_session(bundle.files[manifest.segmenter.file])
        self._segmenter_input = manifest.segmenter.input
        limit = manifest.limit_model
        self._limit_columns = [self.features.index(n) for n in limit.features]
        self._limit_position = self.features.index(limit.target)
        self._limit_outputs = list(limit.outputs)
        self.segments = [self._segment(s) for s in manifest.segments]
        self._limit_files = sorted({s.limit_file for s in self.segments})
        self._limit_sessions = [new_session(bundle.files[name]) for name in self._limit_files]
        self._segment_limit = np.array(
            [self._limit_files.index(s.limit_file) for s in self.segments]
        )
        self._centroids = np.array([s.centroid for s in manifest.segments], np.float64)
        self._map_components = np.array(manifest.map.components, np.float64)
        self._map_mean = np.array(manifest.map.mean, np.float64)

    def _segment(self, segment: ManifestSegment) -> _Segment:
        return _Segment(
            header=SegmentHeader(segment.id, segment.name, segment.description, segment.action),
            medians=[segment.medians.get(n) for n in self.features],
            percentiles=list(segment.distance_percentiles),
            limit_file=segment.limit_model.file,
            limit_source=segment.limit_model.source,
        )

    @property
    def k(self) -> int:
        return self.manifest.k

    def _sent(self, records: Sequence[ValidRecord]) -> np.ndarray:
        """float64 [N, 17]: the values as the client sent them, NaN for a missing value."""
        return np.array(
            [[np.nan if v is None else v for v in r.values] for r in records], dtype=np.float64
        ).reshape(len(records), len(self.features))

    def score(self, records: Sequence[ValidRecord]) -> list[Scored]:
        """Score validated rows; one result per row, in order (no customer id, no cache)."""
        if not records:
            return []
        sent = self._sent(records)
        features = sent.astype(np.float32)
        label, scaled = self._segmenter.run(["label", "scaled"], {self._segmenter_input: features})
        rows = np.arange(len(records))
        labels = label.astype(np.int64)
        scaled64 = scaled.astype(np.float64)
        # Distances from the graph's model-space features, in float64, row by row: the
        # graph's own `distances` (a float32 matrix product) change in the last bits with a
        # row's position in the batch, so the same customer could get another margin in an
        # API batch than in a batch file. The labels (graph, float32) do not move.
        distances64 = np.sqrt(((scaled64[:, None, :] - self._centroids[None]) ** 2).sum(axis=2))
        runner_up = self._runner_up(distances64, labels)
        # Per feature, how much it favours the assigned segment over the runner-up:
        # (x - c_runner)^2 - (x - c_own)^2; the terms sum to the gap between the squared
        # distances, so the largest ones are what decided the assignment.
        contributions = (scaled64 - self._centroids[runner_up]) ** 2 - (
            scaled64 - self._centroids[labels]
        ) ** 2
        positions = (scaled64 - self._map_mean) @ self._map_components.T
        # Drivers echo what the client sent (float64), not the float32 the graphs saw.
        filled = np.where(np.isnan(sent), self.defaults, sent)
        bands = self._limit_bands(features, labels)
        has_runner_up = self.k > 1
        return [
            self._result(
                record,
                int(labels[i]),
                distances64[i].tolist(),
                int(runner_up[i]) if has_runner_up else None,
                contributions[i].tolist() if has_runner_up else [],
                positions[i].tolist(),
                filled[i].tolist(),
                bands[i].tolist(),
            )
            for i, record in zip(rows.tolist(), records, strict=True)
        ]

    def _result(
        self,
        record: ValidRecord,
        label: int,
        distances: list[float],
        runner_up: int | None,
        contributions: list[float],
        position: list[float],
        values: list[float],
        band: list[float],
    ) -> Scored:
        segment = self.segments[label]
        own = distances[label]
        top = sorted(range(len(contributions)), key=contributions.__getitem__, reverse=True)
        drivers = tuple(
            Driver(self.features[j], values[j], segment.medians[j], round(contributions[j], DIGITS))
            for j in top[:TOP_DRIVERS]
            if contributions[j] > 0
        )
        margin = None if runner_up is None else round(distances[runner_up] - own, DIGITS)
        return Scored(
            model_version=self.version,
            segment=segment.header,
            credit_limit=self._credit_limit(record.values[self._limit_position], segment, band),
            typicality=_typicality(_percentile(own, segment.percentiles)),
            explanation=Explanation(
                tuple(round(d, DIGITS) for d in distances), runner_up, margin, drivers
            ),
            map_x=round(position[0], DIGITS),
            map_y=round(position[1], DIGITS),
            imputed=record.imputed,
            flags=record.flags,
        )

    def _runner_up(self, distances: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The nearest other segment per row (the own segment when k == 1)."""
        if distances.shape[1] < 2:
            return labels
        others = distances.copy()
        others[np.arange(len(labels)), labels] = np.inf
        runner_up: np.ndarray = others.argmin(axis=1)
        return runner_up

    def _limit_bands(self, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """[N, 3] sorted p25/p50/p75, one onnxruntime run per limit model in use."""
        limit_inputs = np.ascontiguousarray(features[:, self._limit_columns])
        outputs = self._limit_outputs
        if len(self._limit_sessions) == 1:  # every segment uses the global model
            bands = np.concatenate(
                self._limit_sessions[0].run(outputs, {"features": limit_inputs}), axis=1
            )
        else:
            which = self._segment_limit[labels]
            bands = np.empty((len(labels), 3), dtype=np.float32)
            for index in set(which.tolist()):
                rows = np.flatnonzero(which == index)
                run = self._limit_sessions[index].run(outputs, {"features": limit_inputs[rows]})
                bands[rows] = np.concatenate(run, axis=1)
        return np.sort(bands.astype(np.float64), axis=1)  # quantile crossing is possible

    @staticmethod
    def _credit_limit(
        customer_limit: float | None, segment: _Segment, band: list[float]
    ) -> CreditLimit:
        p25, p50, p75 = (round(v, 2) for v in band)
        if customer_limit is None:
            position = "unknown"
        elif customer_limit < p25:
            position = "below"
        elif customer_limit > p75:
            position = "above"
        else:
            position = "within"
        return CreditLimit(p25, p50, p75, segment.limit_source, customer_limit, position)


def _percentile(distance: float, percentiles: list[float]) -> float:
    """Where ``distance`` falls among the members' distances, 0-100, linearly interpolated
    in the table of percentiles 0, 1, ..., 100 (as ``numpy.interp`` would)."""
    steps = len(percentiles) - 1
    upper = bisect.bisect_right(percentiles, distance)
    if upper == 0:
        return 0.0
    if upper > steps:
        return 100.0
    low, high = percentiles[upper - 1], percentiles[upper]
    fraction = (distance - low) / (high - low) if high > low else 0.0
    return round((upper - 1 + fraction) * 100.0 / steps, 2)


def _typicality(percentile: float) -> Typicality:
    """Typical up to the 75th percentile of members' distances, atypical beyond the 95th."""
    if percentile <= TYPICAL_UP_TO:
        label = "typical"
    elif percentile <= UNUSUAL_UP_TO:
        label = "unusual"
    else:
        label = "atypical"
    return Typicality(percentile, label)
