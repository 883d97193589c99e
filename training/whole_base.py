"""The second read of the file: every customer scored with the exported graph.

The models are fitted on a sample; what the bundle says about *the customer base* is
counted here over every row, with the very ``segmenter.onnx`` serving will run (float32
input, as serving sends it): how many customers in each segment, how the features are
spread over the drift reference's bins (whose edges, deciles, come from the sample), how
many values are missing, and, when a published model is replaced, how many customers
move from each of its segments to each new one.

Rows are read with the same reader and the same cell checks as the validating read
(:mod:`training.cells`), so they are the same numbers; the row count must match that
read's, else the file changed in between and the run stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import pyarrow as pa
from chalicelib.contract.row import check_header
from numpy.typing import NDArray

from training.cells import read_values
from training.chunks import ChunkReader, RawChunk
from training.data import DataFileError
from training.migration import PublishedModel
from training.population import Population
from training.schema import FEATURE_NAMES, FEATURES, ID_COLUMN

FRAME_CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class Base:
    """The customer base behind a training sample: how to read it again, what the first
    read counted and how long it took (None: not read from a file), and the sample asked
    for (None: every row)."""

    reader: ChunkReader
    population: Population
    sample_rows: int | None
    read_seconds: float | None = None


@dataclass(frozen=True)
class Counts:
    """Every row's figures: segment sizes (by id), per feature the rows in each drift bin
    (non-missing values) and the missing values, and the migration matrix
    ``[published segment][new segment]`` (None without a published model)."""

    rows: int
    segment_sizes: NDArray[np.int64]
    bin_counts: tuple[NDArray[np.int64], ...]
    missing: NDArray[np.int64]
    migration: NDArray[np.int64] | None


Progress = Callable[[int, int], None]


def count(
    base: Base,
    segmenter: bytes,
    k: int,
    edges: Sequence[NDArray[np.float64]],
    published: PublishedModel | None = None,
    progress: Progress | None = None,
) -> Counts:
    """Score every row of ``base`` with ``segmenter`` and count (see :class:`Counts`)."""
    positions = _feature_positions(base.reader.header)
    tally = _Tally(k, edges, published)
    new = _Scorer(segmenter, FEATURE_NAMES)
    old = _Scorer(published.segmenter, published.feature_names) if published else None
    for chunk in base.reader.chunks(positions):
        raw = _values(chunk, positions)
        tally.add(raw, new.labels(raw), old.labels(raw) if old else None)
        if progress is not None:
            progress(chunk.bytes_read, len(chunk))
    if tally.rows != base.population.rows:
        raise DataFileError(
            f"the data changed while training read it: {base.population.rows} rows at the "
            f"first read, {tally.rows} at the second"
        )
    return tally.counts()


def _feature_positions(header: tuple[str, ...]) -> list[int]:
    check = check_header(header, FEATURES, ID_COLUMN)
    missing = [name for name in FEATURE_NAMES if name not in check.positions]
    if not check.ok or missing:
        raise DataFileError(f"the data changed while training read it: header {header}")
    return [check.positions[name] for name in FEATURE_NAMES]


def _values(chunk: RawChunk, positions: list[int]) -> NDArray[np.float64]:
    """The chunk's rows in schema order, as the validating read took them."""
    values = np.empty((len(chunk), len(FEATURES)))
    for column, (feature, position) in enumerate(zip(FEATURES, positions, strict=True)):
        values[:, column] = read_values(feature, chunk.columns[position]).values
    return values


class _Scorer:
    """One segmenter graph, fed raw values as serving feeds it (float32, NaN missing)."""

    def __init__(self, graph: bytes, feature_names: tuple[str, ...]) -> None:
        self._session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
        self._columns = [FEATURE_NAMES.index(name) for name in feature_names]

    def labels(self, raw: NDArray[np.float64]) -> NDArray[np.int64]:
        features = np.ascontiguousarray(raw[:, self._columns], dtype=np.float32)
        (label,) = self._session.run(["label"], {"features": features})
        return np.asarray(label, dtype=np.int64).reshape(-1)


class _Tally:
    def __init__(
        self, k: int, edges: Sequence[NDArray[np.float64]], published: PublishedModel | None
    ) -> None:
        self.rows = 0
        self.k = k
        self.edges = list(edges)
        self.sizes = np.zeros(k, dtype=np.int64)
        self.bins = [np.zeros(len(e) + 1, dtype=np.int64) for e in self.edges]
        self.missing = np.zeros(len(self.edges), dtype=np.int64)
        old_k = len(published.segment_names) if published else 0
        self.moves = np.zeros((old_k, k), dtype=np.int64) if published else None

    def add(
        self, raw: NDArray[np.float64], labels: NDArray[np.int64], old: NDArray[np.int64] | None
    ) -> None:
        self.rows += len(raw)
        self.sizes += np.bincount(labels, minlength=self.k)
        for column, edges in enumerate(self.edges):
            values = raw[:, column]
            seen = values[~np.isnan(values)]
            self.missing[column] += len(values) - len(seen)
            where = np.searchsorted(edges, seen, side="left")
            self.bins[column] += np.bincount(where, minlength=len(edges) + 1)
        if self.moves is not None and old is not None:
            np.add.at(self.moves, (old, labels), 1)

    def counts(self) -> Counts:
        return Counts(self.rows, self.sizes, tuple(self.bins), self.missing, self.moves)


class FrameChunks:
    """Rows held in memory (raw values, NaN = missing) read as the whole base: numeric
    columns in schema order, a chunk of :data:`FRAME_CHUNK_ROWS` at a time."""

    def __init__(self, raw: NDArray[np.float64]) -> None:
        self._raw = raw

    @property
    def header(self) -> tuple[str, ...]:
        return FEATURE_NAMES

    @property
    def total_bytes(self) -> int | None:
        return None

    def sha256(self) -> str:
        raise NotImplementedError("rows in memory have no stored bytes")

    def chunks(self, positions: Sequence[int]) -> Iterator[RawChunk]:
        for start in range(0, max(len(self._raw), 1), FRAME_CHUNK_ROWS):
            part = self._raw[start : start + FRAME_CHUNK_ROWS]
            lines = np.arange(start + 2, start + 2 + len(part), dtype=np.int64)
            columns = {p: pa.array(part[:, p], from_pandas=True) for p in positions}
            yield RawChunk(lines, columns)
