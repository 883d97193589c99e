"""A Parquet file as chunks of rows, for the same validation as a CSV file.

The header is the schema's column names. A text column's cells are read as CSV cells are
(the contract's cell syntax: ``"12"`` is a number, ``"NA"`` is missing); a numeric
column's values are numbers already (a null is missing, as an empty CSV cell is; NaN
and infinities are refused by the contract's value rules, which is what they would be
as JSON); decimals are read as floats; other types (dates, booleans) are not numbers.
A Parquet file has no blank or ragged rows. Rows are numbered as if the file were a CSV
with a header line: the first row is row 2, so a message's row number means the same
for either format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from chalicelib.contract.row import FIRST_DATA_ROW

from training.chunks import DataFileError, RawChunk
from training.data import stream_sha256

PARQUET_MAGIC = b"PAR1"
BATCH_ROWS = 65_536

Opener = Callable[[], IO[bytes]]


class ParquetChunks:
    """A Parquet file as :class:`RawChunk` objects.

    ``random_opener`` returns a fresh seekable binary stream (Parquet's footer is at the
    end); ``opener`` a sequential one, for the sha256 of the stored bytes.
    """

    def __init__(
        self,
        random_opener: Opener,
        opener: Opener,
        *,
        total_bytes: int | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._random_opener = random_opener
        self._opener = opener
        self._total = total_bytes
        self._batch_rows = batch_rows
        with self._random_opener() as stream:
            schema = self._parquet(stream).schema_arrow
        self._header = tuple(schema.names)

    @property
    def header(self) -> tuple[str, ...]:
        return self._header

    @property
    def total_bytes(self) -> int | None:
        return self._total

    def sha256(self) -> str:
        with self._opener() as stream:
            return stream_sha256(stream)

    @staticmethod
    def _parquet(stream: IO[bytes]) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(stream)
        except (pa.ArrowException, OSError) as exc:
            raise DataFileError(f"is not a readable Parquet file: {exc}") from exc

    def chunks(self, positions: Sequence[int]) -> Iterator[RawChunk]:
        with self._random_opener() as stream:
            parquet = self._parquet(stream)
            total_rows = max(parquet.metadata.num_rows, 1)
            first = FIRST_DATA_ROW
            try:
                for columns, rows in self._batches(parquet, sorted(set(positions))):
                    lines = np.arange(first, first + rows, dtype=np.int64)
                    first += rows
                    done = (first - FIRST_DATA_ROW) / total_rows
                    yield RawChunk(lines, columns, bytes_read=int(done * (self._total or 0)))
            except (pa.ArrowException, OSError) as exc:
                raise DataFileError(f"is not a readable Parquet file: {exc}") from exc

    def _batches(
        self, parquet: pq.ParquetFile, wanted: list[int]
    ) -> Iterator[tuple[dict[int, pa.Array], int]]:
        """The wanted columns (by header position), a batch at a time, and its row count."""
        if not wanted:  # nothing to check (a bad header): the rows are only counted
            for group in range(parquet.num_row_groups):
                yield {}, parquet.metadata.row_group(group).num_rows
            return
        unique = len(set(self._header)) == len(self._header)
        names = [self._header[p] for p in wanted] if unique else None
        for batch in parquet.iter_batches(
            batch_size=self._batch_rows, columns=names, use_threads=False
        ):
            picked = range(len(wanted)) if unique else wanted
            columns = {p: _cells(batch.column(i)) for p, i in zip(wanted, picked, strict=True)}
            yield columns, batch.num_rows


def _cells(cells: pa.Array) -> pa.Array:
    """A Parquet column as validation takes it: dictionaries decoded, decimals as floats."""
    if pa.types.is_dictionary(cells.type):
        cells = cells.dictionary_decode()
    if pa.types.is_decimal(cells.type):
        cells = cells.cast(pa.float64())
    return cells


def is_parquet(head: bytes) -> bool:
    """Whether stored bytes starting with ``head`` are a Parquet file."""
    return head.startswith(PARQUET_MAGIC)
