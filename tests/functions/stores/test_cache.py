"""The result cache: one test class run against the in-memory and the DynamoDB cache."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from botocore.stub import Stubber
from chalicelib.stores.breaker import CircuitBreaker
from chalicelib.stores.cache import (
    KEY_ATTRIBUTE,
    DynamoDBCache,
    InMemoryCache,
    ResultCache,
    cache_key,
)
from chalicelib.stores.dynamodb import Table, client_config
from moto import mock_aws

TABLE = "cc-cache-test"


class FakeClock:
    """Wall-clock time under the test's control (expiry is checked in code)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def create_table(client: Any, name: str = TABLE) -> None:
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", config=client_config())
        create_table(client)
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "dynamodb"])
def cache(request: pytest.FixtureRequest, clock: FakeClock) -> ResultCache:
    if request.param == "memory":
        return InMemoryCache(ttl_seconds=600, clock=clock)
    client = request.getfixturevalue("dynamodb")
    return DynamoDBCache(Table(TABLE, client), ttl_seconds=600, clock=clock)


def result(n: int) -> dict[str, Any]:
    return {"segment": {"id": n % 4, "name": f"S{n}"}, "typicality": {"score": n / 3}}


class TestResultCache:
    def test_empty_cache_misses(self, cache: ResultCache) -> None:
        lookup = cache.get_many(["k1"])
        assert lookup.available is True
        assert lookup.found == {}

    def test_put_then_get_returns_the_identical_result(self, cache: ResultCache) -> None:
        assert cache.put_many({"k1": result(1)}, "v1") is True
        assert cache.get_many(["k1"]).found == {"k1": result(1)}

    def test_first_write_wins(self, cache: ResultCache) -> None:
        cache.put_many({"k1": result(1)}, "v1")
        cache.put_many({"k1": result(2)}, "v1")
        assert cache.get_many(["k1"]).found == {"k1": result(1)}

    def test_expired_entries_are_misses(self, cache: ResultCache, clock: FakeClock) -> None:
        cache.put_many({"k1": result(1)}, "v1")
        clock.now += 599
        assert "k1" in cache.get_many(["k1"]).found
        clock.now += 2
        assert cache.get_many(["k1"]).found == {}

    def test_bulk_read_and_write_beyond_one_request(self, cache: ResultCache) -> None:
        items = {f"k{i}": result(i) for i in range(260)}  # > 100 gets, > 25 writes
        assert cache.put_many(items, "v1") is True
        keys = [*items, "absent-1", "absent-2", "k0"]
        lookup = cache.get_many(keys)
        assert lookup.found == items

    def test_a_healthy_cache_reports_ok(self, cache: ResultCache) -> None:
        cache.get_many(["k1"])
        assert cache.state() == "ok"


def test_key_treats_one_and_one_point_zero_alike() -> None:
    assert cache_key("v1", (1, 2, None)) == cache_key("v1", (1.0, 2.0, None))


def test_key_treats_negative_zero_as_zero() -> None:
    assert cache_key("v1", (-0.0, 2.0, None)) == cache_key("v1", (0.0, 2.0, None))


@pytest.mark.parametrize(
    ("version", "values"),
    [
        ("v2", (1.0, 2.0, None)),  # another model version
        ("v1", (1.0, 2.0, 0.0)),  # a missing value is not a zero
        ("v1", (1.0, 2.5, None)),  # another value
        ("v1", (2.0, 1.0, None)),  # the same values in another order
        ("v1", (None, 2.0, 1.0)),  # missing elsewhere
        ("v1" + "\x00", (1.0, 2.0, None)),  # the version is length-prefixed
    ],
)
def test_key_changes_with_version_and_input(version: str, values: tuple[Any, ...]) -> None:
    assert cache_key("v1", (1.0, 2.0, None)) != cache_key(version, values)


def test_key_is_a_sha256_hex_digest() -> None:
    key = cache_key("v1", (1.0, None))
    assert len(key) == 64
    assert int(key, 16) >= 0


def test_dynamodb_items_carry_the_ttl_attribute(dynamodb: Any, clock: FakeClock) -> None:
    DynamoDBCache[Any](Table(TABLE, dynamodb), ttl_seconds=600, clock=clock).put_many(
        {"k1": result(1)}, "v1"
    )
    item = dynamodb.get_item(TableName=TABLE, Key={KEY_ATTRIBUTE: {"S": "k1"}})["Item"]
    assert item["expires_at"] == {"N": str(int(clock.now + 600))}
    assert item["model_version"] == {"S": "v1"}


def test_missing_table_is_unavailable_not_an_error(dynamodb: Any) -> None:
    cache: DynamoDBCache[Any] = DynamoDBCache(Table("no-such-table", dynamodb))
    assert cache.get_many(["k1", "k2"]).available is False
    assert cache.put_many({"k1": result(1)}, "v1") is False
    assert cache.state() == "ok"  # two failures: not yet enough to open the breaker
    assert cache.get_many(["k3"]).available is False
    assert cache.state() == "unavailable"


