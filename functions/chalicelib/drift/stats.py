"""Drift and migration of a scored file: pure functions, numpy and the standard library only.

A file is compared with the training distribution the bundle carries
(``manifest.drift_reference``: per feature the training deciles as inner cut points
``edges`` and the training ``shares`` of the bins they make, plus the training segment
shares) and with each feature's training range (``manifest.features``). Scoring paths
feed it chunk by chunk, so a file of any size is summarised in constant memory:

    counts = new_counts(reference)                  # once per file
    add_rows(counts, reference, values, segments, labels)   # per scored chunk
    total = merge(counts_a, counts_b)               # parts scored elsewhere (workers)
    report = build_report(counts, reference, ...)   # once, at the end

Population stability index of one feature, over its bins::

    PSI = sum_i (now_i - train_i) * ln(now_i / train_i)

with both shares clipped below at ``PSI_EPSILON`` (an empty bin would make the logarithm
infinite). Missing values are left out of the bins (their shares are reported beside).
Thresholds, the usual ones in credit scoring: below ``PSI_WATCH`` (0.1) stable, up to
``PSI_RETRAIN`` (0.25) watch, above it the population has moved enough to retrain.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chalicelib.contract.bundle import FeatureBins, Manifest
from chalicelib.contract.feature import Feature

REPORT_SCHEMA_VERSION = 1
PSI_EPSILON = 1e-4
PSI_WATCH = 0.1
PSI_RETRAIN = 0.25
STABLE, WATCH, RETRAIN, NO_DATA = "stable", "watch", "retrain", "no data"
SEVERITY = {NO_DATA: 0, STABLE: 0, WATCH: 1, RETRAIN: 2}
# Typicality labels of a scored row (chalicelib.scoring.model): beyond the 75th percentile of
# the segment members' distances is unusual, beyond the 95th atypical. At training, by
# construction, 25 % and 5 % of the members are that far out.
TYPICAL = "typical"
ATYPICAL = "atypical"
TRAINING_UNUSUAL_SHARE = 0.25
TRAINING_ATYPICAL_SHARE = 0.05
DIGITS = 6


@dataclass(frozen=True)
class Reference:
    """What a file is compared with; built from a manifest by :func:`reference_of`.

    ``features`` are the manifest's own (names, training ranges); ``bins[j]`` are the
    training bins of ``features[j]`` (one bin and no cut point when the bundle has none:
    ``has_bins`` is then False)."""

    features: tuple[Feature, ...]
    bins: tuple[FeatureBins, ...]
    segment_shares: dict[int, float]
    segment_names: dict[int, str]
    rows: int | None
    has_bins: bool

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)


def reference_of(manifest: Manifest) -> Reference:
    """The manifest's drift reference. A bundle without one (trained before it existed)
    still gives the features' ranges and the segment shares, just no bins to compare."""
    drift = manifest.drift_reference
    unbinned = tuple(FeatureBins(f.name, (), (1.0,), 0.0) for f in manifest.features)
    shares = manifest.segments if drift is None else drift.segment_shares
    return Reference(
        features=manifest.features,
        bins=unbinned if drift is None else drift.features,
        segment_shares={s.id: s.share for s in shares},
        segment_names={s.id: s.name for s in manifest.segments},
        rows=None if drift is None else drift.rows,
        has_bins=drift is not None,
    )


