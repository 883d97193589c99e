"""The row contract's conformance table, run through every way a row comes in.

One table of tricky cells (:data:`CELLS`) and of tricky headers and files (:data:`FILES`)
says what the product does with each: accepted (and as which number), missing (imputed
where the column is optional, "is required" where not), or rejected with which message.
The same table goes through training validation, ``POST /v1/segment`` (JSON, where the
case has a JSON spelling), ``POST /v1/segment/batch`` with a CSV body, and the S3 batch
function; every path must give exactly the table's answer, row by row, word for word.

The cell cases share one file (one row per case, file row = position + 2) so that each
path reads it once; the header and file cases are one file each.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from tests.functions.conftest import post_json
from training.validation import validate_file

from chalicelib.batch import files as batch_files  # isort: skip
from chalicelib import composition  # isort: skip

DATA = Path(__file__).resolve().parents[2] / "data" / "CC_GENERAL.csv"
HEADER, BASE = (line.split(",") for line in DATA.read_text().splitlines()[:2])
BATCH_BUCKET = "cc-batch-conformance"
NO_JSON = object()  # the case has no JSON spelling (a CSV-only matter)

Errors = tuple[tuple[str, str], ...]
Expected = float | None | Errors  # accepted as this number | missing (imputed) | rejected


def nan_(message: str, field: str = "BALANCE") -> Errors:
    return ((field, message),)


REQUIRED = nan_("is required")


@dataclass(frozen=True)
class Cell:
    """A cell as written in the file (quotes included), in ``column`` of an otherwise
    valid real row, and what every path must make of it."""

    name: str
    text: str
    expect: Expected
    column: str = "BALANCE"
    json: Any = NO_JSON


def _text(text: str) -> Errors:
    return nan_(f"must be a number, got {text!r}")


CELLS: tuple[Cell, ...] = (
    # missing values: spelled any way, in any letter case, with spaces around
    Cell("empty", "", REQUIRED, json=None),
    Cell("spaces", "   ", REQUIRED, json=None),
    Cell("NA", "NA", REQUIRED, json=None),
    Cell("na", "na", REQUIRED),
    Cell("Na", "Na", REQUIRED),
    Cell("null", "null", REQUIRED),
    Cell("NULL", "NULL", REQUIRED),
    Cell("None", "None", REQUIRED),
    Cell("NONE", "NONE", REQUIRED),
    Cell("none", "none", REQUIRED),
    Cell("N/A", "N/A", REQUIRED),
    Cell("nan", "nan", REQUIRED),
    Cell("NaN", "NaN", REQUIRED),
    Cell("spaced NA", "  NA\t", REQUIRED),
    Cell("quoted empty", '""', REQUIRED),
    Cell("optional empty", "", None, "MINIMUM_PAYMENTS", json=None),
    Cell("optional NULL", "NULL", None, "MINIMUM_PAYMENTS"),
    Cell("optional n/a", " n/a ", None, "MINIMUM_PAYMENTS"),
    Cell("optional None", "None", None, "CREDIT_LIMIT"),
    # numbers: ASCII decimal and exponent, sign, spaces around, quotes
    Cell("exponent", "1e3", 1000.0, json=1000.0),
    Cell("upper exponent", "2.5E-1", 0.25, json=0.25),
    Cell("leading point", ".5", 0.5, json=0.5),
    Cell("trailing point", "5.", 5.0, json=5.0),
    Cell("plus sign", "+5", 5.0, json=5.0),
    Cell("minus zero", "-0", 0.0, json=-0.0),
    Cell("quoted number", '"5"', 5.0, json=5.0),
    Cell("quoted spaced", '" 5 "', 5.0, json=5.0),
    Cell("spaces around", "  7.25 ", 7.25, json=7.25),
    Cell("tabs around", "\t8\t", 8.0, json=8.0),
    Cell("whole float", "12.0", 12.0, "TENURE", json=12.0),
    Cell("count exponent", "1e2", 100.0, "PURCHASES_TRX", json=100),
    # not numbers: every one quoted back
    Cell("underscore", "1_000", _text("1_000"), json="1_000"),
    Cell("thousands", '"1,000.50"', _text("1,000.50"), json="1,000.50"),
    Cell("space thousands", "1 000", _text("1 000"), json="1 000"),
    Cell("hex", "0x10", _text("0x10"), json="0x10"),
    Cell("inf", "inf", _text("inf"), json="inf"),
    Cell("-inf", "-inf", _text("-inf")),
    Cell("Infinity", "Infinity", _text("Infinity")),
    Cell("arabic-indic", "١٢٣", _text("١٢٣"), json="١٢٣"),
    Cell("full-width", "１２３", _text("１２３"), json="１２３"),
    Cell("no-break space", "\u00a05", _text("\u00a05"), json="\u00a05"),
    Cell("currency", "$100", _text("$100"), json="$100"),
    Cell("two points", "1.2.3", _text("1.2.3")),
    Cell("bare exponent", "e5", _text("e5")),
    Cell("double sign", "--5", _text("--5")),
    Cell("word", "abc", _text("abc"), json="abc"),
    Cell("boolean", "True", _text("True"), json="True"),
    Cell("quoted spaced text", '" abc "', _text("abc"), json="abc"),
    # numbers the value rules refuse: one wording everywhere
    Cell("negative", "-5", nan_("must not be negative, got -5"), json=-5),
    Cell("above the ceiling", "1e13", nan_("is out of range: magnitude above 1e+12"), json=1e13),
    Cell("overflow", "1e400", nan_("is out of range: magnitude above 1e+12")),
    Cell(
        "fraction of a count",
        "11.5",
        nan_("must be a whole number, got 11.5", "TENURE"),
        "TENURE",
        json=11.5,
    ),
    Cell("below min", "0", nan_("must be at least 1, got 0", "TENURE"), "TENURE", json=0),
    Cell(
        "above max",
        "1.0000001",
        nan_("must be at most 1, got 1.0000001", "PRC_FULL_PAYMENT"),
        "PRC_FULL_PAYMENT",
        json=1.0000001,
    ),
    # the id column
    Cell("long id", "K" * 129, nan_("must be at most 128 characters", "CUST_ID"), "CUST_ID"),
    Cell("formula id", '"=HYPERLINK(""http://x"",""y"")"', 40.900749, "CUST_ID"),
)
"""Cell cases. For ``CUST_ID`` cases an accepted ``expect`` is BALANCE's (unchanged) value."""

