"""The one DynamoDB layer under the result cache and the customer history.

Both tables are optional dependencies, so both want the same things from DynamoDB, and
this module is the only place they are written:

- **one client per container** (:class:`SharedClient`): short timeouts and one attempt
  (:func:`client_config`; the circuit breaker, not botocore's retries, decides when to ask
  a failing table again), made on first use, renewed after a SnapStart restore;
- **the breaker at the boundary** (:meth:`Table.guarded`): an AWS error or an open
  breaker becomes :class:`TableUnavailable`, the one exception the adapters handle;
- **batched reads and writes that say what they did not do**
  (:meth:`Table.batch_get_item`, :meth:`Table.batch_write_item`,
  :meth:`Table.transact_write_items`): requests cut to DynamoDB's limits; keys and items
  DynamoDB leaves unprocessed, and transactions it cancels for throughput or a conflict,
  are sent again, after a short backoff that doubles, for at most ``ROUNDS`` rounds and
  only while the operation's time budget lasts (``RETRY_BUDGET_SECONDS`` from its start;
  the first round is always sent whole). What is still not taken then is *returned*,
  never dropped: each adapter decides what it means (a cache miss, or a history row
  answered ``unavailable``).

A partly taken batch is not a failure for the breaker: the table answered. A call that
raises (timeout, throttling of a whole request, missing table) is.

Items and keys are in DynamoDB's low-level form (``{"customer_id": {"S": "C1"}}``); the
table definitions stay with their adapters (one per table). The batch methods are named
after the operation they complete, so tests/infra/test_template.py attributes the
operation to the adapter that calls it (and checks the IAM grants of its table).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.config import DEFAULT_DEPENDENCY_TIMEOUT_SECONDS
from chalicelib.stores import aws
from chalicelib.stores.breaker import CircuitBreaker

R = TypeVar("R")
T = TypeVar("T")
Item = dict[str, Any]
"""An item or a key in DynamoDB's attribute-value form."""

BATCH_GET_LIMIT: Final = 100  # keys per BatchGetItem request (DynamoDB's limit)
BATCH_WRITE_LIMIT: Final = 25  # items per BatchWriteItem request (DynamoDB's limit)
TRANSACT_WRITE_LIMIT: Final = 100  # actions per TransactWriteItems request (DynamoDB's limit)
#: Why DynamoDB may cancel a transaction that is worth sending again (every other reason,
#: e.g. ``ValidationError``, is a bug and raises). ``None`` marks the actions that were fine.
RETRYABLE_CANCELLATIONS: Final = frozenset(
    {"None", "ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded"}
)
ROUNDS: Final = 4  # sends of one key or item at most: the first and three retries
FIRST_BACKOFF_SECONDS: Final = 0.025  # before the first retry round; doubles each round
RETRY_BUDGET_SECONDS: Final = 1.0  # no retry round starts later than this after the operation


class TableUnavailable(Exception):
    """The table was not asked (its breaker is open) or the call failed."""


def client_config(timeout_seconds: float = DEFAULT_DEPENDENCY_TIMEOUT_SECONDS) -> Config:
    """Short timeouts and a single attempt: a slow DynamoDB costs a request at most one
    connect plus one read timeout before it is bypassed; the breaker, not retries, decides
    when to ask again. (botocore's ``max_attempts`` counts retries, ``total_max_attempts``
    every attempt.)"""
    return Config(
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )


