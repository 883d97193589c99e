"""The result cache: one small interface, an in-memory and a DynamoDB implementation.

A cached result is keyed by the model version and the validated input, so identical input
under the same model returns the identical result and a new model never sees stale ones.
The cache is an optimisation only: any DynamoDB failure makes it report "unavailable" and
the caller scores anyway (``cache: "bypass"``). A circuit breaker (chalicelib.stores.breaker) skips
DynamoDB altogether after a few failures in a row, so a hung table costs a request nothing
while it is open.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.config import DEFAULT_DEPENDENCY_TIMEOUT_SECONDS
from chalicelib.stores import aws
from chalicelib.stores.breaker import OK, CircuitBreaker

Clock = Callable[[], float]

KEY_ATTRIBUTE = "key"
RESULT_ATTRIBUTE = "result"
VERSION_ATTRIBUTE = "model_version"
TTL_ATTRIBUTE = "expires_at"

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
UNPROCESSED_ROUNDS = 3

#: The table as template.yaml declares it (the template test checks they agree), as
#: ``create_table`` arguments for the local stack, the tests and the benchmarks.
TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def dynamodb_config(timeout_seconds: float = DEFAULT_DEPENDENCY_TIMEOUT_SECONDS) -> Config:
    """Short timeouts and a single attempt: a slow DynamoDB costs a request at most one
    connect plus one read timeout before it is bypassed; the breaker, not retries, decides
    when to ask again. (botocore's ``max_attempts`` counts retries, ``total_max_attempts``
    every attempt.)"""
    return Config(
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )


DYNAMODB_CLIENT_CONFIG = dynamodb_config()


def cache_key(model_version: str, values: Sequence[float | None]) -> str:
    """sha256 of a canonical binary form of the model version and the validated input.

    The form is the version (length-prefixed UTF-8), a bitmask of the values present, then
    every value as a little-endian float64 in the manifest's feature order (the version
    fixes that order; a missing value packs as 0.0 and is told apart by the mask). It is
    canonical by construction: ``1`` and ``1.0`` are the same float, ``-0.0`` is normalised
    to ``0.0``, and a missing, absent or ``null`` value is the same ``None`` after
    validation. Packing costs a few microseconds, where canonical JSON cost tens.
    """
    version = model_version.encode()
    present = 0
    numbers: list[float] = []
    for position, value in enumerate(values):
        if value is None:
            numbers.append(0.0)
        else:
            present |= 1 << position
            numbers.append(float(value) + 0.0)  # -0.0 + 0.0 == +0.0
    payload = b"".join(
        (
            struct.pack("<I", len(version)),
            version,
            present.to_bytes((len(numbers) + 7) // 8, "little"),
            struct.pack(f"<{len(numbers)}d", *numbers),
        )
    )
    return hashlib.sha256(payload).hexdigest()


@dataclass
class CacheLookup[T]:
    """What a bulk read found; ``available`` is False when the cache could not be asked."""

    found: dict[str, T] = field(default_factory=dict)
    available: bool = True


class ResultCache[T](Protocol):
    """Bulk read and write of scoring results (of type ``T``) by key.

    The cache does not know what a result is: the DynamoDB one stores each as text made by
    the ``encode``/``decode`` pair it is given (the composition root gives it the scored
    customer's JSON form, ``chalicelib.scoring.scored``), the in-memory one keeps the
    objects themselves.
    """

    def get_many(self, keys: Sequence[str]) -> CacheLookup[T]: ...

    def put_many(self, items: Mapping[str, T], model_version: str) -> bool:
        """Store results; False when the cache was unavailable."""
        ...

    def state(self) -> str:
        """``ok``, ``unavailable`` or ``recovering`` (chalicelib.stores.breaker), from what the
        cache already knows: the health route must not wait on a hung table."""
        ...


class InMemoryCache[T]:
    """A bounded per-container cache (tests, benchmarks, local runs without DynamoDB).

    It keeps the result objects themselves, not JSON copies: results are immutable (frozen
    dataclasses), so a copy would only cost an encode on every store and a decode on every
    hit.
    """

    def __init__(
        self, ttl_seconds: float = 3600, max_items: int = 10_000, clock: Clock = time.time
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_items = max_items
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def get_many(self, keys: Sequence[str]) -> CacheLookup[T]:
        now = self.clock()
        found: dict[str, T] = {}
        for key in keys:
            entry = self._items.get(key)
            if entry is not None and entry[0] > now:
                found[key] = entry[1]
        return CacheLookup(found)

    def put_many(self, items: Mapping[str, T], model_version: str) -> bool:
        expires_at = self.clock() + self.ttl_seconds
        for key, result in items.items():
            self._items.setdefault(key, (expires_at, result))
            self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return True

    def state(self) -> str:
        return OK


def json_text(value: Any) -> str:
    """Compact JSON: a cache item's default encoding (results given as JSON objects)."""
    return json.dumps(value, separators=(",", ":"))


class DynamoDBCache[T]:
    """Results in a DynamoDB table with partition key ``key`` (string).

    Items carry ``expires_at`` (epoch seconds) for DynamoDB's TTL; since TTL deletion lags,
    expiry is also checked on read. Single writes are conditional (``attribute_not_exists``)
    so an entry is written once; bulk writes use BatchWriteItem, which cannot be
    conditional but only ever writes the same content for the same key. Every call goes
    through ``breaker``: while it is open the cache answers "unavailable" without a call.

    The client is made on first use (``client``), not here: making one costs tens of
    milliseconds, and a container that never reads the cache need not pay them. In
    Lambda, :mod:`chalicelib.lifecycle` makes it during init, beside the model load.
    """

    def __init__(
        self,
        table_name: str,
        client: Any = None,
        ttl_seconds: int = 7 * 24 * 3600,
        clock: Clock = time.time,
        breaker: CircuitBreaker | None = None,
        timeout_seconds: float = DEFAULT_DEPENDENCY_TIMEOUT_SECONDS,
        encode: Callable[[T], str] = json_text,
        decode: Callable[[str], T] = json.loads,
    ) -> None:
        self.encode, self.decode = encode, decode
        self._client = client
        self._owns_client = client is None
        self._client_lock = threading.Lock()
        self._client_config = dynamodb_config(timeout_seconds)
        self.table_name = table_name
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.breaker = breaker or CircuitBreaker("cache")

    @property
    def client(self) -> Any:
        """The DynamoDB client, made on first use."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = aws.client("dynamodb", self._client_config)
        return self._client

    def renew_client(self) -> None:
        """A new client (no pooled connection) after a SnapStart restore; an injected
        client is kept."""
        if self._owns_client:
            with self._client_lock:
                self._client = aws.client("dynamodb", self._client_config)

    def get_many(self, keys: Sequence[str]) -> CacheLookup[T]:
        unique = list(dict.fromkeys(keys))
        items = self.breaker.call(lambda: self._read(unique), None, aws.ERRORS)
        if items is None:
            return CacheLookup(available=False)
        now = self.clock()
        found = {
            item[KEY_ATTRIBUTE]["S"]: self.decode(item[RESULT_ATTRIBUTE]["S"])
            for item in items
            if float(item[TTL_ATTRIBUTE]["N"]) > now
        }
        return CacheLookup(found)

    def _read(self, keys: list[str]) -> list[dict[str, Any]]:
        return self._get_one(keys[0]) if len(keys) == 1 else self._batch_get(keys)

    def _get_one(self, key: str) -> list[dict[str, Any]]:
        response = self.client.get_item(TableName=self.table_name, Key={KEY_ATTRIBUTE: {"S": key}})
        return [response["Item"]] if "Item" in response else []

    def _batch_get(self, keys: list[str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            chunk = keys[start : start + BATCH_GET_LIMIT]
            request: dict[str, Any] = {
                self.table_name: {"Keys": [{KEY_ATTRIBUTE: {"S": k}} for k in chunk]}
            }
            for _ in range(UNPROCESSED_ROUNDS):
                response = self.client.batch_get_item(RequestItems=request)
                items.extend(response.get("Responses", {}).get(self.table_name, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            # Keys still unprocessed after a few rounds are simply misses.
        return items

    def put_many(self, items: Mapping[str, T], model_version: str) -> bool:
        if not items:
            return True
        expires_at = str(int(self.clock() + self.ttl_seconds))
        records = [
            {
                KEY_ATTRIBUTE: {"S": key},
                RESULT_ATTRIBUTE: {"S": self.encode(result)},
                VERSION_ATTRIBUTE: {"S": model_version},
                TTL_ATTRIBUTE: {"N": expires_at},
            }
            for key, result in items.items()
        ]
        return self.breaker.call(lambda: self._write(records), False, aws.ERRORS)

    def _write(self, records: list[dict[str, Any]]) -> bool:
        if len(records) == 1:
            self._put_one(records[0])
        else:
            self._batch_write(records)
        return True

    def _put_one(self, record: dict[str, Any]) -> None:
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=record,
                # "key" is a DynamoDB reserved word: name it through a placeholder.
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": KEY_ATTRIBUTE},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def _batch_write(self, records: list[dict[str, Any]]) -> None:
        unique = list({r[KEY_ATTRIBUTE]["S"]: r for r in records}.values())
        for start in range(0, len(unique), BATCH_WRITE_LIMIT):
            request: dict[str, Any] = {
                self.table_name: [
                    {"PutRequest": {"Item": r}} for r in unique[start : start + BATCH_WRITE_LIMIT]
                ]
            }
            for _ in range(UNPROCESSED_ROUNDS):
                response = self.client.batch_write_item(RequestItems=request)
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break

    def state(self) -> str:
        return self.breaker.state
