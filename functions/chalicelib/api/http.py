"""HTTP concerns shared by every route: API key, body limits, JSON parsing, error shape.

:func:`handle` is the app's HTTP middleware. It runs around Chalice's own dispatch, so it
also rewrites the few answers Chalice gives by itself (405, 415, 500) as problem+json.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chalice.app import Request, Response

from chalicelib import observability
from chalicelib.api.limits import MAX_BODY_BYTES, batch_size_problem
from chalicelib.config import Settings
from chalicelib.contract.row import BODY_FIELD, FIRST_DATA_ROW, FieldProblem
from chalicelib.errors import (
    CHALICE_STATUS_TO_ERROR,
    PROBLEM_CONTENT_TYPE,
    Forbidden,
    InternalError,
    PayloadTooLarge,
    ProblemError,
    Unauthorized,
    ValidationFailed,
    problem_response,
)

PUBLIC_ROUTES = frozenset({"/v1/health"})
API_KEY_HEADER = "x-api-key"
CSV_TYPE = "text/csv"
FIRST_ROW_PARAM = "first_row"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def json_body(request: Request) -> Any:
    """The parsed body; 400 naming ``(body)`` when it is not strict JSON."""
    return parse_json(request.raw_body or b"")


def parse_json(raw: bytes | str) -> Any:
    """A body as strict JSON (no NaN or Infinity); 400 naming ``(body)`` when it is not.

    ``raw`` is the body's bytes, or its text when that is known to be what the bytes
    decode to (a text that parses gives what its UTF-8 bytes give)."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        message = f"is not valid JSON: {str(error)[:120]}"
        raise ValidationFailed.from_errors([FieldProblem(BODY_FIELD, message)]) from error