RAGGED: dict[str, tuple[list[str], Errors]] = {
    "ragged long": ([*BASE, "surplus"], (("(row)", "has 19 fields, the header has 18"),)),
    "ragged short": (BASE[:-1], (("(row)", "has 17 fields, the header has 18"),)),
}


def _row(n: int, cell: Cell) -> str:
    cells = list(BASE)
    cells[HEADER.index("CUST_ID")] = f"K{n}"
    cells[HEADER.index(cell.column)] = cell.text
    return ",".join(cells)


def cell_file() -> tuple[bytes, dict[int, str]]:
    """Every cell case as a row, the ragged rows and a blank line; file row -> case name."""
    lines = [",".join(HEADER)]
    names: dict[int, str] = {}
    for n, cell in enumerate(CELLS):
        lines.append(_row(n, cell))
        names[len(lines)] = cell.name
    lines.append("")  # a blank line: skipped by every path, but counted
    for name, (cells, _) in RAGGED.items():
        lines.append(",".join(cells))
        names[len(lines)] = name
    return ("\r\n".join(lines) + "\r\n").encode(), names


def expected_outcomes() -> dict[str, Any]:
    """What every path must answer, per case: ``("ok", imputed?)`` or ``("errors", ...)``."""
    out: dict[str, Any] = {}
    for cell in CELLS:
        if isinstance(cell.expect, tuple):
            out[cell.name] = ("errors", cell.expect)
        else:
            out[cell.name] = ("ok", cell.expect is None)
    for name, (_, errors) in RAGGED.items():
        out[name] = ("errors", errors)
    return out


