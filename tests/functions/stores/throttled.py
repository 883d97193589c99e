"""A real DynamoDB client (moto's) that holds back part of every batch request, as a
throttled table does: the tests wrap the AWS client, never our own code."""

from __future__ import annotations

import json
import math
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders


class HoldsBack:
    """Delegates to ``client``; for ``table``, the last third (rounded up) of each
    BatchWriteItem / BatchGetItem request is answered as unprocessed, on every round, so
    the tail of a request is never taken however often it is sent again.

    ``writes`` / ``reads`` choose which operations are held back. ``calls`` counts the
    requests that reached the wrapper, by operation name.
    """

    def __init__(self, client: Any, table: str, *, writes: bool = True, reads: bool = False):
        self.client = client
        self.table = table
        self.writes = writes
        self.reads = reads
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def batch_write_item(self, RequestItems: dict[str, Any], **rest: Any) -> Any:
        self._count("BatchWriteItem")
        requests = dict(RequestItems)
        held = _tail(requests.get(self.table, [])) if self.writes else []
        if held:
            requests[self.table] = requests[self.table][: -len(held)]
        answer = self._send(self.client.batch_write_item, requests, **rest)
        unprocessed = answer.setdefault("UnprocessedItems", {})
        if held:
            unprocessed[self.table] = unprocessed.get(self.table, []) + held
        return answer

    def batch_get_item(self, RequestItems: dict[str, Any], **rest: Any) -> Any:
        self._count("BatchGetItem")
        requests = {name: dict(request) for name, request in RequestItems.items()}
        held = _tail(requests[self.table]["Keys"]) if self.reads and self.table in requests else []
        if held:
            requests[self.table]["Keys"] = requests[self.table]["Keys"][: -len(held)]
        answer = self._send(self.client.batch_get_item, requests, **rest)
        answer.setdefault("Responses", {}).setdefault(self.table, [])
        unprocessed = answer.setdefault("UnprocessedKeys", {})
        if held:
            previous = unprocessed.get(self.table, {}).get("Keys", [])
            unprocessed[self.table] = {"Keys": previous + held}
        return answer

    def _send(self, operation: Any, requests: dict[str, Any], **rest: Any) -> dict[str, Any]:
        requests = {name: request for name, request in requests.items() if _nonempty(request)}
        if not requests:
            return {}
        answer: dict[str, Any] = operation(RequestItems=requests, **rest)
        return answer

    def _count(self, operation: str) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1


def _tail(entries: list[Any]) -> list[Any]:
    return entries[len(entries) - math.ceil(len(entries) / 3) :] if entries else []


def _nonempty(request: Any) -> bool:
    return bool(request["Keys"] if isinstance(request, dict) else request)


def hold_back_every_write(client: Any, table: str) -> list[int]:
    """Answer every BatchWriteItem for ``table`` on this botocore client with all its items
    unprocessed, without sending it (a table throttled throughout). Returns a list that
    grows by the number of items held back per request."""
    held: list[int] = []

    def answer(params: dict[str, Any], **_: Any) -> Any:
        request = json.loads(params["body"])["RequestItems"]
        if set(request) != {table}:
            return None
        held.append(len(request[table]))
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), {"UnprocessedItems": request}

    client.meta.events.register("before-call.dynamodb.BatchWriteItem", answer)
    return held


class HoldingProxy:
    """The ``change`` of tests/servers.start_proxy for a throttled ``table``: the tail third
    of every BatchWriteItem for it is answered as UnprocessedItems (never sent to the
    server), the rest goes through. ``held`` counts the items held back per request."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.held: list[int] = []

    def __call__(self, headers: Any, body: bytes, send: Any) -> bytes | None:
        if not str(headers.get("X-Amz-Target", "")).endswith(".BatchWriteItem"):
            return None
        request = json.loads(body)
        entries = request["RequestItems"].get(self.table)
        if not entries:
            return None
        held = _tail(entries)
        self.held.append(len(held))
        request["RequestItems"][self.table] = entries[: -len(held)]
        sent = {name: items for name, items in request["RequestItems"].items() if items}
        answer = (
            json.loads(send(json.dumps({**request, "RequestItems": sent}).encode())) if sent else {}
        )
        unprocessed = answer.setdefault("UnprocessedItems", {})
        unprocessed[self.table] = unprocessed.get(self.table, []) + held
        return json.dumps(answer).encode()
