"""Drift reports of files scored by the S3 batch function, under moto, on the real data.

A file gets ``batch/reports/<name>.report.json`` before its summary; scored again under the
same name, its report also counts the customers that moved between the two runs.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.functions.batch.test_files import (
    BatchStack,
    api_customer,
    csv_bytes,
    real_rows,  # noqa: F401  (fixture)
    stack,  # noqa: F401  (fixture)
)
from tests.functions.conftest import BUCKET, PREFIX, TrainedBundle, post_json
from training.registry import ModelRegistry

from chalicelib.drift import stats as drift  # isort: skip
from chalicelib.drift import reports  # isort: skip


@pytest.fixture(scope="module")
def reference_bundle(bundle: TrainedBundle) -> Path:
    """The session bundle: training writes the drift reference (every feature's bins)."""
    assert bundle.manifest["drift_reference"]["features"]
    return bundle.path


@pytest.fixture
def published(stack: BatchStack, reference_bundle: Path) -> str:  # noqa: F811
    return ModelRegistry(BUCKET, PREFIX, s3_client=stack.s3).publish(reference_bundle).version


def report(batch: BatchStack, name: str) -> dict[str, Any]:
    return batch.summary(reports.report_key(name))


def test_a_file_with_tripled_balances_and_purchases_is_flagged_for_retraining(
    stack: BatchStack,  # noqa: F811
    published: str,
    real_rows: tuple[list[str], list[list[str]]],  # noqa: F811
) -> None:
    header, rows = real_rows
    shifted = [list(row) for row in rows]
    for name in ("BALANCE", "PURCHASES"):
        at = header.index(name)
        for row in shifted:
            row[at] = str(float(row[at]) * 3)
    stack.run(stack.put("tripled.csv", csv_bytes(header, shifted)))

    summary = stack.summary("batch/output/tripled.summary.json")
    assert summary["status"] == "complete"
    assert summary["report"] == "batch/reports/tripled.report.json"
    body = report(stack, "tripled")
    assert body["rows"] == len(rows) and body["model_version"] == published
    psis = {f["name"]: f["psi"] for f in body["features"]}
    assert psis["BALANCE"] > drift.PSI_RETRAIN and psis["PURCHASES"] > drift.PSI_RETRAIN
    assert {f["feature"] for f in body["flags"] if f["status"] == drift.RETRAIN} >= {
        "BALANCE",
        "PURCHASES",
    }
    assert body["status"] == drift.RETRAIN
    assert body["migration"] is None  # first run of this name
    shares = body["segments"]["shares"]
    assert sum(s["now"] for s in shares) == pytest.approx(1.0)


def test_a_file_scored_twice_counts_exactly_the_customers_that_moved(
    stack: BatchStack,  # noqa: F811
    published: str,
    real_rows: tuple[list[str], list[list[str]]],  # noqa: F811
) -> None:
    header, rows = real_rows
    rng = random.Random(11)
    first = [list(row) for row in rng.sample(rows, 3000)]
    stack.run(stack.put("portfolio.csv", csv_bytes(header, first)))
    assert report(stack, "portfolio")["migration"] is None

    # Next month: 500 customers change behaviour, 100 leave, 40 arrive.
    second = [list(row) for row in first[100:]]
    movers = rng.sample(range(len(second)), 500)
    for i in movers:
        row = second[i]
        for name, factor in (("PURCHASES", 6), ("ONEOFF_PURCHASES", 6), ("CASH_ADVANCE", 0)):
            at = header.index(name)
            row[at] = str(float(row[at]) * factor)
        row[header.index("PURCHASES_FREQUENCY")] = "1"
        row[header.index("CASH_ADVANCE_FREQUENCY")] = "0"
    known = {row[0] for row in first}
    arrivals = [list(row) for row in rows if row[0] not in known][:40]
    stack.run(stack.put("portfolio.csv", csv_bytes(header, second + arrivals)))

    # Which of the 500 changed segment, asked of the batch API customer by customer.
    before = _segments(stack, header, [first[100 + i] for i in movers])
    after = _segments(stack, header, [second[i] for i in movers])
    expected = sum(a != b for a, b in zip(before, after, strict=True))
    assert expected > 50  # the shift is real

    migration = report(stack, "portfolio")["migration"]
    assert (migration["matched"], migration["new"], migration["gone"]) == (2900, 40, 100)
    assert migration["moved"] == expected
    matrix = migration["matrix"]
    off_diagonal = sum(n for i, row in enumerate(matrix) for j, n in enumerate(row) if i != j)
    assert off_diagonal == expected
    assert sum(map(sum, matrix)) == 2900
    assert migration["previous_run"]["model_version"] == published


def _segments(batch: BatchStack, header: list[str], rows: list[list[str]]) -> list[int]:
    body = {"customers": [api_customer(header, row) for row in rows]}
    response = post_json(batch.client, "/v1/segment/batch", body)
    assert response.status_code == 200
    return [entry["result"]["segment"]["id"] for entry in response.json_body["results"]]


def test_a_file_that_cannot_be_scored_gets_no_report(
    stack: BatchStack,  # noqa: F811
    published: str,
    real_rows: tuple[list[str], list[list[str]]],  # noqa: F811
) -> None:
    header, rows = real_rows
    keep = [i for i, name in enumerate(header) if name != "BALANCE"]
    narrow = [[row[i] for i in keep] for row in rows[:20]]
    stack.run(stack.put("narrow.csv", csv_bytes([header[i] for i in keep], narrow)))
    summary = stack.summary("batch/output/narrow.summary.json")
    assert summary["status"] == "rejected" and summary["report"] is None
    assert not stack.exists(reports.report_key("narrow"))
