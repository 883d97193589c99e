"""Reading uploaded files: nothing silently converted, nothing dropped."""

from __future__ import annotations

import pytest
from app_lib import batch  # frontend/ is on sys.path (tests/frontend/conftest.py)

FEATURES = [
    {"name": "BALANCE", "optional": False},
    {"name": "CREDIT_LIMIT", "optional": True},
    {"name": "TENURE", "optional": False},
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12.0),
        (" 1.5 ", 1.5),
        ("-5", -5.0),
        ("", None),
        ("NaN", None),
        ("null", None),
        ("abc", "abc"),  # sent as is: the API names the field and the bad value
        ("inf", "inf"),  # not a finite number: never sent as one
        ("1,000", "1,000"),
    ],
)
def test_cell_value_keeps_what_it_cannot_read(text: str, expected: object) -> None:
    assert batch.cell_value(text) == expected


def test_columns_are_checked_against_the_schema() -> None:
    check = batch.check_columns(["CUST_ID", "BALANCE", "EXTRA"], FEATURES, "CUST_ID")
    assert check.missing_required == ["TENURE"]
    assert check.missing_optional == ["CREDIT_LIMIT"]
    assert check.ignored == ["EXTRA"]
    assert not check.ok


def test_rows_become_requests_with_ids_and_nulls() -> None:
    frame = batch.read_csv(b"CUST_ID,BALANCE,TENURE,EXTRA\nC1,10.5,12,x\n,abc,,y\n")
    customers = batch.to_customers(frame, ["BALANCE", "CREDIT_LIMIT", "TENURE"], "CUST_ID")
    assert customers == [
        {"BALANCE": 10.5, "TENURE": 12.0, "CUST_ID": "C1"},
        {"BALANCE": "abc", "TENURE": None},
    ]


def test_byte_order_mark_does_not_hide_the_first_column() -> None:
    frame = batch.read_csv("\ufeffCUST_ID,BALANCE\nC1,1\n".encode())
    assert list(frame.columns) == ["CUST_ID", "BALANCE"]


def test_unreadable_file_is_a_clear_error() -> None:
    with pytest.raises(batch.UploadError, match="Cannot read the file as CSV"):
        batch.read_csv(b"")
    with pytest.raises(batch.UploadError, match="Cannot read the file as CSV"):
        batch.read_csv("BALANCE\n\xe9\n".encode("latin-1"))


def test_chunks_cover_every_row_once() -> None:
    items = list(range(2502))
    pieces = list(batch.chunks(items, 1000))
    assert [offset for offset, _ in pieces] == [0, 1000, 2000]
    assert [x for _, piece in pieces for x in piece] == items
