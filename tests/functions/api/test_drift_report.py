"""The drift tally of the CSV batch route and ``POST /v1/drift/report`` (chalice test client,
moto, the real bundle): a file sent in pieces gets the very report the batch function writes
for the same file, and whatever a client sends back is checked field by field."""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from chalice.test import Client

from tests.functions.conftest import FUNCTIONS_DIR, ApiFactory, post_json

from chalicelib import composition  # isort: skip
from chalicelib.api.limits import MAX_BODY_BYTES, MAX_TALLIES  # isort: skip
from chalicelib.batch import files as batch_files  # isort: skip
from chalicelib.drift.tally import MAX_COUNT  # isort: skip

DATA = Path(__file__).resolve().parents[3] / "data" / "CC_GENERAL.csv"
BATCH_BUCKET = "cc-batch-test"
PIECE_ROWS = 1000  # what the Streamlit page sends
ROUTE = "/v1/drift/report"
OPENAPI = json.loads((FUNCTIONS_DIR / "chalicelib" / "api" / "openapi.json").read_text())


def conforms(body: Any, schema: str) -> None:
    """``body`` validates against the OpenAPI document's ``schema``."""
    jsonschema.validate(body, {**OPENAPI, "$ref": f"#/components/schemas/{schema}"})


@pytest.fixture(scope="module")
def real_rows() -> tuple[list[str], list[list[str]]]:
    with DATA.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def post_csv(client: Client, text: str, first_row: int = 2, accept: str = "text/csv") -> Any:
    return client.http.post(
        f"/v1/segment/batch?first_row={first_row}",
        headers={"Content-Type": "text/csv", "Accept": accept},
        body=text.encode(),
    )


def tally_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.body
    header = response.headers["X-Drift-Tally"]
    header.encode("ascii")  # a header value: ASCII only
    tally: dict[str, Any] = json.loads(header)
    return tally


def pieces(header: list[str], rows: list[list[str]]) -> list[tuple[str, int]]:
    """The file cut as the Streamlit page cuts it: runs of file rows, header repeated."""
    return [
        (csv_text(header, rows[start : start + PIECE_ROWS]), 2 + start)
        for start in range(0, len(rows), PIECE_ROWS)
    ]


def mixed_file(real_rows: tuple[list[str], list[list[str]]]) -> list[list[str]]:
    """2,500 real customers, the last 1,000 with balances tripled (drift), three invalid
    rows, a blank line and a missing optional value."""
    header, rows = real_rows
    sample = [list(row) for row in rows[:2500]]
    balance = header.index("BALANCE")
    for row in sample[1500:]:
        row[balance] = str(float(row[balance]) * 3)
    for n in (10, 1200, 2400):
        sample[n][balance] = "abc"
    sample[500] = []  # a blank line: skipped, still a file row
    sample[700][header.index("MINIMUM_PAYMENTS")] = ""
    return sample


def test_csv_answers_carry_the_drift_tally_of_the_scored_rows(
    api: Client, published: str, real_rows: tuple[list[str], list[list[str]]]
) -> None:
    header, rows = real_rows
    body = [list(row) for row in rows[:5]]
    body[2][header.index("TENURE")] = "-1"
    text = csv_text(header, body)
    tally = tally_of(post_csv(api, text))
    assert (tally["model_version"], tally["data_rows"]) == (published, 5)
    counts = tally["counts"]
    assert counts["rows"] == 4  # the invalid row is not counted, as in a batch file
    assert sum(counts["segments"].values()) == 4
    assert all(sum(b) + m == 4 for b, m in zip(counts["bins"], counts["missing"], strict=True))
    as_json = post_csv(api, text, accept="application/json").json_body
    assert as_json["drift_tally"] == tally
    conforms(as_json, "BatchResponse")
    conforms(tally, "DriftTally")