def customers_of(body: Any) -> list[Any]:
    """The rows of a batch body ``{"customers": [...]}``, or a 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise ValidationFailed.from_errors(
            [FieldProblem(BODY_FIELD, 'must be a JSON object {"customers": [...]}')]
        )
    unknown = [FieldProblem(str(k), "is not a known field") for k in body if k != "customers"]
    customers = body.get("customers")
    if not isinstance(customers, list):
        problem = "is required" if customers is None else "must be a list of customer objects"
        raise ValidationFailed.from_errors([FieldProblem("customers", problem), *unknown])
    too_many = batch_size_problem(len(customers), "customers", "customers")
    if too_many is not None:
        raise ValidationFailed.from_errors([too_many, *unknown])
    if unknown:
        raise ValidationFailed.from_errors(unknown)
    return customers


def sends_csv(request: Request) -> bool:
    """The body is a CSV file (``Content-Type: text/csv``), not JSON."""
    return request.headers.get("content-type", "").lower().startswith(CSV_TYPE)


def wants_csv(request: Request) -> bool:
    """The client asks for the results table (``Accept: text/csv``)."""
    return CSV_TYPE in request.headers.get("accept", "").lower()


def raw_body(request: Request) -> bytes:
    """The body as sent (Chalice gives bytes, or text for some test and local events)."""
    body = request.raw_body or b""
    return body.encode() if isinstance(body, str) else body


def first_row(request: Request) -> int:
    """``?first_row=N``: the file row number of a CSV body's first data line (default 2).

    A client that sends a long file in pieces, each with the header, keeps the row numbers
    of the whole file this way.
    """
    params: Mapping[str, str] = request.query_params or {}
    given = params.get(FIRST_ROW_PARAM)
    if given is None:
        return FIRST_DATA_ROW
    if not given.isascii() or not given.isdigit() or int(given) < FIRST_DATA_ROW:
        message = f"must be a whole number of at least {FIRST_DATA_ROW}, got {given[:40]!r}"
        raise ValidationFailed.from_errors([FieldProblem(FIRST_ROW_PARAM, message)])
    return int(given)


WARNINGS_HEADER = "X-Column-Warnings"
TALLY_HEADER = "X-Drift-Tally"


def csv_response(
    text: str, warnings: Sequence[FieldProblem] = (), tally: Mapping[str, Any] | None = None
) -> Response:
    """A CSV answer (the results table); the header's warnings, if any, as ASCII JSON in
    ``X-Column-Warnings`` and the body's drift tally in ``X-Drift-Tally`` (the table itself
    has no room for them)."""
    headers: dict[str, str | list[str]] = {"Content-Type": f"{CSV_TYPE}; charset=utf-8"}
    if warnings:
        headers[WARNINGS_HEADER] = json.dumps([w.to_json() for w in warnings], ensure_ascii=True)
    if tally is not None:
        headers[TALLY_HEADER] = json.dumps(tally, ensure_ascii=True, separators=(",", ":"))
    return Response(body=text, status_code=200, headers=headers)


def check_request(request: Request, settings: Settings) -> None:
    """API key (401/403) then body size (413), before any route runs."""
    with_body = request.method in {"POST", "PUT", "PATCH"}

    def body_size() -> int:
        return len(request.raw_body or b"") if with_body else 0

    check_access(request.context.get("resourcePath", ""), request.headers, body_size, settings)


def check_access(
    route: str, headers: Mapping[str, str], size: Callable[[], int], settings: Settings
) -> None:
    """API key (401/403) then body size (413) of a request to ``route`` whose headers
    (lower-case names) are ``headers`` and whose body is ``size()`` bytes (read only once
    the key is accepted)."""
    if settings.api_key and route not in PUBLIC_ROUTES:
        given = headers.get(API_KEY_HEADER)
        if not given:
            raise Unauthorized(f"send the API key in the {API_KEY_HEADER} header")
        if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            raise Forbidden(f"the {API_KEY_HEADER} header does not hold a valid key")
    declared = headers.get("content-length", "")
    if size() > MAX_BODY_BYTES or (declared.isdigit() and int(declared) > MAX_BODY_BYTES):
        raise PayloadTooLarge(f"the body exceeds the {MAX_BODY_BYTES}-byte limit")


def _as_problem(response: Response) -> ProblemError | None:
    """Chalice's own error answers (not already problem+json) as our errors."""
    error_class = CHALICE_STATUS_TO_ERROR.get(response.status_code)
    headers = {k.lower(): str(v) for k, v in response.headers.items()}
    content_type = headers.get("content-type", "")
    if error_class is None or content_type.startswith(PROBLEM_CONTENT_TYPE):
        return None
    body = response.body if isinstance(response.body, dict) else {}
    detail = str(body.get("Message", error_class.title))
    if error_class is InternalError:
        detail = "an internal error occurred; it has been logged"
    return error_class(detail)


def handle(
    request: Request,
    get_response: Callable[[Request], Response],
    get_settings: Callable[[], Settings],
) -> Response:
    """Run one request: checks, the route, errors as problem+json, logs and metrics.

    Settings are read inside the error handling: a malformed one is a problem+json 503.
    """
    started = time.perf_counter()
    route = request.context.get("resourcePath", "")
    # API Gateway always sends a request id; chalice local and test events may not.
    request_id = request.context.get("requestId") or uuid.uuid4().hex
    observability.start_request(request_id, route)
    error: ProblemError | None = None
    try:
        check_request(request, get_settings())
        response = get_response(request)
        error = _as_problem(response)
        if error is not None:
            keep = {k: str(v) for k, v in response.headers.items() if k.lower() == "allow"}
            response = problem_response(error, keep)
    except ProblemError as raised:
        error = raised
        response = problem_response(error)
    except Exception:  # a bug, not the client: log it, answer a generic 500
        observability.logger.exception("unhandled error")
        error = InternalError("an internal error occurred; it has been logged")
        response = problem_response(error)
    latency_ms = (time.perf_counter() - started) * 1000
    observability.finish_request(
        response.status_code,
        latency_ms,
        None if error is None else type(error).__name__,
        [] if error is None else [e.field for e in error.errors],
    )
    return response


__all__ = [
    "check_access",
    "check_request",
    "csv_response",
    "customers_of",
    "first_row",
    "handle",
    "json_body",
    "parse_json",
    "raw_body",
    "sends_csv",
    "wants_csv",
]
