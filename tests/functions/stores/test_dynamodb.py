"""The one DynamoDB layer: shared client, the breaker at the boundary, batched reads and
writes that retry unprocessed keys and items under a time budget and return the rest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from chalicelib.stores import dynamodb
from chalicelib.stores.breaker import CircuitBreaker
from chalicelib.stores.dynamodb import Retries, SharedClient, Table, TableUnavailable
from moto import mock_aws

from tests.functions.stores.throttled import HoldsBack

NAME = "layer-test"


class Clock:
    """Monotonic time that moves only when the layer sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        real = boto3.client("dynamodb", config=dynamodb.client_config())
        real.create_table(
            TableName=NAME,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield real


@pytest.fixture
def clock() -> Clock:
    return Clock()


def table(client: Any, clock: Clock, **retries: Any) -> Table:
    policy = Retries(clock=clock, sleep=clock.sleep, **retries)
    return Table(NAME, client, breaker=CircuitBreaker(NAME), retries=policy)


def item(n: int) -> dict[str, Any]:
    return {"id": {"S": f"i{n:03d}"}, "n": {"N": str(n)}}


def key(n: int) -> dict[str, Any]:
    return {"id": {"S": f"i{n:03d}"}}


def test_writes_and_reads_beyond_one_request(client: Any, clock: Clock) -> None:
    layer = table(client, clock)
    assert layer.batch_write_item([item(n) for n in range(260)]) == []  # 11 requests
    fetched = layer.batch_get_item([key(n) for n in range(250)] + [key(999)])  # 3 requests
    assert sorted(i["id"]["S"] for i in fetched.items) == [f"i{n:03d}" for n in range(250)]
    assert fetched.unprocessed == []
    assert clock.sleeps == []  # nothing to retry: no backoff


def test_unprocessed_items_are_sent_again_then_returned_not_dropped(
    client: Any, clock: Clock
) -> None:
    throttled = HoldsBack(client, NAME, writes=True)
    layer = table(throttled, clock)
    items = [item(n) for n in range(30)]  # 25 + 5: 9 + 2 held back in the first round
    left = layer.batch_write_item(items)
    assert throttled.calls["BatchWriteItem"] == 2 + 3 * 1  # first round, then 3 retries of 11
    assert clock.sleeps == [0.025, 0.05, 0.1]  # a short backoff that doubles
    stored = {i["id"]["S"] for i in client.scan(TableName=NAME)["Items"]}
    assert {i["id"]["S"] for i in left} == {i["id"]["S"] for i in items} - stored
    assert left  # the tail is never taken: returned to the caller


def test_unprocessed_keys_are_asked_again_then_returned(client: Any, clock: Clock) -> None:
    table(client, clock).batch_write_item([item(n) for n in range(150)])
    throttled = HoldsBack(client, NAME, writes=False, reads=True)
    fetched = table(throttled, clock).batch_get_item([key(n) for n in range(150)])
    found = {i["id"]["S"] for i in fetched.items}
    unprocessed = {k["id"]["S"] for k in fetched.unprocessed}
    assert found.isdisjoint(unprocessed)
    assert found | unprocessed == {f"i{n:03d}" for n in range(150)}
    assert unprocessed and found


def test_no_retry_round_starts_after_the_time_budget(client: Any, clock: Clock) -> None:
    throttled = HoldsBack(client, NAME, writes=True)
    layer = table(throttled, clock, budget_seconds=0.06)
    left = layer.batch_write_item([item(n) for n in range(25)])
    assert clock.sleeps == [0.025]  # 0.025 + 0.05 would end past the 0.06 s budget
    assert throttled.calls["BatchWriteItem"] == 2
    assert len(left) == 3  # 9 held back, 3 of them again


def test_a_deadline_passed_in_is_shared_by_the_operations(client: Any, clock: Clock) -> None:
    throttled = HoldsBack(client, NAME, writes=True)
    layer = table(throttled, clock)
    deadline = layer.retries.deadline()
    clock.now = deadline  # the read before it used the budget up
    layer.batch_write_item([item(n) for n in range(3)], deadline)
    assert throttled.calls["BatchWriteItem"] == 1 and clock.sleeps == []


def test_guarded_turns_aws_errors_into_unavailable_and_opens_the_breaker(client: Any) -> None:
    def timeout(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://dynamodb.example")

    client.meta.events.register("before-call.dynamodb", timeout)
    layer = Table(NAME, client, breaker=CircuitBreaker(NAME, failures=2, cool_down_seconds=60))
    for _ in range(2):
        with pytest.raises(TableUnavailable):
            layer.guarded(lambda: layer.batch_get_item([key(1), key(2)]))
    assert layer.state() == "unavailable"
    with pytest.raises(TableUnavailable, match="failed recently"):
        layer.guarded(lambda: pytest.fail("an open breaker must skip the call"))


def test_a_bug_is_not_an_outage(client: Any) -> None:
    layer = Table(NAME, client, breaker=CircuitBreaker(NAME, failures=1))
    empty: dict[str, int] = {}
    with pytest.raises(KeyError):
        layer.guarded(lambda: empty["missing"])
    assert layer.state() == "ok"


def test_the_shared_client_is_made_on_first_use_and_renewed() -> None:
    shared = SharedClient(timeout_seconds=0.3)
    assert shared._client is None
    first = shared.get()
    assert shared.get() is first
    assert first.meta.config.read_timeout == 0.3
    assert first.meta.config.retries["total_max_attempts"] == 1
    shared.renew()
    assert shared.get() is not first
    # Two tables on one shared client use the same botocore client.
    cache = Table("a", shared, breaker=CircuitBreaker("a"))
    history = Table("b", shared, breaker=CircuitBreaker("b"))
    assert cache.client is history.client is shared.get()


def test_a_client_passed_in_is_kept_on_renewal(client: Any) -> None:
    shared = SharedClient(client)
    shared.renew()
    assert shared.get() is client


def test_transactions_keep_groups_whole_and_hold_at_most_100(client: Any, clock: Clock) -> None:
    sent = count_transactions(client)
    layer = table(client, clock)
    groups = [[item(3 * g), item(3 * g + 1), item(3 * g + 2)] for g in range(40)]  # 120 items
    groups.append([item(n) for n in range(200, 450)])  # a group longer than 100 is cut
    assert layer.transact_write_items(groups) == []
    assert sent == [99, 21, 100, 100, 50]  # 33 groups of 3, then the other 7 and the long one
    assert client.scan(TableName=NAME, Select="COUNT")["Count"] == 370


def test_a_cancelled_transaction_is_sent_again_then_its_items_returned(
    client: Any, clock: Clock
) -> None:
    throttled = HoldsBack(client, NAME, writes=True)  # cancels every second new transaction
    layer = table(throttled, clock)
    groups = [[item(2 * g), item(2 * g + 1)] for g in range(75)]  # 2 transactions: 100 + 50
    left = layer.transact_write_items(groups)
    assert throttled.calls["TransactWriteItems"] == 2 + 3  # the second one, three more times
    assert clock.sleeps == [0.025, 0.05, 0.1]
    assert [i["id"]["S"] for i in left] == [f"i{n:03d}" for n in range(100, 150)]
    stored = {i["id"]["S"] for i in client.scan(TableName=NAME)["Items"]}
    assert stored == {f"i{n:03d}" for n in range(100)}  # all or nothing, per transaction


def test_a_transaction_cancelled_for_another_reason_raises(client: Any, clock: Clock) -> None:
    layer = table(client, clock)
    duplicate = [[item(1), item(1)]]  # one item twice in a transaction: DynamoDB refuses it
    with pytest.raises(ClientError):
        layer.transact_write_items(duplicate)
    assert clock.sleeps == []


def count_transactions(client: Any) -> list[int]:
    """The number of actions of each TransactWriteItems the client sends."""
    sizes: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["TransactItems"]))

    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", record)
    return sizes