# --- the paths ------------------------------------------------------------------------------


def through_training(tmp_path: Path, data: bytes, names: dict[int, str]) -> dict[str, Any]:
    path = tmp_path / "cells.csv"
    path.write_bytes(data)
    report = validate_file(path, min_rows=1).report
    out: dict[str, Any] = {}
    for line, name in names.items():
        errors = tuple((e.field, e.message) for e in report.row_errors if e.line == line)
        imputed = any(
            line in n.lines
            for n in report.notes
            if n.column in {"MINIMUM_PAYMENTS", "CREDIT_LIMIT"}
        )
        out[name] = ("errors", errors) if errors else ("ok", imputed)
    return out


def through_csv_route(api: Client, data: bytes, names: dict[int, str]) -> tuple[dict, dict]:
    response = api.http.post("/v1/segment/batch", headers={"Content-Type": "text/csv"}, body=data)
    assert response.status_code == 200, response.body
    out: dict[str, Any] = {}
    results: dict[str, Any] = {}
    for entry in response.json_body["results"]:
        name = names[entry["row"]]
        if entry["ok"]:
            column = next((c.column for c in CELLS if c.name == name), "")
            out[name] = ("ok", column in entry["result"]["imputed"])
            results[name] = entry["result"]
        else:
            out[name] = ("errors", tuple((e["field"], e["message"]) for e in entry["errors"]))
    assert len(out) == len(names)  # the blank line got no entry
    return out, results


def through_s3(s3: Any, data: bytes, names: dict[int, str]) -> tuple[dict[str, Any], bytes]:
    s3.create_bucket(Bucket=BATCH_BUCKET)
    key = f"{batch_files.INPUT_PREFIX}cells.csv"
    s3.put_object(Bucket=BATCH_BUCKET, Key=key, Body=data)
    summary = batch_files.score_file(BATCH_BUCKET, key, composition.get_service(), s3)
    assert summary.status == "complete", summary

    def table(name: str | None) -> list[dict[str, str]]:
        body = s3.get_object(Bucket=BATCH_BUCKET, Key=name)["Body"].read().decode()
        return list(csv.DictReader(io.StringIO(body, newline="")))

    raw = s3.get_object(Bucket=BATCH_BUCKET, Key=summary.results)["Body"].read()
    errors: dict[int, list[tuple[str, str]]] = {}
    for line in table(summary.errors):
        errors.setdefault(int(line["row"]), []).append((line["field"], line["message"]))
    out: dict[str, Any] = {}
    for line in table(summary.results):
        row = int(line["row"])
        name = names[row]
        if line["status"] == "scored":
            column = next((c.column for c in CELLS if c.name == name), "")
            out[name] = ("ok", column in line["imputed"].split(";"))
        else:
            out[name] = ("errors", tuple(errors[row]))
    return out, bytes(raw)


def json_row(cell: Cell) -> dict[str, Any]:
    row: dict[str, Any] = {k: float(v) for k, v in zip(HEADER, BASE, strict=True) if k != "CUST_ID"}
    row[cell.column] = cell.json
    return row


def through_json_route(api: Client) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cell in CELLS:
        if cell.json is NO_JSON:
            continue
        response = post_json(api, "/v1/segment", json_row(cell))
        if response.status_code == 200:
            out[cell.name] = ("ok", cell.column in response.json_body["imputed"])
        else:
            assert response.status_code == 400, response.body
            errors = response.json_body["errors"]
            out[cell.name] = ("errors", tuple((e["field"], e["message"]) for e in errors))
    return out


# --- the agreement --------------------------------------------------------------------------