def test_unreachable_dynamodb_is_unavailable(dynamodb: Any) -> None:
    def timeout(**_: Any) -> None:
        raise ConnectTimeoutError(endpoint_url="https://dynamodb.example")

    dynamodb.meta.events.register("before-call.dynamodb", timeout)
    cache: DynamoDBCache[Any] = DynamoDBCache(Table(TABLE, dynamodb))
    assert cache.get_many(["k1"]).available is False
    assert cache.put_many({"k1": result(1), "k2": result(2)}, "v1") is False


def test_unprocessed_keys_are_asked_again() -> None:
    client = boto3.client("dynamodb", config=client_config())
    item = {
        KEY_ATTRIBUTE: {"S": "k2"},
        "result": {"S": '{"x": 2}'},
        "model_version": {"S": "v1"},
        "expires_at": {"N": "9999999999"},
    }
    keys = [{KEY_ATTRIBUTE: {"S": "k1"}}, {KEY_ATTRIBUTE: {"S": "k2"}}]
    with Stubber(client) as stub:
        stub.add_response(
            "batch_get_item",
            {"Responses": {TABLE: []}, "UnprocessedKeys": {TABLE: {"Keys": keys[1:]}}},
            {"RequestItems": {TABLE: {"Keys": keys}}},
        )
        stub.add_response(
            "batch_get_item",
            {"Responses": {TABLE: [item]}, "UnprocessedKeys": {}},
            {"RequestItems": {TABLE: {"Keys": keys[1:]}}},
        )
        lookup = DynamoDBCache[Any](Table(TABLE, client)).get_many(["k1", "k2"])
        stub.assert_no_pending_responses()
    assert lookup.found == {"k2": {"x": 2}}


# --- the circuit breaker around DynamoDB ----------------------------------------------


class Ticks:
    """Monotonic time under the test's control (the breaker's clock)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def count_requests(client: Any) -> list[str]:
    """The operations the client really sends (or tries to send) from now on."""
    sent: list[str] = []

    def record(event_name: str, **_: Any) -> None:
        sent.append(event_name.rsplit(".", 1)[-1])

    client.meta.events.register("before-call.dynamodb", record)
    return sent


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback TCP server that accepts connections and never answers: a hung table."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_a_hung_table_opens_the_breaker_and_is_then_skipped(silent_server: str) -> None:
    """Calls that time out count as failures; once open, no request is sent at all."""
    client = boto3.client(
        "dynamodb", endpoint_url=silent_server, config=client_config(timeout_seconds=0.2)
    )
    sent = count_requests(client)
    clock = Ticks()
    breaker = CircuitBreaker("cache", failures=2, cool_down_seconds=10, clock=clock)
    cache: DynamoDBCache[Any] = DynamoDBCache(Table(TABLE, client, breaker=breaker))
    for _ in range(2):
        assert cache.get_many(["k1"]).available is False
    assert sent == ["GetItem", "GetItem"]  # one attempt each: no retries
    assert cache.state() == "unavailable"
    assert cache.get_many(["k1"]).available is False
    assert cache.put_many({"k1": result(1)}, "v1") is False
    assert len(sent) == 2  # skipped while open
    clock.now += 10
    assert cache.state() == "recovering"
    assert cache.get_many(["k1", "k2"]).available is False  # the probe, still hung
    assert sent[2:] == ["BatchGetItem"]
    assert cache.state() == "unavailable"


def test_the_breaker_lets_one_probe_through_and_recovers(dynamodb: Any) -> None:
    """A failing table: open after 3 failures, one probe per cool-down, closed once it works."""
    down = True

    def fail_while_down(**_: Any) -> None:
        if down:
            raise ReadTimeoutError(endpoint_url="https://dynamodb.example")

    sent = count_requests(dynamodb)
    dynamodb.meta.events.register("before-call.dynamodb", fail_while_down)
    clock = Ticks()
    breaker = CircuitBreaker("cache", failures=3, cool_down_seconds=10, clock=clock)
    cache: DynamoDBCache[Any] = DynamoDBCache(Table(TABLE, dynamodb, breaker=breaker))
    outcomes = [cache.get_many(["k1"]).available for _ in range(6)]
    assert outcomes == [False] * 6
    assert len(sent) == 3
    clock.now += 10
    assert [cache.get_many(["k1"]).available for _ in range(3)] == [False] * 3
    assert len(sent) == 4  # exactly one probe, which failed
    assert cache.state() == "unavailable"
    down = False
    clock.now += 9
    assert cache.get_many(["k1"]).available is False  # still cooling down
    clock.now += 1
    assert cache.get_many(["k1"]).available is True  # the probe succeeds
    assert cache.state() == "ok"
    assert cache.put_many({"k1": result(1)}, "v1") is True
    assert cache.get_many(["k1"]).found == {"k1": result(1)}
