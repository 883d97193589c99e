"""One file, three ways in, one results table: the Streamlit batch page, the CSV route and
the S3 batch function give byte-identical results for 2,500 real rows with bad rows mixed in.

The page runs under AppTest against the live API (chalice local + moto server + the session
bundle); the route is called over HTTP in pieces of 1,000 rows; the S3 function runs
in-process against the same moto server and model.

The page scores first (cache misses), the route then hits the API's cache, the S3 function
has none: the bytes agree because a row's answer does not depend on its batch or on the
cache (tests/functions/scoring/test_model.py checks the former).
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests
from streamlit.testing.v1 import AppTest

from tests.frontend.stack import ROOT
from tests.servers import local_stage_env

from chalicelib.batch import files as batch_files  # isort: skip
from chalicelib import composition  # isort: skip

DATA = ROOT / "data" / "CC_GENERAL.csv"
HOME = ROOT / "frontend" / "Home.py"
BATCH_BUCKET = "cc-batch-same-results"


def sample_file() -> tuple[bytes, int]:
    """2,500 random real rows with 9 bad ones mixed in (and a blank line); the bytes and
    the number of rows that should fail."""
    with DATA.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    rng = random.Random(8)
    sample = [list(row) for row in rng.sample(rows, 2500)]
    col = header.index
    edits: list[tuple[int, str, str]] = [
        (10, "BALANCE", "1_000"),
        (250, "BALANCE", "١٢٣"),
        (700, "PURCHASES", "1,000.50"),
        (999, "TENURE", "NA"),  # required: missing
        (1000, "PAYMENTS", "-5"),
        (1500, "PURCHASES_TRX", "2.5"),
        (2000, "CASH_ADVANCE", "0x10"),
        (2400, "BALANCE_FREQUENCY", "inf"),
    ]
    for index, column, value in edits:
        sample[index][col(column)] = value
    sample[1200].append("surplus")  # a ragged row
    sample[5][col("CUST_ID")] = '=HYPERLINK("http://x","y")'  # scored; id neutralised
    sample[6][col("MINIMUM_PAYMENTS")] = " null "  # optional: imputed, still scored
    sample[7][col("BALANCE")] = " 1e3 "  # a number
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(sample[:100])
    out.write("\r\n")  # a blank line: row 102 is skipped, later rows keep their numbers
    writer.writerows(sample[100:])
    return out.getvalue().encode(), len(edits) + 1


def through_the_page(data: bytes, downloads: Callable[[Any], bytes]) -> bytes:
    app = AppTest.from_file(HOME, default_timeout=60).run()
    app.switch_page("views/04_Batch.py").run()
    app.file_uploader[0].set_value(("sample.csv", data, "text/csv")).run()
    [score] = [b for b in app.button if b.label.startswith("Score")]
    score.click().run(timeout=600)
    assert not app.exception, [e.value for e in app.exception]
    return downloads(app.download_button[0])


def through_the_route(url: str, data: bytes) -> bytes:
    """The CSV route, in pieces of at most 1,000 rows, each with the header and first_row."""
    header, *records = data.split(b"\r\n")[:-1]
    table = b""
    for start in range(0, len(records), 1000):
        body = b"\r\n".join([header, *records[start : start + 1000]]) + b"\r\n"
        response = requests.post(
            f"{url}/v1/segment/batch?first_row={start + 2}",
            data=body,
            headers={"Content-Type": "text/csv", "Accept": "text/csv"},
            timeout=300,
        )
        assert response.status_code == 200, response.text
        table += response.content if not table else response.content.partition(b"\n")[2]
    return table


def through_s3(endpoint: str, data: bytes, monkeypatch: pytest.MonkeyPatch) -> bytes:
    stage = local_stage_env()
    for name in ("MODEL_BUCKET", "MODEL_PREFIX"):
        monkeypatch.setenv(name, stage[name])
    monkeypatch.setenv("CACHE_TABLE", "")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BATCH_BUCKET)
    key = f"{batch_files.INPUT_PREFIX}sample.csv"
    s3.put_object(Bucket=BATCH_BUCKET, Key=key, Body=data)
    composition.reset()
    try:
        summary = batch_files.score_file(BATCH_BUCKET, key, composition.get_service(), s3)
    finally:
        composition.reset()
    assert summary.status == "complete", summary
    assert summary.results is not None
    return bytes(s3.get_object(Bucket=BATCH_BUCKET, Key=summary.results)["Body"].read())


@pytest.mark.slow
def test_page_route_and_s3_give_byte_identical_results(
    api_env: str,
    aws_with_model: str,
    downloads: Callable[[Any], bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, bad = sample_file()
    from_page = through_the_page(data, downloads)
    from_route = through_the_route(api_env, data)
    from_s3 = through_s3(aws_with_model, data, monkeypatch)

    assert from_page == from_route == from_s3
    table = list(csv.DictReader(io.StringIO(from_page.decode(), newline="")))
    assert len(table) == 2500
    assert [int(r["row"]) for r in table] == [*range(2, 102), *range(103, 2503)]
    failed = [r for r in table if r["status"] == "error"]
    assert len(failed) == bad
    assert {r["errors"] for r in failed} >= {
        "BALANCE: must be a number, got '1_000'",
        "BALANCE: must be a number, got '١٢٣'",
        "TENURE: is required",
        "(row): has 19 fields, the header has 18",
    }
    assert table[5]["CUST_ID"] == '\'=HYPERLINK("http://x","y")'
    assert table[5]["status"] == table[6]["status"] == table[7]["status"] == "scored"
    assert "MINIMUM_PAYMENTS" in table[6]["imputed"]