@pytest.fixture
def cells() -> tuple[bytes, dict[int, str]]:
    return cell_file()


def test_the_table_is_large_enough() -> None:
    assert len(CELLS) + len(RAGGED) + len(FILES) >= 40
    assert len({c.name for c in CELLS} | set(RAGGED) | {f.name for f in FILES}) == (
        len(CELLS) + len(RAGGED) + len(FILES)
    )


def test_training_validation_agrees(tmp_path: Path, cells: tuple[bytes, dict[int, str]]) -> None:
    data, names = cells
    assert through_training(tmp_path, data, names) == expected_outcomes()


def test_training_reads_accepted_cells_as_the_tables_numbers(tmp_path: Path) -> None:
    accepted = [c for c in CELLS if not isinstance(c.expect, tuple)]
    lines = [",".join(HEADER), *(_row(n, c) for n, c in enumerate(accepted))]
    path = tmp_path / "accepted.csv"
    path.write_text("\r\n".join(lines) + "\r\n")
    result = validate_file(path, min_rows=1)
    assert result.frame is not None, result.report.format()
    for i, cell in enumerate(accepted):
        column = "BALANCE" if cell.column == "CUST_ID" else cell.column
        value = float(result.frame[column].to_numpy()[i])
        if cell.expect is None:
            assert math.isnan(value), cell.name  # missing: imputed later
        else:
            assert value == cell.expect and str(value) != "-0.0", cell.name
    assert result.frame.loc[len(accepted) - 1, "CUST_ID"] == '=HYPERLINK("http://x","y")'


def test_csv_route_and_s3_agree_and_write_the_same_table(
    api: Client, s3: Any, cells: tuple[bytes, dict[int, str]]
) -> None:
    data, names = cells
    from_route, _ = through_csv_route(api, data, names)
    assert from_route == expected_outcomes()
    from_s3, s3_table = through_s3(s3, data, names)
    assert from_s3 == expected_outcomes()
    as_csv = api.http.post(
        "/v1/segment/batch",
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
        body=data,
    )
    assert as_csv.body == s3_table


def test_json_route_agrees_and_scores_accepted_cells_as_their_numbers(
    api: Client, cells: tuple[bytes, dict[int, str]]
) -> None:
    data, names = cells
    from_json = through_json_route(api)
    expected = expected_outcomes()
    assert from_json == {name: expected[name] for name in from_json}
    assert len(from_json) >= 30
    # An accepted cell scores exactly as the number it stands for, sent as JSON.
    _, results = through_csv_route(api, data, names)
    for cell in CELLS:
        if cell.json is NO_JSON or isinstance(cell.expect, tuple):
            continue
        single = post_json(api, "/v1/segment", json_row(cell)).json_body
        # Per-request fields differ by design: the CSV rows carry an id (so a history
        # answer), the single JSON row does not; the cache state depends on order.
        per_request = {"customer_id": None, "cache": None, "history": None}
        from_csv = {**results[cell.name], **per_request}
        assert from_csv == {**single, **per_request}, cell.name


# --- headers and whole files --------------------------------------------------------------


@dataclass(frozen=True)
class File:
    """A whole file and the file-level answer: ``()`` = read (rows scored), else errors."""

    name: str
    content: bytes
    errors: Errors = ()
    warnings: Errors = ()


def _file(header: list[str], rows: list[list[str]], end: str = "\r\n", bom: str = "") -> bytes:
    return (bom + end.join(",".join(r) for r in [header, *rows]) + end).encode()


def _renamed(old: str, new: str) -> list[str]:
    return [new if h == old else h for h in HEADER]


