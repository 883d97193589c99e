"""A drift tally: the drift counts of some scored rows, as they travel through the API.

The CSV batch route answers the tally of each body it scores; a client that sends a file in
pieces (the Streamlit batch page) sends the pieces' tallies back to ``POST /v1/drift/report``
and gets the drift report of the whole file, which is never stored (docs/api.md,
"Drift of a file sent in pieces"). A tally names the model whose drift reference its bins
follow: counts made against two models do not add up, even when their shapes agree.

What a client sends back is untrusted: :func:`read_tally` checks it field by field against
the reference it is to be compared with, shapes and also the sums
:func:`chalicelib.drift.stats.add_rows` always keeps (every row of a feature is in one bin
or missing, every scored row has one segment...), so a report is never built from counts
no file could have given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from chalicelib.contract.row import FieldProblem
from chalicelib.drift import stats

#: The largest count a tally may hold: JSON numbers are exact up to here in every client.
MAX_COUNT = 2**53 - 1
MAX_VERSION_LENGTH = 200
COUNT_KEYS = tuple(field.name for field in fields(stats.DriftCounts))
TALLY_KEYS = ("model_version", "data_rows", "counts")


@dataclass(frozen=True)
class DriftTally:
    """Drift counts of scored rows, the model they were counted against, and how many data
    rows they came from (``data_rows``, scored or not; ``counts.rows`` are the scored ones)."""

    model_version: str
    data_rows: int
    counts: stats.DriftCounts

    def to_json(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "data_rows": self.data_rows,
            "counts": self.counts.to_dict(),
        }


def merge_tallies(tallies: Sequence[DriftTally]) -> DriftTally:
    """The sum of tallies of one model (``ValueError`` for none, or for two models)."""
    versions = {t.model_version for t in tallies}
    if len(versions) != 1:
        raise ValueError(f"tallies of one model are added, got {sorted(versions)}")
    return DriftTally(
        versions.pop(),
        sum(t.data_rows for t in tallies),
        stats.merge(t.counts for t in tallies),
    )


class _Reader:
    """Collects the problems of one tally, each named by its path (``tallies[2].counts.rows``)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[FieldProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(FieldProblem(f"{self.where}.{path}" if path else self.where, message))

    def object(self, value: Any, path: str, keys: Sequence[str]) -> Mapping[str, Any] | None:
        """``value`` as an object holding exactly ``keys``, or None (problems noted)."""
        if not isinstance(value, dict):
            self.problem(path, f"must be an object with {', '.join(keys)}")
            return None
        for key in value:
            if key not in keys:
                shown = str(key)[:40]
                self.problem(f"{path}.{shown}" if path else shown, "is not a known field")
        for key in keys:
            if key not in value:
                self.problem(f"{path}.{key}" if path else key, "is required")
        return value if all(k in value for k in keys) else None

    def count(self, value: Any, path: str) -> int:
        """``value`` as a count, or 0 (problem noted): booleans and 1.0 are not counts."""
        if type(value) is int and 0 <= value <= MAX_COUNT:
            return value
        self.problem(path, f"must be a whole number from 0 to {MAX_COUNT}, got {_shown(value)}")
        return 0

    def counts(self, value: Any, path: str, length: int, what: str) -> list[int]:
        """``value`` as a list of ``length`` counts (``what`` says what each one counts)."""
        if not isinstance(value, list) or len(value) != length:
            got = f"{len(value)} items" if isinstance(value, list) else _shown(value)
            self.problem(path, f"must be a list of {length} whole numbers ({what}), got {got}")
            return [0] * length
        return [self.count(v, f"{path}[{i}]") for i, v in enumerate(value)]


def read_tally(
    body: Any, reference: stats.Reference, where: str
) -> DriftTally | list[FieldProblem]:
    """A tally sent by a client, checked against ``reference``; its problems if it is not
    one, each field named from ``where`` (e.g. ``tallies[2]``)."""
    reader = _Reader(where)
    top = reader.object(body, "", TALLY_KEYS)
    if top is None:
        return reader.problems
    version = top["model_version"]
    if not isinstance(version, str) or not 0 < len(version) <= MAX_VERSION_LENGTH:
        reader.problem("model_version", f"must be a model version, got {_shown(version)}")
    data_rows = reader.count(top["data_rows"], "data_rows")
    counts = _read_counts(reader, top["counts"], reference)
    if reader.problems or counts is None:
        return reader.problems
    _check_sums(reader, counts, data_rows, reference)
    return reader.problems or DriftTally(version, data_rows, counts)


def _read_counts(
    reader: _Reader, value: Any, reference: stats.Reference
) -> stats.DriftCounts | None:
    """The ``counts`` object shaped as :func:`chalicelib.drift.stats.new_counts` makes them
    for ``reference``, or None."""
    body = reader.object(value, "counts", COUNT_KEYS)
    if body is None:
        return None
    features = reference.features
    bins = body["bins"]
    if not isinstance(bins, list) or len(bins) != len(features):
        got = f"{len(bins)} items" if isinstance(bins, list) else _shown(bins)
        message = f"must hold one list per feature ({len(features)}), got {got}"
        reader.problem("counts.bins", message)
        bins = [[] for _ in features]
    return stats.DriftCounts(
        rows=reader.count(body["rows"], "counts.rows"),
        bins=[
            reader.counts(b, f"counts.bins[{j}]", len(f.edges) + 1, f"training bins of {f.name}")
            for j, (b, f) in enumerate(zip(bins, reference.bins, strict=True))
        ],
        missing=reader.counts(body["missing"], "counts.missing", len(features), "one per feature"),
        outside=reader.counts(body["outside"], "counts.outside", len(features), "one per feature"),
        rows_outside=reader.count(body["rows_outside"], "counts.rows_outside"),
        segments=_read_segments(reader, body["segments"], reference),
        unusual=reader.count(body["unusual"], "counts.unusual"),
        atypical=reader.count(body["atypical"], "counts.atypical"),
    )


def _read_segments(reader: _Reader, value: Any, reference: stats.Reference) -> dict[int, int]:
    """``{"<segment id>": rows}`` over the reference's segments."""
    if not isinstance(value, dict):
        reader.problem("counts.segments", f"must be an object of segment ids, got {_shown(value)}")
        return {}
    known = {str(i): i for i in reference.segment_names}
    segments: dict[int, int] = {}
    for key, rows in value.items():
        if key not in known:
            listed = ", ".join(sorted(known, key=int))
            reader.problem(f"counts.segments.{key[:40]}", f"is not a segment id ({listed})")
            continue
        segments[known[key]] = reader.count(rows, f"counts.segments.{key}")
    return segments


def _check_sums(
    reader: _Reader, counts: stats.DriftCounts, data_rows: int, reference: stats.Reference
) -> None:
    """The sums :func:`chalicelib.drift.stats.add_rows` keeps, checked on well-shaped counts."""
    rows = counts.rows
    if rows > data_rows:
        reader.problem("counts.rows", f"must not exceed data_rows ({data_rows}), got {rows}")
    for j, feature in enumerate(reference.features):
        present = sum(counts.bins[j])
        if present + counts.missing[j] != rows:
            reader.problem(
                f"counts.bins[{j}]",
                f"{feature.name}: {present} binned + {counts.missing[j]} missing must make "
                f"counts.rows ({rows})",
            )
        if counts.outside[j] > present:
            reader.problem(
                f"counts.outside[{j}]",
                f"{feature.name}: must not exceed its binned values ({present}), "
                f"got {counts.outside[j]}",
            )
    low, high = max(counts.outside, default=0), min(rows, sum(counts.outside))
    if not low <= counts.rows_outside <= high:
        reader.problem(
            "counts.rows_outside",
            f"must be from {low} to {high} (the outside values' rows), got {counts.rows_outside}",
        )
    if sum(counts.segments.values()) != rows:
        reader.problem("counts.segments", f"must add up to counts.rows ({rows})")
    if not counts.atypical <= counts.unusual <= rows:
        reader.problem(
            "counts.unusual",
            f"must be from counts.atypical ({counts.atypical}) to counts.rows ({rows}), "
            f"got {counts.unusual}",
        )


def _shown(value: Any) -> str:
    """A client's value quoted in a message, never long."""
    return repr(value)[:40]
