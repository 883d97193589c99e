"""The result cache: one small interface, an in-memory and a DynamoDB implementation.

A cached result is keyed by the model version and the validated input, so identical input
under the same model returns the identical result and a new model never sees stale ones.
The cache is an optimisation only: any DynamoDB failure makes it report "unavailable" and
the caller scores anyway (``cache: "bypass"``). A circuit breaker (chalicelib.stores.breaker) skips
DynamoDB altogether after a few failures in a row, so a hung table costs a request nothing
while it is open. Client, breaker and batching come from the one DynamoDB layer
(chalicelib.stores.dynamodb), shared with the customer history.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.stores.breaker import OK
from chalicelib.stores.dynamodb import Table, TableUnavailable

Clock = Callable[[], float]

KEY_ATTRIBUTE = "key"
RESULT_ATTRIBUTE = "result"
VERSION_ATTRIBUTE = "model_version"
TTL_ATTRIBUTE = "expires_at"

#: The table as template.yaml declares it (the template test checks they agree), as
#: ``create_table`` arguments for the local stack, the tests and the benchmarks.
TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
    "BillingMode": "PAY_PER_REQUEST",
}


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
    through the table's breaker (chalicelib.stores.dynamodb): while it is open the cache
    answers "unavailable" without a call.

    Keys and items DynamoDB still leaves unprocessed after the layer's retries are simply
    misses and not cached: the cache is an optimisation, a row it does not serve is scored.
    (History, by contrast, must say so: chalicelib.stores.history.)

    ``table`` (chalicelib.stores.dynamodb) brings the client, the breaker and the retries.
    """

    def __init__(
        self,
        table: Table,
        ttl_seconds: int = 7 * 24 * 3600,
        clock: Clock = time.time,
        encode: Callable[[T], str] = json_text,
        decode: Callable[[str], T] = json.loads,
    ) -> None:
        self.encode, self.decode = encode, decode
        self.table = table
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    def get_many(self, keys: Sequence[str]) -> CacheLookup[T]:
        unique = list(dict.fromkeys(keys))
        try:
            items = self.table.guarded(lambda: self._read(unique))
        except TableUnavailable:
            return CacheLookup(available=False)
        now = self.clock()
        found = {
            item[KEY_ATTRIBUTE]["S"]: self.decode(item[RESULT_ATTRIBUTE]["S"])
            for item in items
            if float(item[TTL_ATTRIBUTE]["N"]) > now
        }
        return CacheLookup(found)

    def _read(self, keys: list[str]) -> list[dict[str, Any]]:
        if len(keys) == 1:
            return self._get_one(keys[0])
        return self.table.batch_get_item([{KEY_ATTRIBUTE: {"S": k}} for k in keys]).items

    def _get_one(self, key: str) -> list[dict[str, Any]]:
        table = self.table
        response = table.client.get_item(TableName=table.name, Key={KEY_ATTRIBUTE: {"S": key}})
        return [response["Item"]] if "Item" in response else []

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
        try:
            self.table.guarded(lambda: self._write(records))
        except TableUnavailable:
            return False
        return True

    def _write(self, records: list[dict[str, Any]]) -> None:
        if len(records) == 1:
            self._put_one(records[0])
        else:
            self.table.batch_write_item(list({r[KEY_ATTRIBUTE]["S"]: r for r in records}.values()))

    def _put_one(self, record: dict[str, Any]) -> None:
        try:
            self.table.client.put_item(
                TableName=self.table.name,
                Item=record,
                # "key" is a DynamoDB reserved word: name it through a placeholder.
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": KEY_ATTRIBUTE},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def state(self) -> str:
        return self.table.state()
