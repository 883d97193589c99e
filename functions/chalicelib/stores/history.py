"""Customer history: every sighting of a ``CUST_ID`` (when, model version, segment), kept.

No raw customer values are stored: only the id, the time, the model version and the
segment. A table (``HISTORY_TABLE``) with partition key ``customer_id`` and sort key ``sk``
holds two kinds of item per customer:

- ``sk = "latest"``: the newest sighting, read back as the previous one on the next visit;
- ``sk = "at#<scored_at>#<n>"``: one per sighting, the history itself.

Both carry ``expires_at`` (epoch seconds) for DynamoDB's TTL, so a customer not seen for
``HISTORY_TTL_SECONDS`` disappears. A single request costs one PutItem returning the old
``latest`` item (read and write in one atomic call) plus one PutItem for the sighting; a
batch costs BatchGetItem (100 ids a call) and BatchWriteItem (25 items a call).

History is informative only: any DynamoDB failure raises :class:`HistoryUnavailable`,
which the service turns into ``history: {"status": "unavailable"}``. Calls go through a
circuit breaker (chalicelib.stores.breaker) and a client with one attempt and short timeouts
(``DEPENDENCY_TIMEOUT_SECONDS``), like the result cache's: a table that hangs costs one
timeout per call until the breaker opens, then nothing until its probe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.config import DEFAULT_DEPENDENCY_TIMEOUT_SECONDS, DEFAULT_HISTORY_TTL_SECONDS
from chalicelib.stores import aws
from chalicelib.stores.breaker import CircuitBreaker
from chalicelib.stores.cache import dynamodb_config

Clock = Callable[[], float]

ID_ATTRIBUTE = "customer_id"
SORT_ATTRIBUTE = "sk"
TTL_ATTRIBUTE = "expires_at"
LATEST = "latest"
SIGHTING_PREFIX = "at#"
BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
UNPROCESSED_ROUNDS = 3

#: The table as template.yaml declares it (the template test checks they agree), as
#: ``create_table`` arguments for the local stack, the tests and the benchmarks.
TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": ID_ATTRIBUTE, "AttributeType": "S"},
        {"AttributeName": SORT_ATTRIBUTE, "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": ID_ATTRIBUTE, "KeyType": "HASH"},
        {"AttributeName": SORT_ATTRIBUTE, "KeyType": "RANGE"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


class HistoryUnavailable(Exception):
    """The history table could not be read or written."""


@dataclass(frozen=True)
class Sighting:
    """One scoring of an identified customer."""

    customer_id: str
    scored_at: str  # ISO 8601 UTC, microseconds
    model_version: str
    segment: int
    segment_name: str


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CustomerHistory(Protocol):
    """Record sightings, learning each one's previous sighting."""

    clock: Clock

    def state(self) -> str:
        """``ok`` / ``unavailable`` / ``recovering``, without calling the table."""
        ...

    def record(self, sightings: Sequence[Sighting]) -> list[Sighting | None]:
        """Store the sightings (in order); the previous sighting of each, None for a first.

        Raises HistoryUnavailable.
        """
        ...


def previous_in_order(
    stored: dict[str, Sighting], sightings: Sequence[Sighting]
) -> tuple[list[Sighting | None], dict[str, Sighting]]:
    """Each sighting's predecessor: the stored latest, or an earlier one in the same batch;
    and the new latest per customer."""
    latest = dict(stored)
    previous: list[Sighting | None] = []
    for sighting in sightings:
        previous.append(latest.get(sighting.customer_id))
        latest[sighting.customer_id] = sighting
    return previous, {s.customer_id: latest[s.customer_id] for s in sightings}


