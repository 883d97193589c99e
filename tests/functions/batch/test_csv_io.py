"""``POST /v1/segment/batch`` with a CSV body: file row numbers, field errors, CSV answers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from tests.functions.conftest import post_json

from chalicelib.contract.row import RESULT_COLUMNS  # isort: skip

DATA = Path(__file__).resolve().parents[3] / "data" / "CC_GENERAL.csv"


@pytest.fixture(scope="module")
def real_lines() -> list[str]:
    return DATA.read_text().splitlines()[:6]


def post_csv(client: Client, text: str, query: str = "", accept: str = "") -> Any:
    headers = {"Content-Type": "text/csv"}
    if accept:
        headers["Accept"] = accept
    return client.http.post(f"/v1/segment/batch{query}", headers=headers, body=text.encode())


def problem_errors(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 400, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    return [(e["field"], e["message"]) for e in response.json_body["errors"]]


def test_csv_body_is_answered_as_json_with_file_row_numbers(
    api: Client, real_lines: list[str]
) -> None:
    header, *rows = real_lines
    rows[1] = rows[1].replace(rows[1].split(",")[1], "1_000", 1)
    text = "\r\n".join([header, rows[0], "", rows[1], rows[2]]) + "\r\n"
    body = post_csv(api, text).json_body
    assert [(e["index"], e["row"], e["ok"]) for e in body["results"]] == [
        (0, 2, True),
        (1, 4, False),  # row 3 is blank: skipped, still counted
        (2, 5, True),
    ]
    assert body["results"][1]["errors"] == [
        {"field": "BALANCE", "message": "must be a number, got '1_000'"}
    ]
    assert body["summary"]["total"] == 3


def test_the_same_rows_as_json_get_the_same_results(
    api: Client, real_lines: list[str], valid_row: dict[str, Any]
) -> None:
    header, first, *_ = real_lines
    from_csv = post_csv(api, f"{header}\n{first}\n").json_body["results"][0]["result"]
    from_json = post_json(api, "/v1/segment/batch", {"customers": [valid_row]}).json_body
    as_json = from_json["results"][0]["result"]
    assert {**from_csv, "cache": None} == {**as_json, "cache": None}


def test_accept_csv_answers_the_results_table(api: Client, real_lines: list[str]) -> None:
    header, *rows = real_lines
    rows[0] = '"=HYPERLINK(""http://x"",""y"")"' + rows[0][rows[0].index(",") :]
    response = post_csv(api, "\n".join([header, *rows]), "?first_row=102", "text/csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(response.body.decode(), newline="")))
    assert tuple(table[0]) == RESULT_COLUMNS
    assert [line[0] for line in table[1:]] == ["102", "103", "104", "105", "106"]
    assert table[1][1] == '\'=HYPERLINK("http://x","y")'  # neutralised for spreadsheets
    assert {line[2] for line in table[1:]} == {"scored"}
    as_json = post_csv(api, "\n".join([header, *rows])).json_body["results"][0]["result"]
    assert as_json["customer_id"] == '=HYPERLINK("http://x","y")'  # JSON answers it as sent


def test_first_row_must_be_a_file_row(api: Client, real_lines: list[str]) -> None:
    for given in ("1", "x", "2.5", "-3", "٣"):
        response = post_csv(api, "\n".join(real_lines), f"?first_row={given}")
        assert problem_errors(response)[0][0] == "first_row"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [("(file)", "the file is empty: no header line")]),
        ("\nBALANCE\n", [("(file)", "the first line is blank: the header must be on line 1")]),
        ("HEADER_ONLY", None),
    ],
)
def test_file_level_problems_are_a_400(
    api: Client, real_lines: list[str], text: str, expected: list[tuple[str, str]] | None
) -> None:
    if text == "HEADER_ONLY":
        text = real_lines[0] + "\n\n"
        expected = [("(file)", "has a header but no data rows")]
    assert problem_errors(post_csv(api, text)) == expected


def test_header_problems_name_each_column(api: Client, real_lines: list[str]) -> None:
    header, first, *_ = real_lines
    renamed = header.replace("TENURE", "tenure").replace("BALANCE,", "BALANCE,balance,", 1)
    cells = first.split(",")
    cells.insert(2, "1")
    errors = problem_errors(post_csv(api, f"{renamed}\n{','.join(cells)}\n"))
    assert errors == [
        ("BALANCE", "column appears 2 times in the header (as 'BALANCE', 'balance')"),
        ("tenure", "unknown column; did you mean 'TENURE'?"),
        ("TENURE", "required column is missing"),
    ]


def test_more_rows_than_the_batch_maximum(api: Client, real_lines: list[str]) -> None:
    header, first, *_ = real_lines
    text = "\n".join([header, *[first] * 1001])
    assert problem_errors(post_csv(api, text)) == [
        ("(file)", "must hold 1 to 1000 data rows, got 1001")
    ]


def test_not_utf8_is_a_400(api: Client) -> None:
    response = api.http.post(
        "/v1/segment/batch", headers={"Content-Type": "text/csv"}, body=b"BALANCE\n\xff\n"
    )
    assert problem_errors(response)[0][1].startswith("is not UTF-8 text")


def test_first_row_is_checked_for_json_bodies_too(api: Client, valid_row: dict[str, Any]) -> None:
    response = api.http.post(
        "/v1/segment/batch?first_row=1",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"customers": [valid_row]}).encode(),
    )
    assert problem_errors(response)[0][0] == "first_row"


def test_column_warnings_come_with_both_answers(api: Client, real_lines: list[str]) -> None:
    header, first, *_ = real_lines
    names = header.split(",")
    drop = names.index("MINIMUM_PAYMENTS")
    kept = [n for i, n in enumerate(names) if i != drop] + ["NOTES"]
    cells = [c for i, c in enumerate(first.split(",")) if i != drop] + ["x"]
    text = f"{','.join(kept)}\n{','.join(cells)}\n"
    expected = [
        {"field": "NOTES", "message": "unknown column, ignored"},
        {"field": "MINIMUM_PAYMENTS", "message": "optional column is absent; every row is imputed"},
    ]
    assert post_csv(api, text).json_body["warnings"] == expected
    response = post_csv(api, text, accept="text/csv")
    assert json.loads(response.headers["X-Column-Warnings"]) == expected
