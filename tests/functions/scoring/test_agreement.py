"""All 8,950 real rows through POST /v1/segment/batch give exactly training's labels."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from chalice.test import Client

from tests.functions.conftest import TrainedBundle, post_json

DATA = Path(__file__).resolve().parents[3] / "data" / "CC_GENERAL.csv"


def real_rows() -> list[dict[str, Any]]:
    """The CSV as a client would send it: numbers as JSON numbers, blanks as null."""
    with DATA.open(newline="") as handle:
        return [
            {k: v if k == "CUST_ID" else (None if v == "" else float(v)) for k, v in row.items()}
            for row in csv.DictReader(handle)
        ]


def test_batch_route_agrees_with_training_on_every_row(api: Client, bundle: TrainedBundle) -> None:
    rows = real_rows()
    labels: list[int] = []
    calls = 0
    for start in range(0, len(rows), 1000):
        body = post_json(api, "/v1/segment/batch", {"customers": rows[start : start + 1000]})
        assert body.status_code == 200
        results = body.json_body["results"]
        assert all(r["ok"] for r in results)
        labels += [r["result"]["segment"]["id"] for r in results]
        calls += 1
    assert (calls, len(labels)) == (9, 8950)
    assert labels == bundle.labels
