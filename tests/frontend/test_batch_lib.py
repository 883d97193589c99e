"""Cutting an upload into pieces the API accepts, and joining its answers (no cell is read)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from app_lib import batch  # frontend/ is on sys.path (tests/frontend/conftest.py)
from app_lib.api import ApiError

TEXT = 'CUST_ID,BALANCE\r\nC1,1\r\n\r\n"C\n3"," 1,000 "\r\nC4,NA\r\nC5,abc\r\n'


def test_records_are_framed_not_read() -> None:
    upload = batch.split(("\ufeff" + TEXT).encode())
    assert upload.header == ["CUST_ID", "BALANCE"]
    assert upload.records == [["C1", "1"], [], ["C\n3", " 1,000 "], ["C4", "NA"], ["C5", "abc"]]


def test_pieces_keep_the_file_row_numbers_and_repeat_the_header() -> None:
    upload = batch.split(TEXT.encode())
    pieces = list(upload.pieces(2))
    assert [p.first_row for p in pieces] == [2, 4, 6]
    second = list(csv.reader(io.StringIO(pieces[1].body().decode(), newline="")))
    assert second == [["CUST_ID", "BALANCE"], ["C\n3", " 1,000 "], ["C4", "NA"]]


def echo(body: bytes, first_row: int) -> bytes:
    """Stands in for the API: a results table with one line per record of the piece."""
    records = list(csv.reader(io.StringIO(body.decode(), newline="")))[1:]
    lines = [f"{first_row + i},{len(r)}\r\n" for i, r in enumerate(records)]
    return ("row,cells\r\n" + "".join(lines)).encode()


def test_answers_are_joined_under_one_header() -> None:
    done: list[int] = []
    table = batch.score_all(batch.split(TEXT.encode()), 2, echo, done.append)
    assert table == b"row,cells\r\n2,2\r\n3,0\r\n4,2\r\n5,2\r\n6,2\r\n"
    assert done == [2, 4, 5]


def test_a_piece_over_the_byte_limit_is_halved() -> None:
    def limited(body: bytes, first_row: int) -> bytes:
        if body.count(b"\r\n") > 3:
            raise ApiError("too large", 413)
        return echo(body, first_row)

    table = batch.score_all(batch.split(TEXT.encode()), 5, limited, lambda _: None)
    assert table == b"row,cells\r\n2,2\r\n3,0\r\n4,2\r\n5,2\r\n6,2\r\n"


def test_a_refused_piece_stops_everything() -> None:
    def refuse(body: bytes, first_row: int) -> bytes:
        raise ApiError("The API answered 400", 400)

    with pytest.raises(ApiError):
        batch.score_all(batch.split(TEXT.encode()), 2, refuse, lambda _: None)


def test_what_is_not_csv_text_goes_to_the_api_whole() -> None:
    sent: list[bytes] = []

    def keep(body: bytes, first_row: int) -> bytes:
        sent.append(body)
        return b"x\r\n"

    for data in (b"", "BALANCE\n\xe9\n".encode("latin-1")):
        batch.score_all(batch.split(data), 2, keep, lambda _: None)
    assert sent == [b"", "BALANCE\n\xe9\n".encode("latin-1")]


def test_the_api_adds_up_the_tallies_a_request_at_a_time() -> None:
    """Stands in for ``POST /v1/drift/report``: numbers as tallies, their sum as the answer."""
    asked: list[list[int]] = []

    def ask(tallies: list[Any]) -> dict[str, Any]:
        asked.append(list(tallies))
        return {"tally": sum(tallies), "report": {"total": sum(tallies)}}

    assert batch.whole_file_report([1, 2, 3, 4, 5, 6, 7], ask, 3) == {"total": 28}  # type: ignore[list-item]
    assert asked == [[1, 2, 3], [6, 4, 5], [15, 6, 7]]  # each sum goes with the next ones
    asked.clear()
    assert batch.whole_file_report([1, 2], ask, 500) == {"total": 3}  # type: ignore[list-item]
    assert asked == [[1, 2]]
    with pytest.raises(ValueError):
        batch.whole_file_report([], ask, 500)
