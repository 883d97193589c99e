"""A CSV file (plain or gzip) as chunks of rows, read exactly as the row contract reads it.

The contract's reader (``chalicelib.contract.row.read_csv``: UTF-8 with or without a
byte-order mark, any line ending, quoted cells, NUL bytes refused, rows numbered as a
spreadsheet numbers them) is the definition. It runs in Python at about 150,000 rows a
second, which would make reading a whole card base the slow part of training, so most
of the file takes a faster road that gives the same records:

- The file is cut into blocks of about :data:`BLOCK_BYTES` that end at a line break.
- A block with no quote character and no NUL byte, in valid UTF-8, is a run of
  complete records, one per line: Arrow's C++ CSV parser splits it into cells (every
  cell kept as text). The records must come out one per line with the header's number of
  cells; a block where they do not (a ragged row, a line of spaces) is read again by
  the contract's reader. A row whose every cell is empty or spaces is blank, as
  :attr:`chalicelib.contract.row.CsvRow.blank` says.
- Every other block (quotes, NUL bytes, bad UTF-8) and the first block (the header) go
  through the contract's reader itself. A quoted cell may hold a line break, so a block
  read this way may end inside a record: its last record is read again with the next
  block, and only the records before it are kept.

``tests/training/test_csv_chunks.py`` checks, on generated files, that both roads give the
contract's records, numbers and errors.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import IO, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from chalicelib.contract.row import CsvError, CsvRow, decode, read_csv

from training.chunks import DataFileError, RawChunk, text_chunk
from training.data import stream_sha256

BLOCK_BYTES = 8 << 20
"""Bytes per block: large enough that Arrow's per-call cost vanishes, small enough that a
block's cells (a few times its size as Arrow arrays) stay small."""
FIRST_BLOCK_BYTES = 1 << 16
"""The first block holds the header and goes through the contract's reader: keep it small."""
GZIP_MAGIC = b"\x1f\x8b"

_BLANK_CELL = r"^[ \t]*$"
_DUMMY_HEADER = "h\n"  # lets the contract's reader number a later block's records


Opener = Callable[[], IO[bytes]]


class CountingReader(io.RawIOBase):
    """A binary stream that counts (for progress) and hashes (the file's identity) the
    stored bytes read from it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.count = 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        self.digest.update(data)
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


class CsvChunks:
    """A CSV file as :class:`RawChunk` objects; the header is read when it is opened.

    ``opener`` returns a fresh binary stream of the stored bytes each time it is called
    (a local file, an S3 object); ``compressed`` says they are gzip.
    """

    def __init__(
        self,
        opener: Opener,
        *,
        compressed: bool = False,
        total_bytes: int | None = None,
        block_bytes: int = BLOCK_BYTES,
    ) -> None:
        self._opener = opener
        self._compressed = compressed
        self._total = total_bytes
        self._block = block_bytes
        self._first = min(block_bytes, FIRST_BLOCK_BYTES)
        self._sha256: str | None = None
        self._header = self._read_header()

    @property
    def header(self) -> tuple[str, ...]:
        return self._header

    @property
    def total_bytes(self) -> int | None:
        return self._total

    def sha256(self) -> str:
        """The stored bytes' sha256: kept from the last complete read, else read now."""
        if self._sha256 is None:
            with self._opener() as stream:
                self._sha256 = stream_sha256(stream)
        return self._sha256

    def _read_header(self) -> tuple[str, ...]:
        try:
            with self._open() as (blocks, _):
                header, _, _ = _first_block(blocks, (), self._first)
        except CsvError as exc:
            raise DataFileError(exc.message) from exc
        return header

    def _open(self) -> _Opened:
        return _Opened(self._opener, self._compressed)

    def chunks(self, positions: Sequence[int]) -> Iterator[RawChunk]:
        try:
            yield from self._chunks(positions)
        except CsvError as exc:
            raise DataFileError(exc.message) from exc

    def _chunks(self, positions: Sequence[int]) -> Iterator[RawChunk]:
        with self._open() as (blocks, counter):
            header, chunk, next_row = _first_block(blocks, positions, self._first)
            yield _with_bytes(chunk, counter.count)
            names = [f"c{i}" for i in range(len(header))]
            size = self._block
            while (taken := blocks.take(size)) is not None:
                block, final = taken
                fast = _fast_chunk(block, next_row, names, positions)
                if fast is None:
                    chunk, tail = _contract_chunk(block, next_row, len(header), positions, final)
                    blocks.push_back(tail)
                else:
                    chunk = fast
                if not len(chunk) and not chunk.blank_lines:
                    size = 2 * max(size, len(block))  # a record longer than the block: read more
                    continue
                size = self._block
                next_row = _last_row(chunk) + 1
                yield _with_bytes(chunk, counter.count)
            self._sha256 = counter.digest.hexdigest()


