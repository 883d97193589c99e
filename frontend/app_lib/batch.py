"""Sending an uploaded CSV to the API in pieces and putting the answers back together.

The page keeps no rules of its own about the file's content: the API reads every cell and
header with the product's row contract and answers its results table as CSV (the same
table the S3 batch function writes). This module only cuts a long file into pieces the
API accepts (at most ``max_batch`` rows each, header repeated, ``first_row`` telling the
API where the piece starts so row numbers stay those of the file) and joins the answers:
the results tables, and the drift tallies, which the API adds up into the file's drift
report (:func:`whole_file_report`; the page adds nothing itself).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from app_lib.api import ApiError

FIRST_ROW = 2  # the header is row 1 of the file
PAYLOAD_TOO_LARGE = 413

# Column names of the API's results table that the page reads (docs/api.md).
STATUS, SEGMENT, SCORED = "status", "segment_name", "scored"


@dataclass(frozen=True)
class Piece:
    """A run of the file's records, sent with the header; ``first_row`` is its first row."""

    first_row: int
    header: list[str]
    records: list[list[str]]

    def body(self) -> bytes:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(self.header)
        writer.writerows(self.records)
        return buffer.getvalue().encode("utf-8")

    def halves(self) -> list[Piece]:
        middle = len(self.records) // 2
        return [
            Piece(self.first_row, self.header, self.records[:middle]),
            Piece(self.first_row + middle, self.header, self.records[middle:]),
        ]


@dataclass(frozen=True)
class Upload:
    """An uploaded file cut into records, or (``raw``) left whole when it is not CSV text."""

    header: list[str]
    records: list[list[str]]
    raw: bytes | None = None

    @property
    def size(self) -> int:
        """Records after the header (blank lines included: the API skips those)."""
        return len(self.records)

    def pieces(self, size: int) -> Iterator[Piece]:
        for start in range(0, len(self.records), size):
            yield Piece(FIRST_ROW + start, self.header, self.records[start : start + size])


def split(data: bytes) -> Upload:
    """The file's records (CSV framing only: no cell is read here).

    A file that is not UTF-8 CSV text is kept whole, for the API to say what is wrong.
    """
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        return Upload([], [], raw=data)
    if not rows:
        return Upload([], [], raw=data)
    return Upload(rows[0], rows[1:])


ScoreCsv = Callable[[bytes, int], bytes]


def _answer(piece: Piece, score_csv: ScoreCsv) -> list[bytes]:
    """The results table of ``piece`` (header line first); halves it past the byte limit."""
    try:
        return [score_csv(piece.body(), piece.first_row)]
    except ApiError as error:
        if error.status != PAYLOAD_TOO_LARGE or len(piece.records) < 2:
            raise
    return [table for half in piece.halves() for table in _answer(half, score_csv)]


def score_all(
    upload: Upload, size: int, score_csv: ScoreCsv, on_progress: Callable[[int], None]
) -> bytes:
    """The whole file's results table: the API's answers joined, one header line.

    Any piece the API refuses stops everything (``ApiError``): a results table is whole or
    not given at all, as for the S3 batch files.
    """
    if upload.raw is not None:  # not CSV text: let the API say why, in its words
        return score_csv(upload.raw, FIRST_ROW)
    if not upload.records:  # header only (the API says so)
        return score_csv(Piece(FIRST_ROW, upload.header, []).body(), FIRST_ROW)
    tables: list[bytes] = []
    done = 0
    for piece in upload.pieces(size):
        tables += _answer(piece, score_csv)
        done += len(piece.records)
        on_progress(done)
    head, _, first = tables[0].partition(b"\n")
    return head + b"\n" + first + b"".join(t.partition(b"\n")[2] for t in tables[1:])


AskReport = Callable[[list[dict[str, Any]]], dict[str, Any]]


def whole_file_report(
    tallies: list[dict[str, Any]], ask: AskReport, per_request: int
) -> dict[str, Any]:
    """The drift report of the whole file from its pieces' tallies.

    ``ask`` is ``POST /v1/drift/report``, which adds tallies up and answers their sum as a
    tally too: past ``per_request`` tallies (the API's ``max_tallies``), the sum so far goes
    with the next ones, so a file of any number of pieces is added up by the API alone.
    """
    if not tallies or per_request < 2:
        raise ValueError("at least one tally, and room for two per request")
    answer = ask(tallies[:per_request])
    rest = tallies[per_request:]
    while rest:
        answer = ask([answer["tally"], *rest[: per_request - 1]])
        rest = rest[per_request - 1 :]
    report: dict[str, Any] = answer["report"]
    return report


def read_results(table: bytes) -> pd.DataFrame:
    """The results table for display: every cell as the API wrote it (text)."""
    return pd.read_csv(io.BytesIO(table), dtype=str, keep_default_na=False)


def segment_counts(results: pd.DataFrame) -> pd.DataFrame:
    """Rows per segment among the scored rows."""
    scored = results[results[STATUS] == SCORED]
    counts = scored.groupby(SEGMENT).size().reset_index(name="rows")
    return counts.sort_values("rows", ascending=False, ignore_index=True)
