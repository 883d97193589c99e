"""Customer history through the real API on moto: recorded per sighting, answered as
``history``, and never the reason a request fails."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.functions.batch.test_csv_io import post_csv
from tests.functions.conftest import (
    HISTORY,
    ApiFactory,
    create_history_table,
    emitted,
    post_json,
)
from tests.functions.stores.throttled import Counted, HoldsBack, hold_back_every_write

from chalicelib.scoring.scored import SegmentHeader  # isort: skip
from chalicelib.scoring.service import histories  # isort: skip
from chalicelib import composition  # isort: skip
from chalicelib.config import HistoryWrites  # isort: skip
from chalicelib.stores import history  # isort: skip
from chalicelib.stores.dynamodb import Table  # isort: skip


@pytest.fixture
def history_table(dynamodb: Any) -> Any:
    create_history_table(dynamodb)
    return dynamodb


def examples(manifest_segments: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {s["id"]: dict(s["example"]) for s in manifest_segments}


def segments_of(api: Any) -> list[dict[str, Any]]:
    body: dict[str, Any] = api.http.get("/v1/segments").json_body
    return list(body["segments"])


def items_of(client: Any, customer: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.query(
        TableName=HISTORY,
        KeyConditionExpression="customer_id = :c",
        ExpressionAttributeValues={":c": {"S": customer}},
    )["Items"]
    return found


def test_three_sightings_answer_previous_and_moved(
    make_api: ApiFactory, published: str, history_table: Any, bundle: Any
) -> None:
    api = make_api(HISTORY_TABLE=HISTORY)
    members = examples(bundle.manifest["segments"])
    first, second = sorted(members)[:2]
    customer = {**members[first], "CUST_ID": "C-HIST-1"}

    one = post_json(api, "/v1/segment", customer).json_body
    assert one["history"] is None and one["segment"]["id"] == first

    two = post_json(api, "/v1/segment", customer).json_body
    assert two["cache"] == "hit"  # a cache hit is still a sighting
    assert two["history"]["moved"] is False
    previous = two["history"]["previous"]
    assert previous["segment"]["id"] == first
    assert previous["model_version"] == published
    assert previous["scored_at"].endswith("Z")

    moved = {**members[second], "CUST_ID": "C-HIST-1"}
    three = post_json(api, "/v1/segment", moved).json_body
    assert three["segment"]["id"] == second
    assert three["history"]["moved"] is True
    assert three["history"]["previous"]["segment"]["id"] == first
    assert three["history"]["previous"]["scored_at"] > previous["scored_at"]

    items = items_of(history_table, "C-HIST-1")
    assert len(items) == 4  # three sightings and the latest pointer
    latest = next(i for i in items if i["sk"]["S"] == history.LATEST)
    assert int(latest["segment"]["N"]) == second
    # Only the id, when, model version, segment: never the customer's values.
    assert {k for i in items for k in i} == {
        "customer_id",
        "sk",
        "scored_at",
        "model_version",
        "segment",
        "segment_name",
        "expires_at",
    }


def test_no_id_means_no_history_and_nothing_recorded(
    make_api: ApiFactory, published: str, history_table: Any, valid_row: dict[str, Any]
) -> None:
    api = make_api(HISTORY_TABLE=HISTORY)
    anonymous = {k: v for k, v in valid_row.items() if k != "CUST_ID"}
    for _ in range(2):
        assert post_json(api, "/v1/segment", anonymous).json_body["history"] is None
    assert history_table.scan(TableName=HISTORY)["Count"] == 0


def test_the_batch_route_records_in_bulk_and_sees_repeats_within_a_batch(
    make_api: ApiFactory, published: str, history_table: Any, valid_row: dict[str, Any]
) -> None:
    api = make_api(HISTORY_TABLE=HISTORY)
    rows = [{**valid_row, "CUST_ID": f"C-B-{i}"} for i in range(120)]
    rows.append({**valid_row, "CUST_ID": "C-B-3"})  # the same customer twice
    rows.append({k: v for k, v in valid_row.items() if k != "CUST_ID"})
    rows.append({**valid_row, "BALANCE": -1, "CUST_ID": "C-BAD"})  # invalid: not a sighting
    body = post_json(api, "/v1/segment/batch", {"customers": rows}).json_body
    answers: list[Any] = [e["result"]["history"] if e["ok"] else "invalid" for e in body["results"]]
    assert answers[:120] == [None] * 120
    assert answers[120]["moved"] is False and answers[121] is None and answers[122] == "invalid"

    again = post_json(api, "/v1/segment/batch", {"customers": rows[:120]}).json_body
    assert all(e["result"]["history"]["moved"] is False for e in again["results"])
    assert items_of(history_table, "C-BAD") == []
    assert len(items_of(history_table, "C-B-3")) == 4  # 3 sightings + latest


def test_a_csv_batch_records_and_answers_history_like_a_json_batch(
    make_api: ApiFactory, published: str, history_table: Any, valid_row: dict[str, Any]
) -> None:
    api = make_api(HISTORY_TABLE=HISTORY)
    row = {**valid_row, "CUST_ID": "C-CSV-1"}
    post_json(api, "/v1/segment/batch", {"customers": [row]})  # first sighting, as JSON
    names = list(row)
    text = ",".join(names) + "\n" + ",".join(str(row[n]) for n in names) + "\n"
    (entry,) = post_csv(api, text).json_body["results"]
    assert entry["result"]["history"]["moved"] is False
    assert entry["result"]["history"]["previous"]["model_version"] == published
    assert len(items_of(history_table, "C-CSV-1")) == 3  # 2 sightings + latest


def test_with_the_history_table_down_every_request_is_still_answered(
    make_api: ApiFactory, published: str, valid_row: dict[str, Any]
) -> None:
    api = make_api(HISTORY_TABLE="no-such-table")
    answers = [post_json(api, "/v1/segment", {**valid_row, "CUST_ID": f"C{i}"}) for i in range(40)]
    assert [r.status_code for r in answers] == [200] * 40
    assert all(r.json_body["history"] == {"status": "unavailable"} for r in answers)
    assert answers[0].json_body["cache"] == "miss" and answers[1].json_body["cache"] == "hit"
    rows = [{**valid_row, "CUST_ID": f"C{i}"} for i in range(200)]
    batch = post_json(api, "/v1/segment/batch", {"customers": rows})
    assert batch.status_code == 200
    entries = batch.json_body["results"]
    assert all(e["result"]["history"] == {"status": "unavailable"} for e in entries)


def test_without_a_history_table_history_is_disabled(
    make_api: ApiFactory, published: str, valid_row: dict[str, Any]
) -> None:
    api = make_api(HISTORY_TABLE="")
    assert post_json(api, "/v1/segment", valid_row).json_body["history"] == {"status": "disabled"}


class _Down:
    """A DynamoDB client whose every call fails like a timed-out connection."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        def fail(**_: Any) -> Any:
            from botocore.exceptions import ReadTimeoutError

            self.calls += 1
            raise ReadTimeoutError(endpoint_url="http://127.0.0.1:1")

        return fail