def test_a_file_in_pieces_gets_the_batch_files_report(
    make_api: ApiFactory, published: str, real_rows: tuple[list[str], list[list[str]]]
) -> None:
    header, _ = real_rows
    sample = mixed_file(real_rows)
    api = make_api(BATCH_BUCKET=BATCH_BUCKET)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BATCH_BUCKET)
    key = f"{batch_files.INPUT_PREFIX}mixed.csv"
    s3.put_object(Bucket=BATCH_BUCKET, Key=key, Body=csv_text(header, sample).encode())
    summary = batch_files.score_file(BATCH_BUCKET, key, composition.get_service())
    assert (summary.status, summary.rows, summary.failed) == ("complete", 2499, 3)
    assert summary.report is not None
    stored = json.loads(s3.get_object(Bucket=BATCH_BUCKET, Key=summary.report)["Body"].read())

    answers = [post_csv(api, text, first_row) for text, first_row in pieces(header, sample)]
    assert max(len(a.headers["X-Drift-Tally"]) for a in answers) < 2048  # a modest header
    tallies = [tally_of(a) for a in answers]
    response = post_json(api, ROUTE, {"name": "mixed", "tallies": tallies})
    assert response.status_code == 200, response.body
    report = response.json_body["report"]

    assert stored["status"] == "retrain"  # the tripled balances show
    assert report["source"] is None and report["migration"] is None  # nothing stored, no run
    unique = {"created_at", "source", "migration"}
    assert {k: v for k, v in report.items() if k not in unique} == {
        k: v for k, v in stored.items() if k not in unique
    }
    assert response.json_body["tally"] == {
        "model_version": published,
        "data_rows": 2499,
        "counts": stored["counts"],
    }


def test_the_answers_sum_adds_like_any_tally(
    api: Client, real_rows: tuple[list[str], list[list[str]]]
) -> None:
    header, rows = real_rows
    tallies = [tally_of(post_csv(api, text, n)) for text, n in pieces(header, rows[:2100])]
    all_at_once = post_json(api, ROUTE, {"tallies": tallies}).json_body
    first_two = post_json(api, ROUTE, {"tallies": tallies[:2]}).json_body["tally"]
    folded = post_json(api, ROUTE, {"tallies": [first_two, tallies[2]]}).json_body
    assert folded["tally"] == all_at_once["tally"]
    assert {**folded["report"], "created_at": ""} == {**all_at_once["report"], "created_at": ""}
    assert all_at_once["report"]["name"] == "upload"  # no name given
    assert all_at_once["report"]["rows_in_file"] == 2100
    conforms(all_at_once, "DriftReportResponse")


Change = Callable[[dict[str, Any]], None]


def _at(tally: dict[str, Any], path: str) -> tuple[Any, Any]:
    """The container and key of ``path`` in a tally (dotted; list positions as numbers)."""
    *parents, last = path.split(".")
    target: Any = tally
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    return target, int(last) if isinstance(target, list) else last


def _set(path: str, value: Any) -> Change:
    def change(tally: dict[str, Any]) -> None:
        target, key = _at(tally, path)
        target[key] = value

    return change


def _add(path: str, amount: int) -> Change:
    def change(tally: dict[str, Any]) -> None:
        target, key = _at(tally, path)
        target[key] += amount

    return change


def _one_more_in_a_segment(tally: dict[str, Any]) -> None:
    segments = tally["counts"]["segments"]
    segments[next(iter(segments))] += 1


def _atypical_past_unusual(tally: dict[str, Any]) -> None:
    tally["counts"]["atypical"] = tally["counts"]["unusual"] + 1


# (what is wrong, the change to one good tally of 5 rows, the field named)
BAD_TALLIES: list[tuple[str, Change, str]] = [
    ("an unknown field", _set("extra", 1), "tallies[0].extra"),
    ("no counts", lambda t: t.pop("counts"), "tallies[0].counts"),
    ("another model", _set("model_version", "V0"), "tallies[0].model_version"),
    ("an empty version", _set("model_version", ""), "tallies[0].model_version"),
    ("negative data rows", _set("data_rows", -1), "tallies[0].data_rows"),
    ("a boolean count", _set("data_rows", True), "tallies[0].data_rows"),
    ("a float count", _set("data_rows", 5.0), "tallies[0].data_rows"),
    ("a count past 2^53", _set("counts.unusual", MAX_COUNT + 1), "tallies[0].counts.unusual"),
    ("a feature short", lambda t: t["counts"]["bins"].pop(), "tallies[0].counts.bins"),
    ("a bin short", lambda t: t["counts"]["bins"][3].pop(), "tallies[0].counts.bins[3]"),
    ("a text bin", _set("counts.bins.3.0", "7"), "tallies[0].counts.bins[3][0]"),
    ("bins not adding up", _add("counts.bins.0.0", 1), "tallies[0].counts.bins[0]"),
    ("missing not adding up", _add("counts.missing.2", 1), "tallies[0].counts.bins[2]"),
    ("an unknown segment", _set("counts.segments.99", 0), "tallies[0].counts.segments.99"),
    ("segments not adding up", _one_more_in_a_segment, "tallies[0].counts.segments"),
    ("more scored than sent", _set("data_rows", 1), "tallies[0].counts.rows"),
    ("more unusual than rows", _set("counts.unusual", 99), "tallies[0].counts.unusual"),
    ("more atypical than unusual", _atypical_past_unusual, "tallies[0].counts.unusual"),
    ("outside past binned", _set("counts.outside.1", 6), "tallies[0].counts.outside[1]"),
    ("rows outside, none", _set("counts.rows_outside", 1), "tallies[0].counts.rows_outside"),
]


