"""Scoring with onnxruntime: segment, explanation, typicality, map position, limit band.

Built once per container from a verified bundle. :meth:`ScoringModel.compute` runs the ONNX
graphs and the array operations that need every row at once (distances, runner-up, map
projection, the limit band) on the whole batch with numpy. Two readings of its arrays
follow, one per kind of caller, computing the same numbers:

- :meth:`ScoringModel.score`: a typed :class:`Scored` per row (JSON answers, the cache):
  what is left per row (rounding, picking the top drivers, a percentile lookup, the limit
  position) is a handful of Python operations on plain lists, which for the common
  one-customer request is faster than more numpy calls;
- :meth:`ScoringModel.columns`: the scored rows as columns (:class:`ScoredColumns`) for a
  results table and the drift counts, rounded and looked up a whole column at a time
  (:mod:`chalicelib.scoring.arrays`, which agrees with Python's ``round`` and ``bisect``
  to the bit); no object per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from chalicelib.contract.bundle import Segment as ManifestSegment
from chalicelib.contract.row import FieldProblem
from chalicelib.scoring.arrays import percentile_in, percentile_of, round_like_python
from chalicelib.scoring.loader import Bundle
from chalicelib.scoring.scored import (
    CreditLimit,
    Driver,
    Explanation,
    Scored,
    ScoredColumns,
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
LIMIT_DIGITS = 2  # the look-alike band, in currency


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


@dataclass(frozen=True)
class Computed:
    """The arrays :meth:`ScoringModel.compute` makes for N validated rows (row i = index i),
    before any rounding: what both readings (objects, columns) start from."""

    sent: np.ndarray  # [N, features] float64 as validated, NaN where missing
    features: np.ndarray  # the same as float32: what the graphs saw
    labels: np.ndarray  # [N] the graph's label: the index of the segment
    scaled: np.ndarray  # [N, features] float64 model-space values (the graph's output)
    distances: np.ndarray  # [N, k] float64, to every centroid
    runner_up: np.ndarray  # [N] the nearest other segment (the own one when k == 1)
    positions: np.ndarray  # [N, 2] the segment map's x and y
    bands: np.ndarray  # [N, 3] the limit band p25, p50, p75, sorted

    def __len__(self) -> int:
        return len(self.labels)


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
        self._tables = _percentile_tables(self.segments)

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

    def compute(self, sent: np.ndarray) -> Computed:
        """The graphs and the whole-batch arrays for validated rows ``sent`` (float64
        [N, features], NaN where missing)."""
        features = sent.astype(np.float32)
        label, scaled = self._segmenter.run(["label", "scaled"], {self._segmenter_input: features})
        labels = label.astype(np.int64)
        scaled64 = scaled.astype(np.float64)
        # Distances from the graph's model-space features, in float64, row by row: the
        # graph's own `distances` (a float32 matrix product) change in the last bits with a
        # row's position in the batch, so the same customer could get another margin in an
        # API batch than in a batch file. The labels (graph, float32) do not move.
        distances64 = np.sqrt(((scaled64[:, None, :] - self._centroids[None]) ** 2).sum(axis=2))
        return Computed(
            sent=sent,
            features=features,
            labels=labels,
            scaled=scaled64,
            distances=distances64,
            runner_up=self._runner_up(distances64, labels),
            positions=(scaled64 - self._map_mean) @ self._map_components.T,
            bands=self._limit_bands(features, labels),
        )

    def score(self, records: Sequence[ValidRecord]) -> list[Scored]:
        """Score validated rows; one result per row, in order (no customer id, no cache)."""
        if not records:
            return []
        computed = self.compute(self._sent(records))
        labels, runner_up = computed.labels, computed.runner_up
        scaled64, sent = computed.scaled, computed.sent
        # Per feature, how much it favours the assigned segment over the runner-up:
        # (x - c_runner)^2 - (x - c_own)^2; the terms sum to the gap between the squared
        # distances, so the largest ones are what decided the assignment.
        contributions = (scaled64 - self._centroids[runner_up]) ** 2 - (
            scaled64 - self._centroids[labels]
        ) ** 2
        # Drivers echo what the client sent (float64), not the float32 the graphs saw.
        filled = np.where(np.isnan(sent), self.defaults, sent)
        has_runner_up = self.k > 1
        return [
            self._result(
                record,
                int(labels[i]),
                computed.distances[i].tolist(),
                int(runner_up[i]) if has_runner_up else None,
                contributions[i].tolist() if has_runner_up else [],
                computed.positions[i].tolist(),
                filled[i].tolist(),
                computed.bands[i].tolist(),
            )
            for i, record in enumerate(records)
        ]

    def columns(
        self,
        computed: Computed,
        imputed: Sequence[tuple[str, ...]],
        flags: Sequence[tuple[FieldProblem, ...]],
    ) -> ScoredColumns:
        """The rows of ``computed`` as a results table reads them: the numbers :meth:`score`
        reports, rounded and looked up a column at a time (no object per row)."""
        labels = computed.labels.tolist()
        rows = np.arange(len(labels))
        own = computed.distances[rows, computed.labels]
        band = round_like_python(computed.bands, LIMIT_DIGITS).tolist()
        limits = computed.sent[:, self._limit_position].tolist()
        percentile = self._percentiles(own, computed.labels)
        runner_up: list[int | None] = [None] * len(labels)
        margin: list[float | None] = [None] * len(labels)
        if self.k > 1:
            runner_up = computed.runner_up.tolist()
            gap = computed.distances[rows, computed.runner_up] - own
            margin = round_like_python(gap, DIGITS).tolist()
        segments = [self.segments[label] for label in labels]
        x, y = round_like_python(computed.positions, DIGITS).T.tolist()
        return ScoredColumns(
            model_version=self.version,
            segments=[s.header for s in segments],
            band=band,
            limit_model=[s.limit_source for s in segments],
            position=[
                _limit_position(None if v != v else v, b) for v, b in zip(limits, band, strict=True)
            ],
            percentile=percentile,
            typicality=[_typicality_label(p) for p in percentile],
            runner_up=runner_up,
            margin=margin,
            map_x=x,
            map_y=y,
            imputed=list(imputed),
            flags=list(flags),
        )

    def _percentiles(self, own: np.ndarray, labels: np.ndarray) -> list[float]:
        """Each row's typicality percentile in its own segment's table (``_percentile``)."""
        if isinstance(self._tables, np.ndarray):  # every table is 0..100: one lookup
            return percentile_in(own, self._tables[labels]).tolist()
        return [
            _percentile(d, self.segments[label].percentiles)
            for d, label in zip(own.tolist(), labels.tolist(), strict=True)
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
        p25, p50, p75 = rounded = [round(v, LIMIT_DIGITS) for v in band]
        position = _limit_position(customer_limit, rounded)
        return CreditLimit(p25, p50, p75, segment.limit_source, customer_limit, position)


def _percentile(distance: float, percentiles: list[float]) -> float:
    """Where ``distance`` falls among the members' distances, 0-100 (see
    :func:`chalicelib.scoring.arrays.percentile_of`)."""
    return percentile_of(distance, percentiles)


def _percentile_tables(segments: Sequence[_Segment]) -> np.ndarray | None:
    """The segments' distance percentiles as one [k, steps] array for whole-column
    lookups, or None when their lengths differ (never in a bundle trained here)."""
    if len({len(s.percentiles) for s in segments}) != 1:
        return None
    return np.array([s.percentiles for s in segments], np.float64)


def _limit_position(customer_limit: float | None, band: Sequence[float]) -> str:
    """Where a customer's own limit sits against its rounded band [p25, p50, p75]."""
    if customer_limit is None:
        return "unknown"
    if customer_limit < band[0]:
        return "below"
    return "above" if customer_limit > band[2] else "within"


def _typicality(percentile: float) -> Typicality:
    return Typicality(percentile, _typicality_label(percentile))


def _typicality_label(percentile: float) -> str:
    """Typical up to the 75th percentile of members' distances, atypical beyond the 95th."""
    if percentile <= TYPICAL_UP_TO:
        return "typical"
    return "unusual" if percentile <= UNUSUAL_UP_TO else "atypical"
