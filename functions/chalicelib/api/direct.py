"""``POST /v1/segment`` from the API Gateway event to the answer, without Chalice's objects.

The common request of the API (one customer) is most of its traffic, and Chalice's way
through (a ``Request`` with its headers mapping, the middleware chain, three content-type
matches, a ``Response`` turned back into a dict) cost as much as scoring the customer.
:func:`answer_segment` does for this one route what that way does, in the same order and
with the same pieces (:mod:`chalicelib.api.http`'s checks and JSON reading, the errors'
problem+json, one log line and one metrics flush): API key (401/403), body size (413),
content type (415), JSON (400), then the score; every other event is left to Chalice
(``functions/app.py``, ``handler``). tests/functions/api/test_direct.py sends the same
events both ways and compares the answers, the log lines and the metrics.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import _matches_content_type

from chalicelib import observability
from chalicelib.api.http import check_access, parse_json
from chalicelib.config import Settings
from chalicelib.errors import InternalError, ProblemError, UnsupportedMediaType, problem_response

ROUTE = "/v1/segment"
METHOD = "POST"
JSON_TYPES = ["application/json"]  # the route's content types (Chalice's default)
# What Chalice reads from every REST API event (chalice.app.Request): an event without
# them is left to Chalice, to fail there as it always did.
EVENT_KEYS = frozenset(
    {"multiValueQueryStringParameters", "headers", "pathParameters", "requestContext", "body",
     "stageVariables"}
)  # fmt: skip
Json = dict[str, Any]


def answer_segment(
    event: Mapping[str, Any], score: Callable[[Any], Json], get_settings: Callable[[], Settings]
) -> Json | None:
    """The Lambda proxy answer to a ``POST /v1/segment`` event, or None for any other."""
    context = event.get("requestContext")
    if (
        not isinstance(context, dict)
        or context.get("resourcePath") != ROUTE
        or context.get("httpMethod") != METHOD
        or not event.keys() >= EVENT_KEYS
    ):
        return None
    started = time.perf_counter()
    observability.start_request(context.get("requestId") or uuid.uuid4().hex, ROUTE)
    error: ProblemError | None = None
    try:
        response = _answer(event, score, get_settings)
    except ProblemError as raised:
        error = raised
        response = problem_response(error).to_dict()
    except Exception:  # a bug, not the client: log it, answer a generic 500
        observability.logger.exception("unhandled error")
        error = InternalError("an internal error occurred; it has been logged")
        response = problem_response(error).to_dict()
    observability.finish_request(
        response["statusCode"],
        (time.perf_counter() - started) * 1000,
        None if error is None else type(error).__name__,
        [] if error is None else [e.field for e in error.errors],
    )
    return response


def _answer(
    event: Mapping[str, Any], score: Callable[[Any], Json], get_settings: Callable[[], Settings]
) -> Json:
    headers = {name.lower(): value for name, value in (event["headers"] or {}).items()}
    body = event["body"]
    raw: list[bytes] = []  # the body's bytes, made only when needed (as Chalice's raw_body)

    def size() -> int:
        if isinstance(body, str) and not event.get("isBase64Encoded") and body.isascii():
            return len(body)  # ASCII text: as many bytes as characters
        raw[:] = [_raw(event)]
        return len(raw[0])

    check_access(ROUTE, headers, size, get_settings())
    content_type = headers.get("content-type", JSON_TYPES[0])
    if not _matches_content_type(content_type, JSON_TYPES):
        raise UnsupportedMediaType(f"Unsupported media type: {content_type}")
    result = score(_customer(event, raw))
    return {
        "headers": {},
        "multiValueHeaders": {},
        "statusCode": 200,
        "body": json.dumps(result, separators=(",", ":")),
    }


def _customer(event: Mapping[str, Any], raw: list[bytes]) -> Any:
    """The body as JSON: its text when API Gateway gave text (a text that parses gives what
    its bytes give), else, or when the text does not parse, its bytes, so that every
    refusal is worded as on Chalice's way."""
    body = event["body"]
    if isinstance(body, str) and body and not event.get("isBase64Encoded"):
        try:
            return parse_json(body)
        except ProblemError:
            pass
    return parse_json(raw[0] if raw else _raw(event))


def _raw(event: Mapping[str, Any]) -> bytes:
    """The body's bytes as Chalice's ``Request.raw_body`` makes them."""
    body = event["body"]
    if body is None:
        return b""
    if event.get("isBase64Encoded", False):
        return base64.b64decode(body if isinstance(body, bytes) else body.encode("ascii"))
    return body.encode("utf-8") if not isinstance(body, bytes) else body