FILES: tuple[File, ...] = (
    File("0-byte file", b"", (("(file)", "the file is empty: no header line"),)),
    File("header only", _file(HEADER, []), (("(file)", "has a header but no data rows"),)),
    File(
        "header and blank lines",
        _file(HEADER, [[""], [""]]),
        (("(file)", "has a header but no data rows"),),
    ),
    File(
        "blank first line",
        b"\r\n" + _file(HEADER, [BASE]),
        (("(file)", "the first line is blank: the header must be on line 1"),),
    ),
    File("BOM", _file(HEADER, [BASE], bom="\ufeff")),
    File("LF line ends", _file(HEADER, [BASE], end="\n")),
    File("CR line ends", _file(HEADER, [BASE], end="\r")),
    File("spaced header", _file([f" {h} " for h in HEADER], [BASE])),
    File(
        "duplicate column",
        _file([*HEADER, "BALANCE"], [[*BASE, "1"]]),
        (("BALANCE", "column appears 2 times in the header"),),
    ),
    File(
        "same column in two cases",
        _file([*HEADER, "balance"], [[*BASE, "1"]]),
        (("BALANCE", "column appears 2 times in the header (as 'BALANCE', 'balance')"),),
    ),
    File(
        "column in the wrong case",
        _file(_renamed("TENURE", "Tenure"), [BASE]),
        (
            ("Tenure", "unknown column; did you mean 'TENURE'?"),
            ("TENURE", "required column is missing"),
        ),
    ),
    File(
        "required column missing",
        _file(HEADER[:-1], [BASE[:-1]]),
        (("TENURE", "required column is missing"),),
    ),
    File(
        "unknown column",
        _file([*HEADER, "NOTES"], [[*BASE, "x"]]),
        warnings=(("NOTES", "unknown column, ignored"),),
    ),
    File(
        "not UTF-8",
        _file(HEADER, [BASE]).replace(b"C10001", b"C\xe91"),
        (("(file)", "is not UTF-8 text: invalid continuation byte"),),
    ),
    File(
        "NUL byte",
        _file(HEADER, [BASE]).replace(b"C10001", b"C\x001"),
        (("(file)", "contains a NUL byte: not a CSV text file"),),
    ),
)


@pytest.mark.parametrize("case", FILES, ids=[f.name for f in FILES])
def test_training_reads_each_file_as_the_table_says(tmp_path: Path, case: File) -> None:
    path = tmp_path / "case.csv"
    path.write_bytes(case.content)
    report = validate_file(path, min_rows=1).report
    assert tuple((i.column, i.message) for i in report.errors) == case.errors
    header_warnings = tuple(
        (w.column, w.message) for w in report.warnings if w.message.startswith("unknown column")
    )
    assert header_warnings == case.warnings


@pytest.fixture
def batch_bucket(s3: Any) -> Iterator[Any]:
    s3.create_bucket(Bucket=BATCH_BUCKET)
    yield s3


def test_csv_route_and_s3_read_each_file_as_the_table_says(api: Client, batch_bucket: Any) -> None:
    seen: dict[str, Any] = {}
    wanted: dict[str, Any] = {}
    for case in FILES:
        response = api.http.post(
            "/v1/segment/batch", headers={"Content-Type": "text/csv"}, body=case.content
        )
        route = (
            tuple((e["field"], e["message"]) for e in response.json_body["errors"])
            if response.status_code == 400
            else ()
        )
        key = f"{batch_files.INPUT_PREFIX}{len(seen)}.csv"
        batch_bucket.put_object(Bucket=BATCH_BUCKET, Key=key, Body=case.content)
        summary = batch_files.score_file(BATCH_BUCKET, key, composition.get_service(), batch_bucket)
        s3_errors = tuple((p.field, p.message) for p in summary.problems)
        s3_warnings = tuple(
            tuple(w.split(": ", 1))
            for w in summary.warnings
            if w.endswith("unknown column, ignored")
        )
        seen[case.name] = (route, s3_errors, s3_warnings, summary.status)
        status = "rejected" if case.errors else "complete"
        wanted[case.name] = (case.errors, case.errors, case.warnings, status)
    assert seen == wanted
    assert json.dumps(seen)  # plain data, printable in a failure
