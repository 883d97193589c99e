"""Cache outcomes through the API: hit, miss, and bypass when DynamoDB fails."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ReadTimeoutError
from chalicelib import composition
from chalicelib.stores.cache import DynamoDBCache

from tests.functions.conftest import ApiFactory, post_json


def test_missing_table_means_bypass_and_still_an_answer(
    make_api: ApiFactory, published: str, valid_row: dict[str, Any]
) -> None:
    client = make_api(CACHE_TABLE="no-such-table", BREAKER_FAILURES="2")
    for _ in range(2):
        response = post_json(client, "/v1/segment", valid_row)
        assert response.status_code == 200
        assert response.json_body["cache"] == "bypass"
    assert client.http.get("/v1/health").json_body["cache"] == "unavailable"


def test_dynamodb_timeouts_mean_bypass_for_single_and_batch(
    make_api: ApiFactory, published: str, valid_row: dict[str, Any]
) -> None:
    client = make_api()
    cache = composition.get_cache()
    assert isinstance(cache, DynamoDBCache)
    calls: list[str] = []

    def slow(event_name: str, **_: Any) -> None:
        calls.append(event_name)
        raise ReadTimeoutError(endpoint_url="https://dynamodb.example")

    cache.table.client.meta.events.register("before-call.dynamodb", slow)
    single = post_json(client, "/v1/segment", valid_row).json_body
    assert single["cache"] == "bypass"
    batch = post_json(client, "/v1/segment/batch", {"customers": [valid_row] * 3}).json_body
    assert batch["summary"]["cache"] == {"hit": 0, "miss": 0, "bypass": 3}
    assert calls  # DynamoDB was really asked


def test_no_cache_table_configured_is_bypass(
    make_api: ApiFactory, published: str, valid_row: dict[str, Any]
) -> None:
    client = make_api(CACHE_TABLE="")
    assert post_json(client, "/v1/segment", valid_row).json_body["cache"] == "bypass"


def test_single_and_batch_share_the_cache(
    make_api: ApiFactory, published: str, valid_row: dict[str, Any]
) -> None:
    client = make_api()
    assert post_json(client, "/v1/segment", valid_row).json_body["cache"] == "miss"
    rows = [valid_row, {**valid_row, "TENURE": 11}]
    batch = post_json(client, "/v1/segment/batch", {"customers": rows}).json_body
    assert [r["result"]["cache"] for r in batch["results"]] == ["hit", "miss"]


def test_equal_inputs_written_differently_share_one_cache_entry(
    make_api: ApiFactory, published: str, valid_row: dict[str, Any]
) -> None:
    """Absent and null are the same missing value; 0, 0.0 and -0.0 the same number."""
    client = make_api()
    without_minimum = {k: v for k, v in valid_row.items() if k != "MINIMUM_PAYMENTS"}
    first = post_json(client, "/v1/segment", without_minimum).json_body
    assert first["cache"] == "miss"
    same = {**without_minimum, "MINIMUM_PAYMENTS": None, "CASH_ADVANCE": -0.0}
    second = post_json(client, "/v1/segment", same).json_body
    assert second["cache"] == "hit"
    assert {**second, "cache": "miss"} == first
    other = post_json(client, "/v1/segment", {**without_minimum, "CASH_ADVANCE": 1.0}).json_body
    assert other["cache"] == "miss"


def test_a_hung_cache_is_skipped_while_open_and_health_never_asks_it(
    make_api: ApiFactory, published: str, valid_row: dict[str, Any]
) -> None:
    client = make_api(BREAKER_FAILURES="3", BREAKER_COOL_DOWN_SECONDS="30")
    cache = composition.get_cache()
    assert isinstance(cache, DynamoDBCache)
    calls: list[str] = []
    down = True

    def hung(event_name: str, **_: Any) -> None:
        calls.append(event_name)
        if down:
            raise ReadTimeoutError(endpoint_url="https://dynamodb.example")

    cache.table.client.meta.events.register("before-call.dynamodb", hung)
    assert client.http.get("/v1/health").json_body["cache"] == "ok"
    for _ in range(5):
        response = post_json(client, "/v1/segment", valid_row)
        assert (response.status_code, response.json_body["cache"]) == (200, "bypass")
    assert len(calls) == 3  # the breaker opened after three failures
    health = client.http.get("/v1/health")
    assert (health.status_code, health.json_body["cache"]) == (200, "unavailable")
    assert len(calls) == 3  # health answered from the breaker's state

    down = False
    cache.table.breaker.cool_down_seconds = 0  # the cool-down is over
    assert client.http.get("/v1/health").json_body["cache"] == "recovering"
    assert post_json(client, "/v1/segment", valid_row).json_body["cache"] == "miss"
    assert post_json(client, "/v1/segment", valid_row).json_body["cache"] == "hit"
    assert client.http.get("/v1/health").json_body["cache"] == "ok"