def history_answers(
    store: history.CustomerHistory, seen: list[tuple[str | None, int]]
) -> list[dict[str, Any] | None]:
    """The ``history`` field the service answers for rows scored into these segments."""
    rows = [(customer, SegmentHeader(s, f"s{s}", "", "")) for customer, s in seen]
    answers = histories(store, "v1", rows)
    return [None if a is None else a.to_json(s) for a, (_, s) in zip(answers, seen, strict=True)]


def test_a_timing_out_table_gives_unavailable_then_the_breaker_skips_it() -> None:
    from chalicelib.stores.breaker import CircuitBreaker

    now = [0.0]
    client = _Down()
    breaker = CircuitBreaker("history", failures=3, cool_down_seconds=10, clock=lambda: now[0])
    store = history.DynamoDBHistory(Table("t", client, breaker=breaker))
    for _ in range(10):
        answers = history_answers(store, [("A", 1), (None, 1), ("B", 1)])
        assert answers == [{"status": "unavailable"}, None, {"status": "unavailable"}]
    assert client.calls == 3  # then open: no more calls while it cools down
    assert store.state() == "unavailable"
    now[0] = 11.0
    history_answers(store, [("A", 1)])
    assert client.calls == 4  # one probe after the cool-down


def test_health_reports_the_history_breaker(
    make_api: ApiFactory, published: str, history_table: Any
) -> None:
    assert make_api(HISTORY_TABLE=HISTORY).http.get("/v1/health").json_body["history"] == "ok"
    assert make_api(HISTORY_TABLE="").http.get("/v1/health").json_body["history"] == "disabled"


