"""``chalice local`` against a moto server on loopback: score a customer over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
import requests

from tests.functions.conftest import TrainedBundle, create_cache_table, create_history_table
from tests.functions.stores.throttled import HoldingProxy
from tests.servers import (
    local_stage_env,
    moto_server,
    start_chalice_local,
    start_moto_server,
    start_proxy,
)
from training.registry import ModelRegistry


@pytest.mark.slow
def test_chalice_local_scores_a_customer_over_http(
    bundle: TrainedBundle, valid_row: dict[str, Any]
) -> None:
    stage = local_stage_env()
    with start_moto_server() as aws_url:
        s3 = boto3.client("s3", endpoint_url=aws_url)
        s3.create_bucket(Bucket=stage["MODEL_BUCKET"])
        dynamodb = boto3.client("dynamodb", endpoint_url=aws_url)
        create_cache_table(dynamodb, stage["CACHE_TABLE"])
        create_history_table(dynamodb, stage["HISTORY_TABLE"])
        version = ModelRegistry(stage["MODEL_BUCKET"], s3_client=s3).publish(bundle.path).version
        with start_chalice_local(aws_url) as api_url:
            first = requests.post(f"{api_url}/v1/segment", json=valid_row, timeout=60)
            second = requests.post(f"{api_url}/v1/segment", json=valid_row, timeout=60)
            health = requests.get(f"{api_url}/v1/health", timeout=60).json()
            bad = requests.post(f"{api_url}/v1/segment", json={"BALANCE": "x"}, timeout=60)
    assert first.status_code == 200, first.text
    assert first.json()["segment"]["id"] == bundle.labels[0]
    assert first.json()["model_version"] == version
    assert (first.json()["cache"], second.json()["cache"]) == ("miss", "hit")
    assert (first.json()["history"], second.json()["history"]["moved"]) == (None, False)
    assert health == {
        "status": "ok",
        "model_version": version,
        "current": None,
        "cache": "ok",
        "history": "ok",
    }
    assert bad.status_code == 400
    assert bad.headers["Content-Type"] == "application/problem+json"


@pytest.mark.slow
def test_answers_keep_coming_while_moto_hangs_and_the_cache_comes_back(
    bundle: TrainedBundle, valid_row: dict[str, Any]
) -> None:
    """SIGSTOP the moto server (S3 and DynamoDB hang) past the refresh interval: every
    answer is still a 200, bypassing the cache, health too; after SIGCONT the cache returns.
    Asserts statuses and ``cache`` fields, never times."""
    stage = local_stage_env()
    settings = {
        "MODEL_REFRESH_SECONDS": "1",
        "BREAKER_FAILURES": "2",
        "BREAKER_COOL_DOWN_SECONDS": "1",
        "DEPENDENCY_TIMEOUT_SECONDS": "1",  # generous: a loaded CI box must not bypass
    }
    rows = [{**valid_row, "CUST_ID": f"C{n}", "BALANCE": 100.0 + n} for n in range(40)]
    with moto_server() as moto:
        s3 = boto3.client("s3", endpoint_url=moto.url)
        s3.create_bucket(Bucket=stage["MODEL_BUCKET"])
        create_cache_table(boto3.client("dynamodb", endpoint_url=moto.url), stage["CACHE_TABLE"])
        version = ModelRegistry(stage["MODEL_BUCKET"], s3_client=s3).publish(bundle.path).version
        with start_chalice_local(moto.url, env=settings) as api_url:

            def score(row: dict[str, Any]) -> tuple[int, str]:
                response = requests.post(f"{api_url}/v1/segment", json=row, timeout=60)
                return response.status_code, response.json().get("cache", "")

            assert score(rows[0]) == (200, "miss")
            assert score(rows[0]) == (200, "hit")
            with moto.paused():
                time.sleep(1.5)  # past the refresh interval: the next request starts a check
                paused = [score(row) for row in rows[1:11]]
                health = requests.get(f"{api_url}/v1/health", timeout=60)
            recovered: list[tuple[int, str]] = []
            for row in rows[11:]:  # a few cool-downs' worth of requests at most
                recovered.append(score(row))
                if recovered[-1][1] != "bypass":
                    break
                time.sleep(0.25)
            after = requests.get(f"{api_url}/v1/health", timeout=60).json()
    assert paused == [(200, "bypass")] * 10
    assert health.status_code == 200
    assert health.json()["model_version"] == version
    assert health.json()["cache"] in {"unavailable", "recovering"}
    assert recovered[-1] == (200, "miss")
    # (no history table here: its own breaker's state is not what this test is about)
    assert {k: after[k] for k in ("status", "model_version", "cache")} == {
        "status": "ok",
        "model_version": version,
        "cache": "ok",
    }


@pytest.mark.slow
@pytest.mark.parametrize("writes", ["batch", "transactions"])
def test_a_throttled_history_table_behind_a_proxy_loses_no_sighting_silently(
    bundle: TrainedBundle, valid_row: dict[str, Any], writes: str
) -> None:
    """The local stack with a proxy in front of moto that holds back history writes (the
    tail of every BatchWriteItem, every second transaction): every answer over HTTP says
    ``unavailable`` or its sighting (and its customer's latest item) is in the table."""
    stage = local_stage_env()
    table = stage["HISTORY_TABLE"]
    proxy = HoldingProxy(table)
    rows = [{**valid_row, "CUST_ID": f"C-P-{n:03d}", "BALANCE": 100.0 + n} for n in range(80)]
    batches = [rows[:50], rows[30:80] + rows[:5]]  # the second one sees some customers again
    with start_moto_server() as aws_url, start_proxy(aws_url, proxy) as proxy_url:
        s3 = boto3.client("s3", endpoint_url=aws_url)
        s3.create_bucket(Bucket=stage["MODEL_BUCKET"])
        dynamodb = boto3.client("dynamodb", endpoint_url=aws_url)
        create_cache_table(dynamodb, stage["CACHE_TABLE"])
        create_history_table(dynamodb, table)
        ModelRegistry(stage["MODEL_BUCKET"], s3_client=s3).publish(bundle.path)
        answers: list[list[Any]] = []
        with start_chalice_local(proxy_url, env={"HISTORY_WRITES": writes}) as api_url:
            for batch in batches:
                url = f"{api_url}/v1/segment/batch"
                response = requests.post(url, json={"customers": batch}, timeout=60)
                assert response.status_code == 200, response.text
                answers.append([e["result"]["history"] for e in response.json()["results"]])
        items = scan_all(dynamodb, table)
    sightings = {
        (i["customer_id"]["S"], i["scored_at"]["S"]) for i in items if i["sk"]["S"] != "latest"
    }
    latest = {i["customer_id"]["S"]: i["scored_at"]["S"] for i in items if i["sk"]["S"] == "latest"}
    times = sorted({when for _, when in sightings})  # one scored_at per request
    assert len(times) == len(batches)
    unavailable = 0
    for batch, batch_answers, when in zip(batches, answers, times, strict=True):
        for row, answer in zip(batch, batch_answers, strict=True):
            customer = row["CUST_ID"]
            if answer == {"status": "unavailable"}:
                unavailable += 1
                continue
            assert (customer, when) in sightings, f"{customer} answered {answer}, not stored"
            assert latest[customer] >= when, f"{customer}: its latest item was not taken"
    assert proxy.held and 0 < unavailable < sum(map(len, batches))


def scan_all(client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    return items