class _Opened:
    """The input opened for one read: blocks of decompressed bytes and a byte counter."""

    def __init__(self, opener: Opener, compressed: bool) -> None:
        self._opener, self._compressed = opener, compressed

    def __enter__(self) -> tuple[_Blocks, CountingReader]:
        self._raw = CountingReader(self._opener())
        stream = cast(IO[bytes], self._raw)
        if self._compressed:
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=stream, mode="rb"))
        return _Blocks(stream, self._compressed), self._raw

    def __exit__(self, *exc: object) -> None:
        self._raw.close()


class _Blocks:
    """The decompressed bytes cut at line breaks, with room to put back an unread tail."""

    def __init__(self, stream: IO[bytes], compressed: bool) -> None:
        self._stream = stream
        self._compressed = compressed
        self._pending = b""
        self._eof = False

    def take(self, size: int) -> tuple[bytes, bool] | None:
        """At least ``size`` bytes ending at a line break, or the rest of the input:
        ``(block, final)``; None at the end."""
        while True:
            self._fill(size)
            if self._eof:
                block, self._pending = self._pending, b""
                return (block, True) if block else None
            cut = _last_break(self._pending)
            if cut is not None:
                block, self._pending = self._pending[:cut], self._pending[cut:]
                return block, False
            size = len(self._pending) * 2  # one line longer than the block: read more

    def push_back(self, tail: bytes) -> None:
        self._pending = tail + self._pending

    def _fill(self, size: int) -> None:
        parts = [self._pending]
        have = len(self._pending)
        while not self._eof and have < size:
            try:
                data = self._stream.read(size - have)
            except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
                if not self._compressed:
                    raise
                raise DataFileError(f"is not a readable gzip file: {exc}") from exc
            if not data:
                self._eof = True
            parts.append(data)
            have += len(data)
        self._pending = b"".join(parts)


def _last_break(data: bytes) -> int | None:
    """Just after the last line break of ``data`` that surely ends a line (a ``\\r`` at the
    very end may be the first half of ``\\r\\n``), or None."""
    newline = data.rfind(b"\n")
    carriage = data.rfind(b"\r", 0, len(data) - 1)  # a \r before another byte: not \r\n's half
    last = max(newline, carriage)
    return last + 1 if last >= 0 else None


def _first_block(
    blocks: _Blocks, positions: Sequence[int], size: int
) -> tuple[tuple[str, ...], RawChunk, int]:
    """The header and the records of the first block (read by the contract's reader)."""
    while True:
        taken = blocks.take(size)
        block, final = taken if taken is not None else (b"", True)
        text = _decoded(block, first=True)
        lines = _Lines(text)
        header, records = read_csv(lines)
        start = lines.chars
        rows, consumed = _complete(records, lines, start, final)
        if rows or final:
            break
        blocks.push_back(block)
        size *= 2
    blocks.push_back(text[consumed:].encode("utf-8"))
    chunk = _rows_chunk(rows, len(header), positions)
    return header, chunk, (rows[-1].number + 1 if rows else 2)


def _contract_chunk(
    block: bytes, first_row: int, width: int, positions: Sequence[int], final: bool
) -> tuple[RawChunk, bytes]:
    """A block read by the contract's reader; returns the chunk and the unread tail."""
    text = _decoded(block, first=False)
    lines = _Lines(text)
    _, records = read_csv(itertools.chain([_DUMMY_HEADER], lines), first_row)
    rows, consumed = _complete(records, lines, 0, final)
    if not rows and not final:
        return _rows_chunk([], width, positions), block  # a record longer than the block
    return _rows_chunk(rows, width, positions), text[consumed:].encode("utf-8")