@dataclass
class DriftCounts:
    """The accumulator: plain integers, JSON-able, summed by :func:`merge`."""

    rows: int = 0
    bins: list[list[int]] = field(default_factory=list)  # per feature, len(edges) + 1
    missing: list[int] = field(default_factory=list)
    outside: list[int] = field(default_factory=list)  # values outside the training range
    rows_outside: int = 0  # rows with at least one such value
    segments: dict[int, int] = field(default_factory=dict)
    unusual: int = 0  # typicality not "typical"
    atypical: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy, fields in order (a Distributed Map worker writes one per batch:
        built directly, as ``dataclasses.asdict`` recursing into every count cost more)."""
        body: dict[str, Any] = {name: getattr(self, name) for name in self.__dataclass_fields__}
        body.update(
            bins=[list(counts) for counts in self.bins],
            missing=list(self.missing),
            outside=list(self.outside),
            segments={str(k): v for k, v in self.segments.items()},
        )
        return body

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> DriftCounts:
        loaded = cls(**{k: v for k, v in body.items() if k != "segments"})
        loaded.segments = {int(k): int(v) for k, v in body.get("segments", {}).items()}
        return loaded


def new_counts(reference: Reference) -> DriftCounts:
    """Empty counts shaped for ``reference``."""
    return DriftCounts(
        bins=[[0] * (len(b.edges) + 1) for b in reference.bins],
        missing=[0] * len(reference.features),
        outside=[0] * len(reference.features),
    )


def add_rows(
    counts: DriftCounts,
    reference: Reference,
    values: Sequence[Sequence[float | None]],
    segments: Sequence[int],
    labels: Sequence[str],
) -> None:
    """Count one chunk of scored rows: raw ``values`` in the reference's feature order
    (``None`` = missing), each row's segment id and typicality label.

    Every feature at once: a value's bin is the number of its feature's cut points below
    it (what ``searchsorted(edges, value, side="left")`` gives), the cut points padded to
    one length with infinity; one ``bincount`` then counts every feature's bins."""
    if not len(values):
        return
    layout = _layout(reference)
    matrix = np.array(values, dtype=np.float64).reshape(len(values), len(reference.features))
    missing = np.isnan(matrix)
    which = (matrix[:, :, None] > layout.edges[None]).sum(axis=2) + layout.starts
    found = np.bincount(which[~missing], minlength=layout.size).tolist()
    for bins, start in zip(counts.bins, layout.starts.tolist(), strict=True):
        for i, n in enumerate(found[start : start + len(bins)]):
            bins[i] += n
    with np.errstate(invalid="ignore"):  # missing values (NaN) are never outside
        outside = (matrix < layout.low) | (matrix > layout.high)
    for j, (gone, out) in enumerate(zip(missing.sum(axis=0).tolist(), outside.sum(axis=0).tolist(),
                                        strict=True)):  # fmt: skip
        counts.missing[j] += gone
        counts.outside[j] += out
    counts.rows += len(values)
    counts.rows_outside += int(outside.any(axis=1).sum())
    for segment, n in Counter(int(s) for s in segments).items():
        counts.segments[segment] = counts.segments.get(segment, 0) + n
    labels = list(labels)
    counts.unusual += len(labels) - labels.count(TYPICAL)
    counts.atypical += labels.count(ATYPICAL)


@dataclass(frozen=True)
class _Layout:
    """A reference's bins and ranges as arrays: every feature's cut points padded with
    infinity to one length [features, cut points], where its bins start in one flat
    count, and its training range."""

    edges: np.ndarray
    starts: np.ndarray
    size: int
    low: np.ndarray
    high: np.ndarray


_layouts: list[tuple[Reference, _Layout]] = []


def _layout(reference: Reference) -> _Layout:
    """The reference's :class:`_Layout`, kept for the last reference asked (a file, or a
    worker's run, counts every chunk against the same one)."""
    if _layouts and _layouts[0][0] is reference:
        return _layouts[0][1]
    widths = [len(bins.edges) for bins in reference.bins]
    edges = np.full((len(widths), max(widths, default=0)), np.inf)
    for j, bins in enumerate(reference.bins):
        edges[j, : len(bins.edges)] = bins.edges
    starts = np.cumsum([0, *(w + 1 for w in widths)])[:-1]
    features = reference.features
    layout = _Layout(
        edges=edges,
        starts=starts,
        size=sum(widths) + len(widths),
        low=np.array([-math.inf if f.train_min is None else f.train_min for f in features]),
        high=np.array([math.inf if f.train_max is None else f.train_max for f in features]),
    )
    _layouts[:] = [(reference, layout)]
    return layout