def test_in_memory_and_dynamodb_histories_agree(aws: None) -> None:
    client = boto3.client("dynamodb")
    create_history_table(client)
    clock = iter(range(1_000, 2_000))
    stores: list[history.CustomerHistory] = [
        history.InMemoryHistory(clock=lambda: next(clock)),
        history.DynamoDBHistory(Table(HISTORY, client), clock=lambda: next(clock)),
    ]
    seen = []
    for store in stores:
        answers: list[list[Any]] = []
        for segments in ([0, 1], [1], [1, 2, 2]):
            answers.append(history_answers(store, [("A", s) for s in segments]))
        seen.append([[a and a["moved"] for a in batch] for batch in answers])
    assert seen[0] == seen[1] == [[None, True], [False], [False, True, False]]


# --- a throttled table: nothing lost silently ---------------------------------------


def sighting_in_table(client: Any, customer: str, answer_time: str) -> bool:
    """The customer's sighting of ``answer_time`` is stored, and its latest item says so."""
    items = {i["sk"]["S"]: i for i in items_of(client, customer)}
    latest = items.get(history.LATEST)
    stored = any(
        sk.startswith(history.SIGHTING_PREFIX) and i["scored_at"]["S"] == answer_time
        for sk, i in items.items()
    )
    return stored and latest is not None and latest["scored_at"]["S"] == answer_time


@pytest.mark.parametrize("writes", list(HistoryWrites))
def test_writes_dynamodb_leaves_unprocessed_are_never_answered_as_recorded(
    aws: None, writes: HistoryWrites
) -> None:
    """Fails before the fix: the held-back sightings were dropped and answered ``null``
    (first sighting, recorded). Batch writes leave items unprocessed, transactions are
    cancelled (throttled)."""
    client = boto3.client("dynamodb")
    create_history_table(client)
    throttled = HoldsBack(client, HISTORY, writes=True)
    store = history.DynamoDBHistory(Table(HISTORY, throttled), clock=lambda: 1_000.0, writes=writes)
    customers = [f"C{i:03d}" for i in range(60)]  # 120 items: 5 batch writes or 2 transactions
    answers = history_answers(store, [(c, 1) for c in customers])
    when = history.iso(1_000.0)
    unavailable = [a == {"status": "unavailable"} for a in answers]
    for customer, lost in zip(customers, unavailable, strict=True):
        assert lost or sighting_in_table(client, customer, when), customer
    assert any(unavailable) and not all(unavailable)  # held back: some, not all


def test_reads_dynamodb_leaves_unprocessed_are_answered_unavailable_not_first(aws: None) -> None:
    """Customers whose latest sighting could not be read answer ``unavailable`` (never a
    wrong "first sighting"); the others answer their previous sighting."""
    client = boto3.client("dynamodb")
    create_history_table(client)
    customers = [f"C{i:03d}" for i in range(150)]  # 2 BatchGetItem requests
    batch = HistoryWrites.BATCH  # (the reads are the point: moto's transactions are slow)
    history_answers(
        history.DynamoDBHistory(Table(HISTORY, client), clock=lambda: 1_000.0, writes=batch),
        [(c, 1) for c in customers],
    )
    throttled = HoldsBack(client, HISTORY, writes=False, reads=True)
    store = history.DynamoDBHistory(Table(HISTORY, throttled), clock=lambda: 2_000.0, writes=batch)
    answers: list[Any] = history_answers(store, [(c, 1) for c in customers])
    unavailable = [a == {"status": "unavailable"} for a in answers]
    for answer, lost in zip(answers, unavailable, strict=True):
        assert lost or answer["previous"]["scored_at"] == history.iso(1_000.0)
    assert any(unavailable) and not all(unavailable)