class SharedClient:
    """The container's DynamoDB client, made on first use and shared by every table.

    Making one costs tens of milliseconds, so it is made once (in Lambda during init, see
    chalicelib.lifecycle) and renewed by :meth:`renew` after a SnapStart restore: its pooled
    connections belong to the machine the snapshot was taken on. A client passed in (tests,
    benchmarks) is used as it is and never renewed.
    """

    def __init__(
        self, client: Any = None, timeout_seconds: float = DEFAULT_DEPENDENCY_TIMEOUT_SECONDS
    ) -> None:
        self._client = client
        self._owned = client is None
        self._config = client_config(timeout_seconds)
        self._lock = threading.Lock()

    @classmethod
    def of(cls, client: Any, timeout_seconds: float) -> SharedClient:
        """``client`` if it is already shared, else a shared client around it (or a new one)."""
        return client if isinstance(client, SharedClient) else cls(client, timeout_seconds)

    def get(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = aws.client("dynamodb", self._config)
        return self._client

    def renew(self) -> None:
        """A new client (no pooled connection); a client passed in is kept."""
        if self._owned:
            with self._lock:
                self._client = aws.client("dynamodb", self._config)


@dataclass(frozen=True)
class Retries:
    """How unprocessed keys and items are sent again (module docstring); tests shorten it."""

    rounds: int = ROUNDS
    first_backoff_seconds: float = FIRST_BACKOFF_SECONDS
    budget_seconds: float = RETRY_BUDGET_SECONDS
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def deadline(self) -> float:
        """When an operation starting now must stop retrying (on ``clock``)."""
        return self.clock() + self.budget_seconds


@dataclass(frozen=True)
class Fetched:
    """What a batched read got: the items found, and the keys DynamoDB left unprocessed
    (neither found nor known to be absent)."""

    items: list[Item] = field(default_factory=list)
    unprocessed: list[Item] = field(default_factory=list)


class Table:
    """One DynamoDB table of an optional dependency: its name, breaker and client.

    ``client`` is a :class:`SharedClient` (the composition root shares one between the
    tables), a botocore client (tests, benchmarks), or None for one of its own made on
    first use. ``breaker`` defaults to one named after the table; the service names its
    breakers after the dependency (``cache``, ``history``: the metrics' names).
    """

    def __init__(
        self,
        name: str,
        client: Any = None,
        *,
        breaker: CircuitBreaker | None = None,
        timeout_seconds: float = DEFAULT_DEPENDENCY_TIMEOUT_SECONDS,
        retries: Retries | None = None,
    ) -> None:
        self.name = name
        self.shared = SharedClient.of(client, timeout_seconds)
        self.breaker = breaker or CircuitBreaker(name)
        self.retries = retries or Retries()

    @property
    def client(self) -> Any:
        return self.shared.get()

    def state(self) -> str:
        """The breaker's ``ok`` / ``unavailable`` / ``recovering``, without a call."""
        return self.breaker.state

    def guarded(self, work: Callable[[], R]) -> R:
        """``work()`` through the breaker; raises TableUnavailable when the breaker skips it
        or it fails with an AWS error (anything else is a bug and raises as it is)."""
        if not self.breaker.allow():
            raise TableUnavailable(f"skipped: table {self.name} failed recently")
        try:
            result = work()
        except aws.ERRORS as error:
            self.breaker.failed()
            raise TableUnavailable(str(error)) from error
        self.breaker.succeeded()
        return result

    def batch_get_item(self, keys: Sequence[Item], deadline: float | None = None) -> Fetched:
        """BatchGetItem for any number of distinct keys. Raises the client's errors."""
        found: list[Item] = []

        def send(chunk: list[Item]) -> list[Item]:
            request = {self.name: {"Keys": chunk}}
            response = self.client.batch_get_item(RequestItems=request)
            found.extend(response.get("Responses", {}).get(self.name, []))
            left: list[Item] = response.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys")
            return left or []

        left = self._in_rounds(list(keys), BATCH_GET_LIMIT, send, deadline)
        return Fetched(found, left)

    def batch_write_item(self, items: Sequence[Item], deadline: float | None = None) -> list[Item]:
        """BatchWriteItem (puts) of any number of items with distinct keys; returns the items
        DynamoDB had still not taken when the retries ended. Raises the client's errors."""

        def send(chunk: list[Item]) -> list[Item]:
            request = {self.name: [{"PutRequest": {"Item": item}} for item in chunk]}
            response = self.client.batch_write_item(RequestItems=request)
            left = response.get("UnprocessedItems", {}).get(self.name, [])
            return [entry["PutRequest"]["Item"] for entry in left]

        return self._in_rounds(list(items), BATCH_WRITE_LIMIT, send, deadline)

    def transact_write_items(
        self, groups: Sequence[Sequence[Item]], deadline: float | None = None
    ) -> list[Item]:
        """Puts of any number of items in TransactWriteItems requests, each taken whole or
        not at all (at twice the write units of a BatchWriteItem put).

        A group (e.g. one customer's items) stays in one transaction when it fits (at most
        ``TRANSACT_WRITE_LIMIT`` items; a longer one is cut). A transaction DynamoDB
        cancels for throughput or a conflict (``RETRYABLE_CANCELLATIONS``) is sent again
        like unprocessed items; returns the items of those still cancelled when the
        retries ended. Raises the client's errors (any other cancellation too).
        """

        def send(chunk: list[list[Item]]) -> list[list[Item]]:
            (transaction,) = chunk
            actions = [{"Put": {"TableName": self.name, "Item": item}} for item in transaction]
            try:
                self.client.transact_write_items(TransactItems=actions)
            except ClientError as error:
                if not _cancelled_for_throughput(error):
                    raise
                return chunk
            return []

        left = self._in_rounds(_pack(groups, TRANSACT_WRITE_LIMIT), 1, send, deadline)
        return [item for transaction in left for item in transaction]

    def _in_rounds(
        self,
        pending: list[T],
        limit: int,
        send: Callable[[list[T]], list[T]],
        deadline: float | None,
    ) -> list[T]:
        """Send ``pending`` in requests of ``limit``; send what comes back again, round after
        round (module docstring); return what is left."""
        retries = self.retries
        ends = retries.deadline() if deadline is None else deadline
        backoff = retries.first_backoff_seconds
        for round_ in range(retries.rounds):
            if round_:
                if not pending or retries.clock() + backoff > ends:
                    break
                retries.sleep(backoff)
                backoff *= 2
            left: list[T] = []
            for start in range(0, len(pending), limit):
                left += send(pending[start : start + limit])
            pending = left
        return pending


def _pack(groups: Sequence[Sequence[Item]], limit: int) -> list[list[Item]]:
    """The groups in order, in lists of at most ``limit`` items, no group cut that fits."""
    packed: list[list[Item]] = []
    current: list[Item] = []
    for group in groups:
        for start in range(0, len(group), limit):
            piece = group[start : start + limit]
            if len(current) + len(piece) > limit:
                packed.append(current)
                current = []
            current.extend(piece)
    if current:
        packed.append(current)
    return packed


def _cancelled_for_throughput(error: ClientError) -> bool:
    """A cancelled transaction that nothing but load or a concurrent write stopped."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons", [])
    return all(reason.get("Code", "None") in RETRYABLE_CANCELLATIONS for reason in reasons)