def _complete(
    records: Iterator[CsvRow], lines: _Lines, start: int, final: bool
) -> tuple[list[CsvRow], int]:
    """The records surely complete, and how many characters they span.

    The last record of a block that is not the last may continue in the next block (a
    quoted cell holding a line break): it is dropped, to be read again with what follows.
    """
    rows: list[CsvRow] = []
    ends: list[int] = []
    for record in records:
        rows.append(record)
        ends.append(lines.chars)
    if final or not rows:
        return rows, (ends[-1] if ends else start)
    return rows[:-1], (ends[-2] if len(ends) > 1 else start)


class _Lines:
    """The lines of a text (line ends kept, split as a file opened with ``newline=""``
    splits them), counting the characters handed out so far."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.chars = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.chars += len(line)
        return line


def _decoded(block: bytes, *, first: bool) -> str:
    """The block as text; the contract's :func:`decode` words the error (and drops the
    byte-order mark, which only the first block may start with)."""
    if first:
        try:
            return decode(block)
        except CsvError as exc:
            raise DataFileError(exc.message) from exc
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        try:
            decode(block)
        except CsvError as exc:
            raise DataFileError(exc.message) from exc
        raise  # unreachable: the same bytes fail the same way


def _rows_chunk(rows: list[CsvRow], width: int, positions: Sequence[int]) -> RawChunk:
    data = [r for r in rows if not r.blank]
    lines = np.fromiter((r.number for r in data), dtype=np.int64, count=len(data))
    blank = tuple(r.number for r in rows if r.blank)
    return text_chunk([r.cells for r in data], lines, width, positions, blank)


def _fast_chunk(
    block: bytes, first_row: int, names: list[str], positions: Sequence[int]
) -> RawChunk | None:
    """The block split by Arrow, when it is plain enough to give the contract's records
    (see the module docstring); None when it is not."""
    if b'"' in block or b"\x00" in block or len(names) < 2:
        return None
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        table = pcsv.read_csv(
            io.BytesIO(block),
            read_options=pcsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pcsv.ParseOptions(
                ignore_empty_lines=False, invalid_row_handler=lambda _: "error"
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    if table.num_rows != _count_records(block):
        return None
    return _table_chunk(table, first_row, positions)


def _count_records(block: bytes) -> int:
    """Lines of a quote-free block, as ``newline=""`` reading splits them."""
    breaks = block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
    return breaks + (1 if block and block[-1:] not in (b"\n", b"\r") else 0)


def _table_chunk(table: pa.Table, first_row: int, positions: Sequence[int]) -> RawChunk:
    lines = np.arange(first_row, first_row + table.num_rows, dtype=np.int64)
    blank = np.ones(table.num_rows, dtype=bool)
    for column in table.columns:
        if not blank.any():
            break
        empty = pc.match_substring_regex(column, _BLANK_CELL)
        blank &= np.asarray(empty.to_numpy(zero_copy_only=False), dtype=bool)
    keep = ~blank
    columns = {p: table.column(p).combine_chunks() for p in positions}
    if blank.any():
        mask = pa.array(keep)
        columns = {p: pc.filter(cells, mask) for p, cells in columns.items()}
    return RawChunk(lines[keep], columns, tuple(int(n) for n in lines[blank]))


def _last_row(chunk: RawChunk) -> int:
    last = int(chunk.lines[-1]) if len(chunk) else 0
    return max([last, *chunk.blank_lines])


def _with_bytes(chunk: RawChunk, count: int) -> RawChunk:
    return RawChunk(chunk.lines, chunk.columns, chunk.blank_lines, chunk.cell_counts, count)


def is_gzip(head: bytes) -> bool:
    """Whether stored bytes starting with ``head`` are gzip-compressed."""
    return head.startswith(GZIP_MAGIC)
