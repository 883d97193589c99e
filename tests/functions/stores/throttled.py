"""A throttled DynamoDB table, played around a real one (moto's): the tests wrap the AWS
client, or stand between it and the moto server, never our own code.

The same rules everywhere, chosen so that some requests are never fully taken however
often they are sent again:

- BatchWriteItem / BatchGetItem: the last third (rounded up) of each request's items or
  keys for the table comes back unprocessed, on every round;
- TransactWriteItems: every second transaction the table has not seen before is cancelled
  (``ThrottlingError``), and again each time it is sent again.
"""

from __future__ import annotations

import json
import math
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError

CANCELLED = "TransactionCanceledException"


def _tail(entries: list[Any]) -> list[Any]:
    return entries[len(entries) - math.ceil(len(entries) / 3) :] if entries else []


class Refusals:
    """Which transactions to cancel: every second new one, and then always that one."""

    def __init__(self) -> None:
        self.new = 0
        self.refused: set[str] = set()

    def refuse(self, actions: list[dict[str, Any]]) -> bool:
        signature = json.dumps(actions[0], sort_keys=True)
        if signature in self.refused:
            return True
        self.new += 1
        if self.new % 2 == 0:
            self.refused.add(signature)
            return True
        return False


def cancellation(actions: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of DynamoDB's answer to a transaction cancelled for throughput."""
    reasons = [{"Code": "ThrottlingError", "Message": "Throughput exceeds the capacity"}]
    reasons += [{"Code": "None"} for _ in actions[1:]]
    return {
        "__type": f"com.amazonaws.dynamodb.v20120810#{CANCELLED}",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": reasons,
    }


def _for(table: str, actions: list[dict[str, Any]]) -> bool:
    return any(next(iter(a.values())).get("TableName") == table for a in actions)


class HoldsBack:
    """Delegates to ``client``; holds back, for ``table``, writes (``writes``: batch and
    transactional) and reads (``reads``) by the module's rules. ``calls`` counts the
    requests by operation name."""

    def __init__(self, client: Any, table: str, *, writes: bool = True, reads: bool = False):
        self.client = client
        self.table = table
        self.writes = writes
        self.reads = reads
        self.calls: dict[str, int] = {}
        self.refusals = Refusals()

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

    def transact_write_items(self, TransactItems: list[dict[str, Any]], **rest: Any) -> Any:
        self._count("TransactWriteItems")
        if self.writes and _for(self.table, TransactItems) and self.refusals.refuse(TransactItems):
            body = cancellation(TransactItems)
            error = {"Code": CANCELLED, "Message": body["Message"]}
            response = {"Error": error, "CancellationReasons": body["CancellationReasons"]}
            raise ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]
        return self.client.transact_write_items(TransactItems=TransactItems, **rest)

    def _send(self, operation: Any, requests: dict[str, Any], **rest: Any) -> dict[str, Any]:
        requests = {name: request for name, request in requests.items() if _nonempty(request)}
        if not requests:
            return {}
        answer: dict[str, Any] = operation(RequestItems=requests, **rest)
        return answer

    def _count(self, operation: str) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1


def _nonempty(request: Any) -> bool:
    return bool(request["Keys"] if isinstance(request, dict) else request)


def hold_back_every_write(client: Any, table: str) -> list[int]:
    """Answer every BatchWriteItem and TransactWriteItems for ``table`` on this botocore
    client as not taken (all unprocessed; cancelled for throughput), without sending it: a
    table throttled throughout. Returns a list that grows by the items held per request."""
    held: list[int] = []

    def unprocessed(params: dict[str, Any], **_: Any) -> Any:
        request = json.loads(params["body"])["RequestItems"]
        if set(request) != {table}:
            return None
        held.append(len(request[table]))
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), {"UnprocessedItems": request}

    def cancelled(params: dict[str, Any], **_: Any) -> Any:
        actions = json.loads(params["body"])["TransactItems"]
        if not _for(table, actions):
            return None
        held.append(len(actions))
        body = cancellation(actions)
        error = {"Code": CANCELLED, "Message": body["Message"]}
        answer = {"Error": error, "CancellationReasons": body["CancellationReasons"]}
        return AWSResponse(params["url"], 400, HTTPHeaders(), None), answer

    client.meta.events.register("before-call.dynamodb.BatchWriteItem", unprocessed)
    client.meta.events.register("before-call.dynamodb.TransactWriteItems", cancelled)
    return held


class HoldingProxy:
    """The ``change`` of tests/servers.start_proxy for a throttled ``table`` (the module's
    rules, on the wire); ``held`` counts the items held back per request."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.held: list[int] = []
        self.refusals = Refusals()

    def __call__(self, headers: Any, body: bytes, send: Any) -> tuple[int, bytes] | None:
        target = str(headers.get("X-Amz-Target", ""))
        request = json.loads(body) if target.startswith("DynamoDB_") else {}
        if target.endswith(".TransactWriteItems"):
            return self._transaction(request["TransactItems"])
        if target.endswith(".BatchWriteItem") and request["RequestItems"].get(self.table):
            return 200, self._batch_write(request, send)
        return None

    def _transaction(self, actions: list[dict[str, Any]]) -> tuple[int, bytes] | None:
        if not (_for(self.table, actions) and self.refusals.refuse(actions)):
            return None
        self.held.append(len(actions))
        return 400, json.dumps(cancellation(actions)).encode()

    def _batch_write(self, request: dict[str, Any], send: Any) -> bytes:
        entries = request["RequestItems"][self.table]
        held = _tail(entries)
        self.held.append(len(held))
        request["RequestItems"][self.table] = entries[: -len(held)]
        sent = {name: items for name, items in request["RequestItems"].items() if items}
        answer = json.loads(send(json.dumps({"RequestItems": sent}).encode())) if sent else {}
        unprocessed = answer.setdefault("UnprocessedItems", {})
        unprocessed[self.table] = unprocessed.get(self.table, []) + held
        return json.dumps(answer).encode()


class Counted:
    """Delegates to ``client`` and counts the requests by operation name (``calls``).

    TransactWriteItems is applied by sending its puts to moto as BatchWriteItem requests
    (not counted): moto copies the whole table on every transaction, seconds per call on
    a table of a few thousand items, where DynamoDB's cost does not grow with the table.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        operation = getattr(self.client, name)
        if not callable(operation) or name.startswith("_") or name == "meta":
            return operation

        def counted(**params: Any) -> Any:
            key = "".join(part.capitalize() for part in name.split("_"))
            self.calls[key] = self.calls.get(key, 0) + 1
            if name == "transact_write_items":
                return self._transaction(params["TransactItems"])
            return operation(**params)

        return counted

    def _transaction(self, actions: list[dict[str, Any]]) -> dict[str, Any]:
        puts = [action["Put"] for action in actions]
        for start in range(0, len(puts), 25):
            requests: dict[str, list[Any]] = {}
            for put in puts[start : start + 25]:
                requests.setdefault(put["TableName"], []).append(
                    {"PutRequest": {"Item": put["Item"]}}
                )
            assert not self.client.batch_write_item(RequestItems=requests).get("UnprocessedItems")
        return {}