def test_a_table_that_takes_no_write_answers_unavailable_and_counts_every_sighting(
    make_api: ApiFactory,
    published: str,
    history_table: Any,
    valid_row: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Through the API: every BatchWriteItem answered "all unprocessed" (a throttled
    table); nothing is recorded, so no identified row may say it was."""
    api = make_api(HISTORY_TABLE=HISTORY, POWERTOOLS_METRICS_DISABLED="false")
    store = composition.get_history()
    assert isinstance(store, history.DynamoDBHistory)
    held = hold_back_every_write(store.table.client, HISTORY)
    rows = [{**valid_row, "CUST_ID": f"C-T-{i}"} for i in range(30)]
    rows.append({k: v for k, v in valid_row.items() if k != "CUST_ID"})
    capfd.readouterr()
    body = post_json(api, "/v1/segment/batch", {"customers": rows}).json_body
    answers = [e["result"]["history"] for e in body["results"]]
    assert answers == [{"status": "unavailable"}] * 30 + [None]
    assert history_table.scan(TableName=HISTORY)["Count"] == 0
    assert held and sum(held) >= 60  # sent, and sent again
    metrics = [r for r in emitted(capfd.readouterr().out) if "_aws" in r]
    (counted,) = [r["HistoryUnrecorded"] for r in metrics if "HistoryUnrecorded" in r]
    # (metrics of earlier requests with metrics disabled are still queued before this one's)
    assert (counted[-1] if isinstance(counted, list) else counted) == 30


def test_a_store_says_what_became_of_each_sighting(aws: None) -> None:
    client = boto3.client("dynamodb")
    create_history_table(client)
    store = history.DynamoDBHistory(Table(HISTORY, client), clock=lambda: 1_000.0)
    when = history.iso(1_000.0)
    first, other, again = (
        history.Sighting("A", when, "v1", 1, "one"),
        history.Sighting("B", when, "v1", 1, "one"),
        history.Sighting("A", when, "v1", 2, "two"),
    )
    recorded = store.record([first, other, again])
    assert recorded == [
        history.Recorded(stored=True),
        history.Recorded(stored=True),
        history.Recorded(stored=True, previous=first),  # earlier in the same batch
    ]
    assert all(r.answerable for r in recorded)
    (later,) = store.record([history.Sighting("A", history.iso(2_000.0), "v1", 2, "two")])
    assert later == history.Recorded(stored=True, previous=again)
    assert not history.Recorded(stored=False).answerable
    assert not history.Recorded(stored=True, previous_known=False).answerable


def test_a_batch_of_1000_customers_costs_at_most_45_dynamodb_calls(aws: None) -> None:
    """Issue 18: half of the 90 calls BatchWriteItem took (10 BatchGetItem of the latest
    sightings, 20 TransactWriteItems of 1,000 sightings and 1,000 latest items)."""
    client = boto3.client("dynamodb")
    create_history_table(client)
    counted = Counted(client)
    now = [1_000.0]
    store = history.DynamoDBHistory(Table(HISTORY, counted), clock=lambda: now[0])
    customers = [f"C{i:04d}" for i in range(1000)]
    for seen_before in (False, True):  # first sightings, then seen again
        now[0] += 1_000
        counted.calls.clear()
        answers = history_answers(store, [(c, 1) for c in customers])
        assert all((a is not None) == seen_before for a in answers)
        assert counted.calls == {"BatchGetItem": 10, "TransactWriteItems": 20}
    assert client.scan(TableName=HISTORY, Select="COUNT")["Count"] == 3000
