"""Customer history: every sighting of a ``CUST_ID`` (when, model version, segment), kept.

No raw customer values are stored: only the id, the time, the model version and the
segment. A table (``HISTORY_TABLE``) with partition key ``customer_id`` and sort key ``sk``
holds two kinds of item per customer:

- ``sk = "latest"``: the newest sighting, read back as the previous one on the next visit;
- ``sk = "at#<scored_at>#<n>"``: one per sighting, the history itself.

Both carry ``expires_at`` (epoch seconds) for DynamoDB's TTL, so a customer not seen for
``HISTORY_TTL_SECONDS`` disappears. A single request costs one PutItem returning the old
``latest`` item (read and write in one atomic call) plus one PutItem for the sighting. A
batch costs BatchGetItem (100 ids a call) and, by default, TransactWriteItems (100 items a
call, each customer's sightings and latest item in one transaction): 30 calls for 1,000
customers, at twice the write units of a plain write; or, with ``HISTORY_WRITES=batch``
(the local stack: moto copies the whole table on every transaction), BatchWriteItem (25
items a call): 90 calls at single write units. All through the one DynamoDB layer
(chalicelib.stores.dynamodb: shared client, breaker, retries of unprocessed keys and
cancelled transactions under a time budget).

History is informative only, but it never claims what it did not do. Per sighting
(:class:`Recorded`): it counts as *stored* only when DynamoDB took both its own item and
its customer's ``latest`` item; one not stored, or whose previous sighting could not be
read, is not :attr:`~Recorded.answerable` (the service answers ``{"status":
"unavailable"}``), and every sighting not stored is counted (metric
``HistoryUnrecorded``, :func:`record_sightings`). A failing or hung table
(:class:`~chalicelib.stores.dynamodb.TableUnavailable`) stores none; its breaker then
skips it, like the result cache's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib import observability
from chalicelib.config import DEFAULT_HISTORY_TTL_SECONDS, HistoryWrites
from chalicelib.stores.breaker import OK
from chalicelib.stores.dynamodb import Table

Clock = Callable[[], float]

ID_ATTRIBUTE = "customer_id"
SORT_ATTRIBUTE = "sk"
TTL_ATTRIBUTE = "expires_at"
LATEST = "latest"
SIGHTING_PREFIX = "at#"

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


@dataclass(frozen=True)
class Sighting:
    """One scoring of an identified customer."""

    customer_id: str
    scored_at: str  # ISO 8601 UTC, microseconds
    model_version: str
    segment: int
    segment_name: str


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a store did with one sighting: ``stored`` when the table took it;
    ``previous`` (None: a first sighting) means something only when ``previous_known``."""

    stored: bool
    previous: Sighting | None = None
    previous_known: bool = True

    @property
    def answerable(self) -> bool:
        """May the answer say "recorded, and this was the previous sighting"?"""
        return self.stored and self.previous_known


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CustomerHistory(Protocol):
    """Record sightings, learning each one's previous sighting."""

    clock: Clock

    def state(self) -> str:
        """``ok`` / ``unavailable`` / ``recovering``, without calling the table."""
        ...

    def record(self, sightings: Sequence[Sighting]) -> list[Recorded]:
        """Store the sightings (in order): what became of each, with its previous sighting.

        Raises TableUnavailable when the table could not be used at all.
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
        return OK

    def record(self, sightings: Sequence[Sighting]) -> list[Recorded]:
        previous, latest = previous_in_order(self.latest, sightings)
        self.latest.update(latest)
        self.sightings.extend(sightings)
        return [Recorded(stored=True, previous=before) for before in previous]


class DynamoDBHistory:
    """Sightings in DynamoDB (module docstring). ``table`` (chalicelib.stores.dynamodb, the
    one DynamoDB layer) brings the client, the breaker, batching and retries."""

    def __init__(
        self,
        table: Table,
        ttl_seconds: int = DEFAULT_HISTORY_TTL_SECONDS,
        clock: Clock = time.time,
        writes: HistoryWrites = HistoryWrites.TRANSACTIONS,
    ) -> None:
        self.table = table
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.writes = writes

    def state(self) -> str:
        """The breaker's ``ok`` / ``unavailable`` / ``recovering`` (for ``/v1/health``)."""
        return self.table.state()

    def record(self, sightings: Sequence[Sighting]) -> list[Recorded]:
        if not sightings:
            return []
        if len(sightings) == 1:
            return [self.table.guarded(lambda: self._record_one(sightings[0]))]
        return self.table.guarded(lambda: self._record_many(sightings))

    def _record_one(self, sighting: Sighting) -> Recorded:
        table = self.table
        answer = table.client.put_item(
            TableName=table.name, Item=self._item(sighting, LATEST), ReturnValues="ALL_OLD"
        )
        table.client.put_item(TableName=table.name, Item=self._item(sighting, _sk(sighting, 0)))
        old = answer.get("Attributes")
        return Recorded(stored=True, previous=_sighting(old) if old else None)

    def _record_many(self, sightings: Sequence[Sighting]) -> list[Recorded]:
        deadline = self.table.retries.deadline()  # one budget for the read and the write
        ids = list(dict.fromkeys(s.customer_id for s in sightings))
        fetched = self.table.batch_get_item([_key(i, LATEST) for i in ids], deadline)
        stored = {s.customer_id: s for s in map(_sighting, fetched.items)}
        unread = {key[ID_ATTRIBUTE]["S"] for key in fetched.unprocessed}
        previous, latest = previous_in_order(stored, sightings)
        left = self._write(self._groups(sightings, latest), deadline)
        lost = {(item[ID_ATTRIBUTE]["S"], item[SORT_ATTRIBUTE]["S"]) for item in left}
        stale = {customer for customer, sort_key in lost if sort_key == LATEST}
        return [
            Recorded(
                # Taken: its own item, and its customer's latest item (what the next visit reads).
                stored=(s.customer_id, _sk(s, n)) not in lost and s.customer_id not in stale,
                previous=before,
                # Unknown only where the stored latest was needed and could not be read.
                previous_known=before is not None or s.customer_id not in unread,
            )
            for n, (s, before) in enumerate(zip(sightings, previous, strict=True))
        ]

    def _write(self, groups: list[list[dict[str, Any]]], deadline: float) -> list[dict[str, Any]]:
        """The items DynamoDB did not take, written as ``writes`` says (HistoryWrites)."""
        if self.writes is HistoryWrites.TRANSACTIONS:
            return self.table.transact_write_items(groups, deadline)
        return self.table.batch_write_item([item for group in groups for item in group], deadline)

    def _groups(
        self, sightings: Sequence[Sighting], latest: dict[str, Sighting]
    ) -> list[list[dict[str, Any]]]:
        """Per customer, its sightings' items then its new latest item: one transaction
        (when they fit in one) records a customer whole or not at all."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for position, sighting in enumerate(sightings):
            item = self._item(sighting, _sk(sighting, position))
            groups.setdefault(sighting.customer_id, []).append(item)
        for customer, sighting in latest.items():
            groups[customer].append(self._item(sighting, LATEST))
        return list(groups.values())

    def _item(self, sighting: Sighting, sort_key: str) -> dict[str, Any]:
        return {
            **_key(sighting.customer_id, sort_key),
            "scored_at": {"S": sighting.scored_at},
            "model_version": {"S": sighting.model_version},
            "segment": {"N": str(sighting.segment)},
            "segment_name": {"S": sighting.segment_name},
            TTL_ATTRIBUTE: {"N": str(int(self.clock() + self.ttl_seconds))},
        }


def _key(customer_id: str, sort_key: str) -> dict[str, Any]:
    return {ID_ATTRIBUTE: {"S": customer_id}, SORT_ATTRIBUTE: {"S": sort_key}}


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


def record_sightings(history: CustomerHistory, sightings: Sequence[Sighting]) -> list[Recorded]:
    """``history.record(sightings)``, never raising: a table that failed (or anything
    unforeseen) made every sighting not stored. Sightings not stored are counted
    (``HistoryUnrecorded``) and logged, so no loss goes unseen."""
    try:
        recorded = history.record(sightings)
    except Exception as error:  # TableUnavailable, or anything unforeseen: never fail
        observability.logger.warning("history unavailable", extra={"error": str(error)[:300]})
        recorded = [Recorded(stored=False)] * len(sightings)
    else:
        _warn_if_partial(recorded)
    unrecorded = sum(not r.stored for r in recorded)
    if unrecorded:
        observability.count_history_unrecorded(unrecorded)
    return recorded


def _warn_if_partial(recorded: Sequence[Recorded]) -> None:
    """One warning line when DynamoDB took or answered part of a batch (throttling)."""
    details = {
        "unrecorded": sum(not r.stored for r in recorded),
        "unread": sum(not r.previous_known for r in recorded),
    }
    if any(details.values()):
        observability.logger.warning(
            "history partly unavailable", extra={**details, "sightings": len(recorded)}
        )
