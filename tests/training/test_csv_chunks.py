"""The chunked CSV reader gives exactly the row contract's records, on any text.

The contract's reader (``chalicelib.contract.row.read_csv`` over the decoded text) is the
reference; ``training.csv_chunks`` must give the same header, the same data rows with the
same numbers and cells, the same blank rows and the same file error, whatever the block
size (small blocks cut quoted cells, ``\\r\\n`` pairs and records anywhere).
"""

from __future__ import annotations

import gzip
import hashlib
import io
from typing import Any

import pytest
from chalicelib.contract.row import CsvError, read_csv, text_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.chunks import DataFileError
from training.csv_chunks import CsvChunks

Records = tuple[tuple[str, ...], list[tuple[int, Any]], list[int]]


def contract(data: bytes) -> Records | str:
    """What the row contract reads: header, (number, cells) per data row, blank rows."""
    try:
        header, records = read_csv(text_of(io.BytesIO(data)))
        rows: list[tuple[int, Any]] = []
        blank: list[int] = []
        for record in records:
            if record.blank:
                blank.append(record.number)
            else:
                cells = record.cells if len(record.cells) == len(header) else len(record.cells)
                rows.append((record.number, cells))
    except CsvError as exc:
        return exc.message
    return header, rows, blank


def chunked(data: bytes, block: int, *, compressed: bool = False) -> Records | str:
    """What the chunked reader reads, in the same shape (a ragged row: its cell count)."""
    stored = gzip.compress(data) if compressed else data
    try:
        reader = CsvChunks(lambda: io.BytesIO(stored), compressed=compressed, block_bytes=block)
        width = len(reader.header)
        rows: list[tuple[int, Any]] = []
        blank: list[int] = []
        for chunk in reader.chunks(range(width)):
            columns = [chunk.columns[i].to_pylist() for i in range(width)]
            whole = chunk.whole(width)
            for j, number in enumerate(chunk.lines.tolist()):
                if whole[j]:
                    rows.append((number, [columns[i][j] for i in range(width)]))
                else:
                    assert chunk.cell_counts is not None
                    rows.append((number, int(chunk.cell_counts[j])))
            blank += chunk.blank_lines
    except DataFileError as exc:
        return exc.message
    return reader.header, rows, blank


PLAIN_CELLS = st.sampled_from(["1", "2.5", "-0", "1e3", "", "NA", " 7 ", "abc", "x y", "\t"])
QUOTED_CELLS = st.sampled_from(['"1,000"', '"a\nb"', '"say ""hi"""', '""', '"\r\n"', 'a"b'])
ENDS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def csv_texts(draw: st.DrawFn) -> bytes:
    """A header of 3 columns and rows: plain, quoted, blank, ragged, any line ends."""
    cells = st.one_of(PLAIN_CELLS, QUOTED_CELLS) if draw(st.booleans()) else PLAIN_CELLS
    lines = ["a,b,c"]
    for _ in range(draw(st.integers(0, 40))):
        width = draw(st.sampled_from([3, 3, 3, 3, 0, 2, 4]))
        lines.append(",".join(draw(cells) for _ in range(width)))
    text = "".join(line + draw(ENDS) for line in lines)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no line end after the last row
    prefix = "\ufeff" if draw(st.booleans()) else ""
    return (prefix + text).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=csv_texts(), block=st.integers(1, 200))
def test_any_text_reads_as_the_contract_reads_it(data: bytes, block: int) -> None:
    assert chunked(data, block) == contract(data)


@settings(max_examples=50, deadline=None)
@given(data=csv_texts(), block=st.integers(1, 200))
def test_gzip_reads_as_the_plain_file(data: bytes, block: int) -> None:
    assert chunked(data, block, compressed=True) == contract(data)


def numbered_file(rows: int) -> bytes:
    return ("a,b,c\n" + "".join(f"{i},{i}.5,x{i}\n" for i in range(rows))).encode()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b"C\xe91", "is not UTF-8 text: invalid continuation byte"),
        (b"C\x001", "contains a NUL byte: not a CSV text file"),
    ],
    ids=["not-utf8", "nul"],
)
def test_a_bad_byte_deep_in_the_file_is_the_contracts_file_error(bad: bytes, message: str) -> None:
    data = numbered_file(5000).replace(b"x4000\n", bad + b"\n")
    assert contract(data) == message
    assert chunked(data, 4096) == message


def test_plain_blocks_take_the_fast_road_and_keep_row_numbers() -> None:
    data = numbered_file(20_000)
    reader = CsvChunks(lambda: io.BytesIO(data), block_bytes=16_384)
    chunks = list(reader.chunks([0]))
    assert len(chunks) > 10
    lines = [n for chunk in chunks for n in chunk.lines.tolist()]
    assert lines == list(range(2, 20_002))
    assert chunks[-1].bytes_read == len(data)


def test_sha256_is_the_stored_bytes() -> None:
    data = gzip.compress(numbered_file(100))
    reader = CsvChunks(lambda: io.BytesIO(data), compressed=True)
    expected = hashlib.sha256(data).hexdigest()
    assert reader.sha256() == expected  # before a read: hashed on demand
    list(reader.chunks([0]))
    assert reader.sha256() == expected  # after one: kept from it


def test_a_broken_gzip_file_is_a_file_error() -> None:
    truncated = gzip.compress(numbered_file(20_000))[:-100]
    reader = CsvChunks(lambda: io.BytesIO(truncated), compressed=True, block_bytes=4096)
    with pytest.raises(DataFileError, match="is not a readable gzip file"):
        list(reader.chunks([0]))
