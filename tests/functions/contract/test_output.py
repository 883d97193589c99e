"""Spreadsheet-safe CSV output (OWASP CSV injection): text that would run as a formula."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from chalicelib.contract.row import (
    ERROR_COLUMNS,
    RESULT_COLUMNS,
    spreadsheet_safe,
    write_csv,
    write_safe_columns,
    write_safe_csv,
)
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://x","y")', "+1+cmd", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "=1"],
)
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["C10001", "BALANCE: is required", "", " =x", "a=b", None])
def test_other_text_and_empty_cells_are_left_alone(value: str | None) -> None:
    assert spreadsheet_safe(value) == value


@pytest.mark.parametrize("value", [-1.5, -3, 0, 2.25])
def test_numbers_are_written_as_numbers(value: float) -> None:
    assert spreadsheet_safe(value) == value
    assert write_csv([[value]]) == f"{value}\r\n"


def test_written_rows_read_back_with_the_quote_and_nothing_else_changed() -> None:
    rows: list[list[object]] = [
        ["row", "CUST_ID", "x"],
        [2, '=HYPERLINK("a","b")', -0.5],
        [3, None, "ok, fine"],
    ]
    back = list(csv.reader(io.StringIO(write_csv(rows), newline="")))
    assert back == [["row", "CUST_ID", "x"], ["2", "'=HYPERLINK(\"a\",\"b\")", "-0.5"],
                    ["3", "", "ok, fine"]]  # fmt: skip


def test_output_columns_start_with_the_file_row_and_the_id() -> None:
    assert RESULT_COLUMNS[:3] == ("row", "CUST_ID", "status")
    assert ERROR_COLUMNS == ("row", "CUST_ID", "field", "message")
    assert len(set(RESULT_COLUMNS)) == len(RESULT_COLUMNS) == 21


CELLS = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(alphabet=st.sampled_from("ab ,\"\r\n\t=;'é"), max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6).flatmap(lambda width: st.lists(
    st.lists(CELLS, min_size=width, max_size=width), max_size=12)))  # fmt: skip
def test_columns_are_written_as_the_csv_module_writes_their_rows(rows: list[list[Any]]) -> None:
    columns = [list(column) for column in zip(*rows, strict=True)]
    assert write_safe_columns(columns) == write_safe_csv(rows)