def merge(parts: Iterable[DriftCounts]) -> DriftCounts:
    """The sum of counts made separately (chunks, or batches scored by other workers)."""
    parts = list(parts)
    if not parts:
        raise ValueError("merge needs at least one DriftCounts")
    total = DriftCounts(
        bins=[[0] * len(b) for b in parts[0].bins],
        missing=[0] * len(parts[0].missing),
        outside=[0] * len(parts[0].outside),
    )
    for part in parts:
        if [len(b) for b in part.bins] != [len(b) for b in total.bins]:
            raise ValueError("counts made against different references cannot be merged")
        total.rows += part.rows
        total.rows_outside += part.rows_outside
        total.unusual += part.unusual
        total.atypical += part.atypical
        for j, row in enumerate(part.bins):
            total.bins[j] = [a + b for a, b in zip(total.bins[j], row, strict=True)]
            total.missing[j] += part.missing[j]
            total.outside[j] += part.outside[j]
        for segment, n in part.segments.items():
            total.segments[segment] = total.segments.get(segment, 0) + n
    return total


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two share vectors over the same bins (see module)."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, PSI_EPSILON), max(a, PSI_EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def status_of(value: float | None) -> str:
    """stable below PSI_WATCH, watch up to PSI_RETRAIN, retrain above it."""
    if value is None:
        return NO_DATA
    if value > PSI_RETRAIN:
        return RETRAIN
    if value >= PSI_WATCH:
        return WATCH
    return STABLE


def _shares(counts: Sequence[int]) -> list[float] | None:
    total = sum(counts)
    return None if total == 0 else [c / total for c in counts]


def _feature_report(
    feature: Feature, training: FeatureBins, bins: list[int], missing: int, outside: int, rows: int
) -> dict[str, Any]:
    now = _shares(bins)
    value = None if now is None else psi(training.shares, now)
    lows = [None, *training.edges]
    highs = [*training.edges, None]
    return {
        "name": feature.name,
        "psi": None if value is None else round(value, DIGITS),
        "status": status_of(value),
        "bins": [
            {
                "low": low,
                "high": high,
                "training": round(train, DIGITS),
                "now": None if now is None else round(now[i], DIGITS),
            }
            for i, (low, high, train) in enumerate(zip(lows, highs, training.shares, strict=True))
        ],
        "missing_share": {
            "training": round(training.missing_share, DIGITS),
            "now": round(missing / rows, DIGITS) if rows else None,
        },
        "outside_range_share": round(outside / rows, DIGITS) if rows else None,
        "train_min": feature.train_min,
        "train_max": feature.train_max,
    }


def _segment_report(counts: DriftCounts, reference: Reference) -> dict[str, Any]:
    ids = sorted({*reference.segment_shares, *counts.segments})
    now = [counts.segments.get(i, 0) / counts.rows if counts.rows else 0.0 for i in ids]
    train = [reference.segment_shares.get(i, 0.0) for i in ids]
    value = psi(train, now) if counts.rows else None
    rows: list[dict[str, Any]] = [
        {
            "id": i,
            "name": reference.segment_names.get(i, str(i)),
            "training": round(t, DIGITS),
            "now": round(n, DIGITS),
            "change": round(n - t, DIGITS),
        }
        for i, t, n in zip(ids, train, now, strict=True)
    ]
    return {
        "psi": None if value is None else round(value, DIGITS),
        "status": status_of(value),
        "max_change": max((abs(r["change"]) for r in rows), default=0.0) if counts.rows else None,
        "shares": rows,
    }


def thresholds() -> dict[str, float]:
    return {"psi_watch": PSI_WATCH, "psi_retrain": PSI_RETRAIN, "psi_epsilon": PSI_EPSILON}


def build_report(
    counts: DriftCounts,
    reference: Reference,
    *,
    name: str,
    created_at: str,
    model_version: str,
    rows_in_file: int,
    migration: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The ``<name>.report.json`` body (docs/api.md, "Reports") from a file's counts."""
    features = (
        [
            _feature_report(f, b, counts.bins[j], counts.missing[j], counts.outside[j], counts.rows)
            for j, (f, b) in enumerate(zip(reference.features, reference.bins, strict=True))
        ]
        if reference.has_bins
        else []
    )
    segments = _segment_report(counts, reference)
    flags = _flags(features, segments)
    scored_psi = [f for f in features if f["psi"] is not None]
    worst = max(scored_psi, key=lambda f: f["psi"], default=None)
    statuses = [f["status"] for f in features] + [segments["status"]]
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "name": name,
        "source": source,
        "created_at": created_at,
        "model_version": model_version,
        "rows": counts.rows,
        "rows_in_file": rows_in_file,
        "reference": {"bins": reference.has_bins, "training_rows": reference.rows},
        "thresholds": thresholds(),
        "status": max(statuses, key=SEVERITY.__getitem__) if counts.rows else NO_DATA,
        "worst_psi": None if worst is None else {"feature": worst["name"], "psi": worst["psi"]},
        "flags": flags,
        "features": features,
        "segments": segments,
        **_shares_beyond_training(counts, reference),
        "migration": None if migration is None else dict(migration),
        "counts": counts.to_dict(),
    }