def test_bad_bodies_are_field_level_400s_never_500s(
    api: Client, real_rows: tuple[list[str], list[list[str]]]
) -> None:
    header, rows = real_rows
    good = tally_of(post_csv(api, csv_text(header, rows[:5])))
    assert good["counts"]["rows"] == 5 and good["counts"]["rows_outside"] == 0

    def fields_of(body: Any) -> list[str]:
        response = post_json(api, ROUTE, body)
        assert response.status_code == 400, (body, response.body)
        assert response.headers["Content-Type"] == "application/problem+json"
        return [e["field"] for e in response.json_body["errors"]]

    for what, change, field in BAD_TALLIES:
        tally = copy.deepcopy(good)
        change(tally)
        assert field in fields_of({"tallies": [tally]}), what

    assert fields_of({"tallies": [None]}) == ["tallies[0]"]
    assert fields_of([good]) == ["(body)"]
    assert fields_of({}) == ["tallies"]
    assert fields_of({"tallies": []}) == ["tallies"]
    assert fields_of({"tallies": [good] * (MAX_TALLIES + 1)}) == ["tallies"]
    assert fields_of({"tallies": [good], "name": ""}) == ["name"]
    assert fields_of({"tallies": [good], "name": 7, "since": 1}) == ["since", "name"]
    other = {**good, "model_version": "V0"}
    assert fields_of({"tallies": [good, good, other]}) == ["tallies[2].model_version"]
    bins = [[-1] * len(b) for b in good["counts"]["bins"]]
    nonsense = {**good, "counts": {**good["counts"], "bins": bins}}
    assert len(fields_of({"tallies": [nonsense] * 10})) == 50  # the first 50 problems


def test_the_route_needs_the_api_key(
    make_api: ApiFactory, published: str, real_rows: tuple[list[str], list[list[str]]]
) -> None:
    header, rows = real_rows
    client = make_api(API_KEY="s3cret")
    key = {"x-api-key": "s3cret"}
    answer = client.http.post(
        "/v1/segment/batch",
        headers={"Content-Type": "text/csv", "Accept": "text/csv", **key},
        body=csv_text(header, rows[:3]).encode(),
    )
    body = {"tallies": [tally_of(answer)]}
    assert post_json(client, ROUTE, body).status_code == 401
    assert post_json(client, ROUTE, body, **{"x-api-key": "nope"}).status_code == 403
    assert post_json(client, ROUTE, body, **key).status_code == 200


def test_a_full_request_fits_the_body_limit(
    api: Client, real_rows: tuple[list[str], list[list[str]]]
) -> None:
    """MAX_TALLIES tallies of full pieces, every count at its widest (a 1,000-row piece's
    counts have at most 4 digits), the model version at its longest, and a sum at 2^53."""
    header, rows = real_rows
    good = tally_of(post_csv(api, csv_text(header, rows[:5])))

    def widest(value: Any, most: int) -> Any:
        if isinstance(value, dict):
            return {k: widest(v, most) for k, v in value.items()}
        if isinstance(value, list):
            return [widest(v, most) for v in value]
        return most if isinstance(value, int) else value

    piece = {**widest(good, 1000), "model_version": "v" * 200}
    piece["counts"]["segments"] = {str(i): 1000 for i in range(20)}
    total = widest(piece, MAX_COUNT)
    body = {"name": "n" * 512, "tallies": [total, *[piece] * (MAX_TALLIES - 1)]}
    assert len(json.dumps(body).encode()) < MAX_BODY_BYTES * 0.6
