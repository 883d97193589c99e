"""Validation of the analyst's CSV, on the real data set and on files broken from it.

Positions are file line numbers: the header is line 1, the first customer line 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.training.conftest import REAL_DATA
from training.schema import FEATURE_NAMES
from training.validation import Issue, ValidationResult, min_rows_for, validate, validate_file

HEADER = REAL_DATA.read_text().splitlines()[0].split(",")


def real_lines() -> list[list[str]]:
    """The real file as cells, header first (line n of the file is index n - 1)."""
    return [line.split(",") for line in REAL_DATA.read_text().splitlines()]


def set_cell(rows: list[list[str]], line: int, column: str, value: str) -> None:
    rows[line - 1][HEADER.index(column)] = value


def write(tmp_path: Path, rows: list[list[str]], name: str = "bad.csv") -> Path:
    path = tmp_path / name
    path.write_text("\r\n".join(",".join(r) for r in rows) + "\r\n")
    return path


def only_error(result: ValidationResult) -> Issue:
    assert result.frame is None
    errors = result.report.errors
    assert len(errors) == 1, result.report.format()
    return errors[0]


def test_real_data_passes_with_its_known_quirks_as_warnings() -> None:
    result = validate_file(REAL_DATA)
    report = result.report

    assert report.ok and report.rows == 8950
    warnings = {(w.column, w.count) for w in report.warnings}
    assert warnings == {
        ("CASH_ADVANCE_FREQUENCY", 8),
        ("PURCHASES", 19),
        ("MINIMUM_PAYMENTS", 2365),
    }
    notes = {(n.column, n.count) for n in report.notes}
    assert notes == {("MINIMUM_PAYMENTS", 313), ("CREDIT_LIMIT", 1)}
    assert next(n for n in report.notes if n.column == "CREDIT_LIMIT").lines == (5205,)

    frame = result.frame
    assert frame is not None
    assert list(frame.columns) == [*FEATURE_NAMES, "CUST_ID"]
    assert all(frame[name].dtype == np.float64 for name in FEATURE_NAMES)
    assert list(frame.index) == list(range(8950))
    assert frame["MINIMUM_PAYMENTS"].isna().sum() == 313
    assert frame.loc[0, "CUST_ID"] == "C10001"
    assert frame.loc[0, "BALANCE"] == pytest.approx(40.900749)


Edit = tuple[int, str, str]  # (file line, column, new cell text)


@pytest.mark.parametrize(
    ("edits", "column", "message", "count", "lines"),
    [
        ([(18, "BALANCE", "abc")], "BALANCE", "must be a number", 1, (18,)),
        (
            [(3, "PAYMENTS", "-5"), (10, "PAYMENTS", "-0.5")],
            "PAYMENTS",
            "must not be negative",
            2,
            (3, 10),
        ),
        ([(7, "PURCHASES", "inf")], "PURCHASES", "must be a number", 1, (7,)),
        ([(7, "PURCHASES", "1e13")], "PURCHASES", "is out of range", 1, (7,)),
        ([(9, "PURCHASES_TRX", "2.5")], "PURCHASES_TRX", "must be a whole number", 1, (9,)),
        ([(4, "PRC_FULL_PAYMENT", "1.5")], "PRC_FULL_PAYMENT", "must be at most 1", 1, (4,)),
        ([(30, "TENURE", "0")], "TENURE", "must be at least 1", 1, (30,)),
        ([(12, "BALANCE", "")], "BALANCE", "is required", 1, (12,)),
        ([(20, "CUST_ID", "C10009")], "CUST_ID", "duplicate customer id", 2, (10, 20)),
    ],
    ids=[
        "text",
        "negative",
        "inf",
        "huge",
        "fraction",
        "above-max",
        "below-min",
        "missing",
        "dup-id",
    ],
)
def test_each_bad_value_is_reported_with_column_lines_and_count(
    tmp_path: Path,
    edits: list[Edit],
    column: str,
    message: str,
    count: int,
    lines: tuple[int, ...],
) -> None:
    rows = real_lines()
    for line, name, value in edits:
        set_cell(rows, line, name, value)
    issue = only_error(validate_file(write(tmp_path, rows)))

    assert (issue.column, issue.count, issue.lines) == (column, count, lines)
    assert message in issue.message
    described = issue.describe()
    assert column in described and str(lines[0]) in described


def test_text_in_numeric_column_quotes_examples_and_elides_extra_lines(tmp_path: Path) -> None:
    rows = real_lines()
    for n in range(2, 10):
        set_cell(rows, n, "CREDIT_LIMIT", '"1,000"' if n % 2 else "n.a.")
    issue = only_error(validate_file(write(tmp_path, rows)))
    assert issue.count == 8 and issue.lines == (2, 3, 4, 5, 6)
    assert issue.examples == ("'n.a.'", "'1,000'")
    assert "..." in issue.describe()


def test_missing_column_is_named_and_extra_column_is_a_warning(tmp_path: Path) -> None:
    rows = [[c for i, c in enumerate(r) if i != HEADER.index("TENURE")] for r in real_lines()]
    issue = only_error(validate_file(write(tmp_path, rows)))
    assert (issue.column, issue.message) == ("TENURE", "required column is missing")

    extra = [[*r, "x" if i else "NOTES"] for i, r in enumerate(real_lines())]
    result = validate_file(write(tmp_path, extra, "extra.csv"))
    assert result.report.ok and result.frame is not None
    assert ("NOTES", "unknown column, ignored") in {
        (w.column, w.message) for w in result.report.warnings
    }
    assert "NOTES" not in result.frame.columns


def test_optional_missing_values_are_imputed_not_rejected(tmp_path: Path) -> None:
    rows = real_lines()
    set_cell(rows, 2, "CREDIT_LIMIT", "NA")
    result = validate_file(write(tmp_path, rows))
    assert result.report.ok and result.frame is not None
    note = next(n for n in result.report.notes if n.column == "CREDIT_LIMIT")
    assert note.count == 2 and note.lines == (2, 5205)
    assert np.isnan(result.frame["CREDIT_LIMIT"].to_numpy()[0])


def test_id_column_is_optional(tmp_path: Path) -> None:
    rows = [r[1:] for r in real_lines()]
    result = validate_file(write(tmp_path, rows))
    assert result.report.ok and result.frame is not None
    assert list(result.frame.columns) == list(FEATURE_NAMES)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (bytes(range(256)) * 40, "not UTF-8 text"),
        ((",".join(HEADER) + "\r\n").encode(), "no data rows"),
        (b"a,b\r\n1,2\r\n1,2,3\r\n", "has 3 fields, the header has 2"),
    ],
    ids=["empty", "binary", "header-only", "ragged"],
)
def test_unreadable_files_are_errors_not_crashes(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    result = validate_file(path)
    assert result.frame is None
    assert any(message in e.message for e in result.report.errors), result.report.format()


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "no such file" in only_error(validate_file(tmp_path / "nope.csv")).message
    assert "is a directory" in only_error(validate_file(tmp_path)).message


def test_too_few_rows(tmp_path: Path) -> None:
    issue = only_error(validate_file(write(tmp_path, real_lines()[:6])))
    assert issue.message == "too few rows to segment: 5, need at least 100"
    assert min_rows_for(20) == 200


def test_duplicate_header_column(tmp_path: Path) -> None:
    rows = real_lines()
    rows[0][HEADER.index("CUST_ID")] = "BALANCE"
    errors = validate_file(write(tmp_path, rows)).report.errors
    assert any(e.column == "BALANCE" and "2 times" in e.message for e in errors)


def test_blank_lines_are_reported_and_line_numbers_stay_true(tmp_path: Path) -> None:
    rows = real_lines()
    set_cell(rows, 40, "BALANCE", "oops")
    rows.insert(5, [""])  # a blank line becomes line 6; the bad cell moves to line 41
    result = validate_file(write(tmp_path, rows))
    assert only_error(result).lines == (41,)
    blank = next(w for w in result.report.warnings if w.message.startswith("empty row"))
    assert blank.lines == (6,) and result.report.rows == 8950


def test_validate_accepts_a_numeric_frame() -> None:
    frame = pd.read_csv(REAL_DATA)
    frame.loc[3, "CASH_ADVANCE_TRX"] = -1
    issue = only_error(validate(frame))
    assert (issue.column, issue.lines, issue.message) == (
        "CASH_ADVANCE_TRX",
        (5,),
        "must not be negative",
    )


def test_report_text_lists_errors_first_and_ends_with_summary(tmp_path: Path) -> None:
    rows = real_lines()
    set_cell(rows, 18, "BALANCE", "abc")
    text = validate_file(write(tmp_path, rows)).report.format().splitlines()
    assert text[0] == "error   BALANCE: must be a number: 1 row, line 18 ('abc')"
    assert text[-1] == "data INVALID: 8950 rows, 1 errors, 3 warnings, 2 notes"


def test_missing_ids_warn_and_spelled_out_gaps_in_required_columns_are_errors(
    tmp_path: Path,
) -> None:
    rows = real_lines()
    set_cell(rows, 3, "CUST_ID", "")
    set_cell(rows, 8, "TENURE", "null")
    result = validate_file(write(tmp_path, rows))
    issue = only_error(result)
    assert (issue.column, issue.lines, issue.message) == (
        "TENURE",
        (8,),
        "is required",
    )
    warning = next(w for w in result.report.warnings if w.column == "CUST_ID")
    assert (warning.message, warning.lines) == ("missing customer id", (3,))


def test_true_false_is_text_not_one_and_zero(tmp_path: Path) -> None:
    rows = real_lines()
    for n in range(2, len(rows) + 1):
        set_cell(rows, n, "PRC_FULL_PAYMENT", "True" if n % 2 else "False")
    issue = only_error(validate_file(write(tmp_path, rows)))
    assert (issue.column, issue.count, issue.examples) == (
        "PRC_FULL_PAYMENT",
        8950,
        ("'False'", "'True'"),
    )


def test_a_ragged_row_is_one_error_not_also_a_missing_id(tmp_path: Path) -> None:
    rows = real_lines()
    rows.insert(3, ["C99", "1", "2"])  # line 4
    result = validate_file(write(tmp_path, rows))
    issue = only_error(result)
    assert (issue.column, issue.message, issue.lines) == (
        "(row)",
        "has 3 fields, the header has 18",
        (4,),
    )
    assert not [w for w in result.report.warnings if w.column == "CUST_ID"]
    assert [(e.line, e.field) for e in result.report.row_errors] == [(4, "(row)")]
