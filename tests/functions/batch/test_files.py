"""The S3 batch function under moto: a real bundle, real CSV files, the real Chalice hook.

Files go in through ``score_batch_file`` (the S3 event handler in functions/app.py, invoked
with an S3 event by chalice.test) and come out as objects in the moto bucket.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from tests.functions.conftest import (
    BUCKET,
    PREFIX,
    TrainedBundle,
    load_functions_app,
    post_json,
)
from training.registry import ModelRegistry

# functions/ is on sys.path once tests.functions.conftest is imported (as in Lambda).
from chalicelib.batch import files as batch_files  # isort: skip
from chalicelib import composition  # isort: skip

DATA = Path(__file__).resolve().parents[3] / "data" / "CC_GENERAL.csv"
BATCH_BUCKET = "cc-batch-test"


@pytest.fixture(scope="module")
def real_rows() -> tuple[list[str], list[list[str]]]:
    with DATA.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


@dataclass
class BatchStack:
    s3: Any
    client: Client

    def put(self, name: str, content: bytes) -> str:
        key = f"{batch_files.INPUT_PREFIX}{name}"
        self.s3.put_object(Bucket=BATCH_BUCKET, Key=key, Body=content)
        return key

    def run(self, key: str) -> None:
        """What S3 does when the object lands: invoke the function with the event."""
        event = self.client.events.generate_s3_event(bucket=BATCH_BUCKET, key=key)
        self.client.lambda_.invoke("score_batch_file", event)

    def text(self, key: str) -> str:
        return str(self.s3.get_object(Bucket=BATCH_BUCKET, Key=key)["Body"].read().decode())

    def table(self, key: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.text(key), newline="")))

    def summary(self, key: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.text(key))
        return loaded

    def exists(self, key: str) -> bool:
        listing = self.s3.list_objects_v2(Bucket=BATCH_BUCKET, Prefix=key)
        return any(item["Key"] == key for item in listing.get("Contents", []))


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchStack]:
    """Moto with the model bucket, the batch bucket, and the app configured as the template
    configures the batch function (no cache table)."""
    env = {
        "MODEL_BUCKET": BUCKET,
        "MODEL_PREFIX": PREFIX,
        "CACHE_TABLE": "",
        "BATCH_BUCKET": BATCH_BUCKET,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.delenv("MODEL_VERSION", raising=False)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=BATCH_BUCKET)
        composition.reset()
        yield BatchStack(s3, Client(load_functions_app().app))
    composition.reset()


@pytest.fixture
def published(stack: BatchStack, bundle: TrainedBundle) -> str:
    return ModelRegistry(BUCKET, PREFIX, s3_client=stack.s3).publish(bundle.path).version


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def api_customer(header: list[str], row: list[str]) -> dict[str, Any]:
    """The same row as a JSON client sends it: numbers, missing values left out."""
    customer: dict[str, Any] = {}
    for name, cell in zip(header, row, strict=True):
        if cell == "":
            continue
        customer[name] = cell if name == "CUST_ID" else float(cell)
    return customer


@pytest.mark.slow
def test_ten_thousand_rows_are_scored_completely_and_agree_with_the_batch_api(
    stack: BatchStack,
    published: str,
    bundle: TrainedBundle,
    real_rows: tuple[list[str], list[list[str]]],
) -> None:
    header, rows = real_rows
    rng = random.Random(5)
    picks = [rng.randrange(len(rows)) for _ in range(10_000)]
    sample = [[f"{rows[i][0]}-{n}", *rows[i][1:]] for n, i in enumerate(picks)]
    stack.run(stack.put("resampled.csv", csv_bytes(header, sample)))

    summary = stack.summary("batch/output/resampled.summary.json")
    assert summary["status"] == "complete"
    assert (summary["rows"], summary["scored"], summary["failed"]) == (10_000, 10_000, 0)
    assert summary["model_version"] == published
    results = stack.table("batch/output/resampled.results.csv")
    assert [r["row"] for r in results] == [str(n) for n in range(2, 10_002)]  # file rows
    assert {r["status"] for r in results} == {"scored"}
    assert [r["CUST_ID"] for r in results] == [row[0] for row in sample]
    assert stack.table("batch/output/resampled.errors.csv") == []

    # The labels training gave these customers...
    assert [int(r["segment_id"]) for r in results] == [bundle.labels[i] for i in picks]
    # ...and the batch API's answers, field for field.
    for start in range(0, 10_000, 1000):
        body = {"customers": [api_customer(header, row) for row in sample[start : start + 1000]]}
        response = post_json(stack.client, "/v1/segment/batch", body)
        assert response.status_code == 200
        for entry, line in zip(response.json_body["results"], results[start:], strict=False):
            api = entry["result"]
            band = api["credit_limit"]["benchmark"]
            assert line["CUST_ID"] == api["customer_id"]
            assert int(line["segment_id"]) == api["segment"]["id"]
            assert line["segment_name"] == api["segment"]["name"]
            assert [float(line[f"credit_limit_{q}"]) for q in ("p25", "p50", "p75")] == [
                band["p25"],
                band["p50"],
                band["p75"],
            ]
            assert line["credit_limit_position"] == api["credit_limit"]["position"]
            assert float(line["typicality_percentile"]) == api["typicality"]["percentile"]
            assert (float(line["map_x"]), float(line["map_y"])) == (
                api["map_position"]["x"],
                api["map_position"]["y"],
            )
            assert line["imputed"] == ";".join(api["imputed"])


def test_bad_rows_are_reported_and_the_good_ones_scored(
    stack: BatchStack, published: str, real_rows: tuple[list[str], list[list[str]]]
) -> None:
    header, rows = real_rows
    sample = [list(row) for row in rows[:50]]
    column = header.index
    sample[2][column("BALANCE")] = "abc"
    sample[6][column("TENURE")] = ""
    sample[9][column("PAYMENTS")] = "-5"
    sample[11].append("surplus")
    sample[19][column("PURCHASES_TRX")] = "2.5"
    sample[29][column("BALANCE_FREQUENCY")] = "1.7"
    sample[29][column("CASH_ADVANCE")] = "nan"
    stack.run(stack.put("mixed.csv", csv_bytes(header, sample)))

    summary = stack.summary("batch/output/mixed.summary.json")
    assert (summary["status"], summary["rows"], summary["scored"], summary["failed"]) == (
        "complete",
        50,
        44,
        6,
    )
    bad = {4, 8, 11, 13, 21, 31}  # file rows: the header is row 1
    results = stack.table("batch/output/mixed.results.csv")
    assert [int(r["row"]) for r in results] == list(range(2, 52))  # every row, in order
    assert [int(r["row"]) for r in results if r["status"] == "error"] == sorted(bad)
    assert all(r["segment_id"] == "" for r in results if r["status"] == "error")
    errors = stack.table("batch/output/mixed.errors.csv")
    assert [(e["row"], e["CUST_ID"], e["field"]) for e in errors] == [
        ("4", rows[2][0], "BALANCE"),
        ("8", rows[6][0], "TENURE"),
        ("11", rows[9][0], "PAYMENTS"),
        ("13", rows[11][0], "(row)"),
        ("21", rows[19][0], "PURCHASES_TRX"),
        ("31", rows[29][0], "BALANCE_FREQUENCY"),
        ("31", rows[29][0], "CASH_ADVANCE"),
    ]
    assert results[29]["errors"] == (
        "BALANCE_FREQUENCY: must be at most 1, got 1.7; CASH_ADVANCE: is required"
    )
    messages = [e["message"] for e in errors]
    assert messages[0] == "must be a number, got 'abc'"
    assert messages[1] == "is required"
    assert messages[2] == "must not be negative, got -5"
    assert messages[3] == "has 19 fields, the header has 18"
    assert messages[4] == "must be a whole number, got 2.5"
    assert messages[5] == "must be at most 1, got 1.7"
    assert messages[6] == "is required"  # "nan" spells a missing value


def test_missing_required_columns_give_a_report_and_no_results(
    stack: BatchStack, published: str, real_rows: tuple[list[str], list[list[str]]]
) -> None:
    header, rows = real_rows
    keep = [i for i, name in enumerate(header) if name not in {"BALANCE", "TENURE"}]
    trimmed = [[row[i] for i in keep] for row in rows[:20]]
    stack.run(stack.put("partial.csv", csv_bytes([header[i] for i in keep], trimmed)))

    assert not stack.exists("batch/output/partial.results.csv")
    summary = stack.summary("batch/output/partial.summary.json")
    assert summary["status"] == "rejected"
    assert summary["results"] is None
    errors = stack.table("batch/output/partial.errors.csv")
    assert [(e["row"], e["field"], e["message"]) for e in errors] == [
        ("", "BALANCE", "required column is missing"),
        ("", "TENURE", "required column is missing"),
    ]


def test_optional_columns_may_be_absent_and_extra_columns_are_ignored(
    stack: BatchStack, published: str, real_rows: tuple[list[str], list[list[str]]]
) -> None:
    header, rows = real_rows
    keep = [i for i, name in enumerate(header) if name != "MINIMUM_PAYMENTS"]
    sample = [[*(row[i] for i in keep), "note"] for row in rows[:10]]
    content = csv_bytes([*(header[i] for i in keep), "COMMENT"], sample)
    stack.run(stack.put("nested/optional.csv", content))

    summary = stack.summary("batch/output/nested/optional.summary.json")
    assert (summary["status"], summary["scored"]) == ("complete", 10)
    assert summary["warnings"] == [
        "COMMENT: unknown column, ignored",
        "MINIMUM_PAYMENTS: optional column is absent; every row is imputed",
    ]
    results = stack.table("batch/output/nested/optional.results.csv")
    assert all("MINIMUM_PAYMENTS" in r["imputed"].split(";") for r in results)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty: no header line"),
        (b"BALANCE,TENURE\n\xff\xfe\x00garbage\n", "is not UTF-8 text"),
    ],
)
def test_unreadable_files_are_rejected_without_results(
    stack: BatchStack, published: str, content: bytes, message: str
) -> None:
    stack.run(stack.put("broken.csv", content))
    assert not stack.exists("batch/output/broken.results.csv")
    summary = stack.summary("batch/output/broken.summary.json")
    assert summary["status"] == "rejected"
    assert summary["problems"][0]["message"].startswith(message)


def test_without_a_model_the_file_fails_cleanly(
    stack: BatchStack, real_rows: tuple[list[str], list[list[str]]]
) -> None:
    header, rows = real_rows
    stack.run(stack.put("early.csv", csv_bytes(header, rows[:5])))
    assert not stack.exists("batch/output/early.results.csv")
    summary = stack.summary("batch/output/early.summary.json")
    assert summary["status"] == "failed"
    assert "no model" in summary["problems"][0]["message"]


def test_an_input_gone_before_the_event_is_handled_is_reported(
    stack: BatchStack, published: str
) -> None:
    stack.run(f"{batch_files.INPUT_PREFIX}vanished.csv")
    assert not stack.exists("batch/output/vanished.results.csv")
    summary = stack.summary("batch/output/vanished.summary.json")
    assert summary["status"] == "rejected"
    assert summary["problems"][0]["message"] == "cannot be read from S3: NoSuchKey"


def test_output_keys_mirror_the_input_path() -> None:
    keys = batch_files.OutputKeys.for_input("batch/input/2026/11/cards.CSV")
    assert keys.results == "batch/output/2026/11/cards.results.csv"
    assert keys.errors == "batch/output/2026/11/cards.errors.csv"
    assert keys.summary == "batch/output/2026/11/cards.summary.json"