class InMemoryHistory:
    """The same behaviour in a dict (tests, benchmarks, local runs without DynamoDB)."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self.latest: dict[str, Sighting] = {}
        self.sightings: list[Sighting] = []

    def state(self) -> str:
        return "ok"

    def record(self, sightings: Sequence[Sighting]) -> list[Sighting | None]:
        previous, latest = previous_in_order(self.latest, sightings)
        self.latest.update(latest)
        self.sightings.extend(sightings)
        return previous


class DynamoDBHistory:
    """Sightings in DynamoDB (module docstring); the client is made on first use."""

    def __init__(
        self,
        table_name: str,
        client: Any = None,
        ttl_seconds: int = DEFAULT_HISTORY_TTL_SECONDS,
        clock: Clock = time.time,
        breaker: CircuitBreaker | None = None,
        timeout_seconds: float = DEFAULT_DEPENDENCY_TIMEOUT_SECONDS,
    ) -> None:
        self.table_name = table_name
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.breaker = breaker or CircuitBreaker("history")
        self.timeout_seconds = timeout_seconds
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb", dynamodb_config(self.timeout_seconds))
        return self._client

    def state(self) -> str:
        """The breaker's ``ok`` / ``unavailable`` / ``recovering`` (for ``/v1/health``)."""
        return self.breaker.state

    def record(self, sightings: Sequence[Sighting]) -> list[Sighting | None]:
        if not sightings:
            return []
        if not self.breaker.allow():
            raise HistoryUnavailable("skipped: the history table failed recently")
        try:
            if len(sightings) == 1:
                previous = [self._record_one(sightings[0])]
            else:
                previous = self._record_many(sightings)
        except (*aws.ERRORS, HistoryUnavailable) as error:
            self.breaker.failed()
            raise HistoryUnavailable(str(error)) from error
        self.breaker.succeeded()
        return previous

    def _record_one(self, sighting: Sighting) -> Sighting | None:
        answer = self.client.put_item(
            TableName=self.table_name,
            Item=self._item(sighting, LATEST),
            ReturnValues="ALL_OLD",
        )
        self.client.put_item(TableName=self.table_name, Item=self._item(sighting, _sk(sighting, 0)))
        old = answer.get("Attributes")
        return None if not old else _sighting(old)

    def _record_many(self, sightings: Sequence[Sighting]) -> list[Sighting | None]:
        stored = self._latest_of(list(dict.fromkeys(s.customer_id for s in sightings)))
        previous, latest = previous_in_order(stored, sightings)
        items = [self._item(s, _sk(s, n)) for n, s in enumerate(sightings)]
        items += [self._item(s, LATEST) for s in latest.values()]
        self._write(items)
        return previous

    def _latest_of(self, ids: list[str]) -> dict[str, Sighting]:
        found: dict[str, Sighting] = {}
        for start in range(0, len(ids), BATCH_GET_LIMIT):
            keys = [
                {ID_ATTRIBUTE: {"S": i}, SORT_ATTRIBUTE: {"S": LATEST}}
                for i in ids[start : start + BATCH_GET_LIMIT]
            ]
            request: dict[str, Any] = {self.table_name: {"Keys": keys}}
            for _ in range(UNPROCESSED_ROUNDS):
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    sighting = _sighting(item)
                    found[sighting.customer_id] = sighting
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            if request:  # a throttled table: better no answer than a wrong "first sighting"
                raise HistoryUnavailable("history reads were throttled")
        return found

    def _write(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), BATCH_WRITE_LIMIT):
            chunk = items[start : start + BATCH_WRITE_LIMIT]
            request: dict[str, Any] = {
                self.table_name: [{"PutRequest": {"Item": item}} for item in chunk]
            }
            for _ in range(UNPROCESSED_ROUNDS):
                response = self.client.batch_write_item(RequestItems=request)
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break

    def _item(self, sighting: Sighting, sort_key: str) -> dict[str, Any]:
        return {
            ID_ATTRIBUTE: {"S": sighting.customer_id},
            SORT_ATTRIBUTE: {"S": sort_key},
            "scored_at": {"S": sighting.scored_at},
            "model_version": {"S": sighting.model_version},
            "segment": {"N": str(sighting.segment)},
            "segment_name": {"S": sighting.segment_name},
            TTL_ATTRIBUTE: {"N": str(int(self.clock() + self.ttl_seconds))},
        }


def _sk(sighting: Sighting, position: int) -> str:
    """Unique within a batch too (one timestamp per batch, so the position breaks ties)."""
    return f"{SIGHTING_PREFIX}{sighting.scored_at}#{position:04d}"


def _sighting(item: dict[str, Any]) -> Sighting:
    return Sighting(
        customer_id=item[ID_ATTRIBUTE]["S"],
        scored_at=item["scored_at"]["S"],
        model_version=item["model_version"]["S"],
        segment=int(item["segment"]["N"]),
        segment_name=item["segment_name"]["S"],
    )