def _flags(features: list[dict[str, Any]], segments: dict[str, Any]) -> list[dict[str, Any]]:
    """One flag per feature (and for the segment shares) that is to watch or retrain on."""
    flagged = [(f["name"], f["name"], f) for f in features]
    flagged.append(("(segments)", "the segment shares", segments))
    return [
        {
            "feature": feature,
            "psi": part["psi"],
            "status": part["status"],
            "message": _flag_message(what, part["psi"], part["status"]),
        }
        for feature, what, part in flagged
        if part["status"] in {WATCH, RETRAIN}
    ]


def _shares_beyond_training(counts: DriftCounts, reference: Reference) -> dict[str, Any]:
    """How many rows are unusual for their segment, and how many values (and rows) lie
    outside the training range, against what training had by construction."""
    cells = counts.rows * len(reference.features) - sum(counts.missing)
    return {
        "unusual_share": {
            "now": _ratio(counts.unusual, counts.rows),
            "training": TRAINING_UNUSUAL_SHARE,
            "atypical_now": _ratio(counts.atypical, counts.rows),
            "atypical_training": TRAINING_ATYPICAL_SHARE,
        },
        "outside_range_share": {
            "values": _ratio(sum(counts.outside), cells),
            "rows": _ratio(counts.rows_outside, counts.rows),
        },
    }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, DIGITS) if whole else None


def _flag_message(what: str, value: float | None, status: str) -> str:
    if status == RETRAIN:
        return f"PSI {value:.3f} > {PSI_RETRAIN}: {what} moved away from training; retrain"
    return f"PSI {value:.3f} in [{PSI_WATCH}, {PSI_RETRAIN}]: {what} is shifting; watch it"


def summary_of(report: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers ``GET /v1/reports`` lists per report."""
    migration = report.get("migration") or {}
    return {
        "name": report["name"],
        "created_at": report["created_at"],
        "model_version": report["model_version"],
        "rows": report["rows"],
        "status": report["status"],
        "worst_psi": report.get("worst_psi"),
        "segment_psi": report["segments"]["psi"],
        "segment_max_change": report["segments"]["max_change"],
        "moved": migration.get("moved"),
    }


# --- migration between two runs of the same file ------------------------------------------


def migration(
    previous: Iterable[tuple[str, int]],
    current: Iterable[tuple[str, int]],
    *,
    previous_run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Customers matched by id between two runs: ``(CUST_ID, segment id)`` pairs of each.

    Rows without an id cannot be followed and are left out; an id seen twice in one run
    counts once, with its last segment (``duplicate_ids`` says how many were dropped).
    The matrix is previous segment (rows) by current segment (columns), over the ids seen
    in both runs.
    """
    before, dup_before = _by_id(previous)
    after, dup_after = _by_id(current)
    ids = sorted({*before.values(), *after.values()})
    position = {segment: i for i, segment in enumerate(ids)}
    matrix = [[0] * len(ids) for _ in ids]
    matched = moved = 0
    for customer, segment in after.items():
        old = before.get(customer)
        if old is None:
            continue
        matched += 1
        moved += old != segment
        matrix[position[old]][position[segment]] += 1
    return {
        "previous_run": dict(previous_run or {}),
        "matched": matched,
        "moved": moved,
        "new": len(after) - matched,
        "gone": len(before) - matched,
        "moved_share": round(moved / matched, DIGITS) if matched else None,
        "segments": ids,
        "matrix": matrix,
        "duplicate_ids": {"previous": dup_before, "current": dup_after},
    }


def _by_id(pairs: Iterable[tuple[str, int]]) -> tuple[dict[str, int], int]:
    seen: dict[str, int] = {}
    duplicates = 0
    for customer, segment in pairs:
        if not customer:
            continue
        duplicates += customer in seen
        seen[customer] = int(segment)
    return seen, duplicates
