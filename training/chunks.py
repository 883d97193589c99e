"""One reader interface for every kind of training file: a header, then chunks of rows.

Validation, sampling and the whole-base count never see a file format. A reader
(:mod:`training.csv_chunks` for plain or gzip CSV, :mod:`training.parquet_chunks` for
Parquet, :class:`TableChunks` for rows already in memory) turns its input into
:class:`RawChunk` objects: a run of consecutive records, their row numbers and one Arrow
array of cells per header column. Text cells stay text (validation parses them with the
row contract's cell syntax), typed Parquet columns stay typed (validation checks their
values with the contract's value rules).

A reader can be read more than once (:meth:`ChunkReader.chunks`): training reads its file
twice, once to validate and sample it, once to score every row with the exported graph.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
from chalicelib.contract.row import FIRST_DATA_ROW
from numpy.typing import NDArray

from training.data import DataFileError

__all__ = ["ChunkReader", "DataFileError", "RawChunk", "TableChunks", "text_chunk"]


@dataclass(frozen=True)
class RawChunk:
    """Consecutive records of the input, blank ones counted apart.

    ``lines`` holds the row number of each data row (the header is row 1, as a spreadsheet
    numbers a CSV file); ``columns[i]`` the cells of header column ``i`` for those rows
    (only the columns the reader was asked for). ``cell_counts`` is each row's number of
    cells when some row has another number than the header (a ragged CSV row: its cells
    are placeholders), else None. ``bytes_read`` is how far into the input this chunk ends,
    for progress.
    """

    lines: NDArray[np.int64]
    columns: dict[int, pa.Array]
    blank_lines: tuple[int, ...] = ()
    cell_counts: NDArray[np.int64] | None = None
    bytes_read: int = 0

    def __len__(self) -> int:
        return len(self.lines)

    def whole(self, width: int) -> NDArray[np.bool_]:
        """Which rows have as many cells as the header (every row, outside CSV)."""
        if self.cell_counts is None:
            return np.ones(len(self.lines), dtype=bool)
        return np.asarray(self.cell_counts == width, dtype=bool)


class ChunkReader(Protocol):
    """A table that can be read, chunk by chunk, as often as needed."""

    @property
    def header(self) -> tuple[str, ...]:
        """The column names as written (read when the reader is opened)."""
        ...

    @property
    def total_bytes(self) -> int | None:
        """The input's size in bytes, for progress (None when unknown)."""
        ...

    def sha256(self) -> str:
        """Hex sha256 of the stored bytes (after a complete read, for a file read anyway)."""
        ...

    def chunks(self, positions: Sequence[int]) -> Iterator[RawChunk]:
        """Every record from the first data row on; ``positions`` are the header columns
        whose cells the chunks must carry."""
        ...


class TableChunks:
    """Rows already in memory (text cells, as a CSV file of them would hold) as one chunk.

    ``rows`` are the non-blank data rows, ``lines`` their row numbers; a row may have
    another number of cells than the header (it is then reported as ragged).
    """

    def __init__(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        lines: Sequence[int] | NDArray[np.int64] | None = None,
        blank_lines: Sequence[int] = (),
    ) -> None:
        self._header = tuple(header)
        self._rows = rows
        first = FIRST_DATA_ROW
        self._lines = np.asarray(
            range(first, first + len(rows)) if lines is None else lines, dtype=np.int64
        )
        self._blank = tuple(int(n) for n in blank_lines)

    @property
    def header(self) -> tuple[str, ...]:
        return self._header

    @property
    def total_bytes(self) -> int | None:
        return None

    def sha256(self) -> str:
        """The rows' identity: sha256 of their cells as CSV text."""
        digest = hashlib.sha256(",".join(self._header).encode())
        for row in self._rows:
            digest.update(("\n" + ",".join(row)).encode())
        return digest.hexdigest()

    def chunks(self, positions: Sequence[int]) -> Iterator[RawChunk]:
        yield text_chunk(self._rows, self._lines, len(self._header), positions, self._blank)


def text_chunk(
    rows: Sequence[Sequence[str]],
    lines: NDArray[np.int64],
    width: int,
    positions: Sequence[int],
    blank_lines: tuple[int, ...] = (),
    bytes_read: int = 0,
) -> RawChunk:
    """A chunk of text rows: one string array per wanted column; a ragged row's cells are
    empty placeholders and its real cell count is kept in ``cell_counts``."""
    counts = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    ragged = bool((counts != width).any())
    placeholder = ("",) * width
    whole = [r if len(r) == width else placeholder for r in rows] if ragged else rows
    by_column = list(zip(*whole, strict=True)) if len(whole) else [()] * width
    columns = {p: pa.array(by_column[p], type=pa.string()) for p in positions}
    return RawChunk(
        lines=lines,
        columns=columns,
        blank_lines=blank_lines,
        cell_counts=counts if ragged else None,
        bytes_read=bytes_read,
    )
