"""The HTTP client for the scoring API: the only way the frontend learns anything.

Every failure becomes an ``ApiError`` carrying a sentence a person can read (and, for
validation problems, the field-level errors), so pages show a message, never a stack
trace. The model description and the segments change only when a new model is
published, so they are cached for a few minutes; scores are never cached here (the API
has its own cache and says whether it was used).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
import streamlit as st

from app_lib.config import Settings

STATIC_TTL_SECONDS = 300
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 120.0
WARNINGS_HEADER = "x-column-warnings"
TALLY_HEADER = "x-drift-tally"


@dataclass(frozen=True)
class FieldError:
    """One invalid field, as the API names it."""

    field: str
    message: str


@dataclass
class ApiError(Exception):
    """The API could not be reached or answered with an error.

    ``status`` is None when no HTTP answer came back at all.
    """

    message: str
    status: int | None = None
    errors: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message

    def errors_by_field(self) -> dict[str, list[str]]:
        """Messages grouped by field name, for showing beside form inputs."""
        grouped: dict[str, list[str]] = {}
        for error in self.errors:
            grouped.setdefault(error.field, []).append(error.message)
        return grouped


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"accept": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    return headers


def _problem_to_error(response: requests.Response) -> ApiError:
    """Turn an RFC 9457 problem (or any non-2xx answer) into an ``ApiError``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        snippet = response.text.strip()[:200] or response.reason
        return ApiError(f"The API answered {response.status_code}: {snippet}", response.status_code)
    title = str(body.get("title") or response.reason or "Error")
    detail = body.get("detail")
    message = f"The API answered {response.status_code} {title}" + (f": {detail}" if detail else "")
    errors = [
        FieldError(field=str(item.get("field", "")), message=str(item.get("message", "")))
        for item in body.get("errors") or []
        if isinstance(item, dict)
    ]
    return ApiError(message, response.status_code, errors)


def _call(
    method: str,
    settings: Settings,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    **send: Any,
) -> requests.Response:
    """Call one route; the 2xx response, or ``ApiError`` with a readable sentence."""
    url = f"{settings.api_url}{path}"
    try:
        response = requests.request(
            method,
            url,
            headers={**_headers(settings.api_key), **(headers or {})},
            timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
            **send,
        )
    except requests.ConnectionError:
        raise ApiError(
            f"Cannot reach the API at {settings.api_url}. Check that it is running and "
            "that the API URL in the sidebar is right."
        ) from None
    except requests.Timeout:
        raise ApiError(f"The API at {settings.api_url} did not answer in time.") from None
    except requests.RequestException as exc:
        raise ApiError(f"Cannot call the API at {settings.api_url}: {exc}") from None
    if not response.ok:
        raise _problem_to_error(response)
    return response


def _request(method: str, settings: Settings, path: str, body: Any = None) -> dict[str, Any]:
    """Call one route and return its JSON object, or raise ``ApiError``."""
    response = _call(method, settings, path, json=body)
    try:
        payload = response.json()
    except ValueError:
        raise ApiError(
            f"The API at {settings.api_url} answered {path} with something that is not JSON.",
            response.status_code,
        ) from None
    if not isinstance(payload, dict):
        raise ApiError(f"The API answered {path} with unexpected JSON.", response.status_code)
    return payload


@st.cache_data(ttl=STATIC_TTL_SECONDS, show_spinner="Loading the model description...")
def get_model(settings: Settings) -> dict[str, Any]:
    """``GET /v1/model``: feature schema, elbow, metrics, limits (cached)."""
    return _request("GET", settings, "/v1/model")


@st.cache_data(ttl=STATIC_TTL_SECONDS, show_spinner="Loading the segments...")
def get_segments(settings: Settings) -> dict[str, Any]:
    """``GET /v1/segments``: profiles, names, actions, rules and the 2-D map (cached)."""
    return _request("GET", settings, "/v1/segments")


def clear_cache() -> None:
    """Forget the cached model and segments (e.g. after a new model is published)."""
    get_model.clear()
    get_segments.clear()


def get_health(settings: Settings) -> dict[str, Any]:
    """``GET /v1/health``; a 503 (no model) raises ``ApiError``."""
    return _request("GET", settings, "/v1/health")


def score(settings: Settings, customer: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/segment`` for one customer."""
    return _request("POST", settings, "/v1/segment", customer)


def path(
    settings: Settings, customer: dict[str, Any], target: int, may_change: list[str] | None = None
) -> dict[str, Any]:
    """``POST /v1/segment/path``: the smallest valid change that makes ``customer`` a typical
    member of segment ``target`` (``may_change``: the variables allowed to move; None for the
    API's default). No path is an ``ApiError`` with status 422, the API's sentence saying why
    and one field error per fixed variable that keeps the customer out."""
    body: dict[str, Any] = {"customer": customer, "target_segment": target}
    if may_change:
        body["may_change"] = may_change
    return _request("POST", settings, "/v1/segment/path", body)


@dataclass(frozen=True)
class CsvAnswer:
    """The API's results table (CSV bytes as sent), what it said about the columns, and the
    drift tally of the rows it scored (passed back to :func:`drift_report` as it came)."""

    table: bytes
    warnings: list[FieldError] = field(default_factory=list)
    tally: dict[str, Any] | None = None


def score_csv(settings: Settings, body: bytes, first_row: int) -> CsvAnswer:
    """``POST /v1/segment/batch`` with a CSV file (or a piece of one, header included).

    Answers the API's results table, the CSV bytes as sent, and its column warnings
    (unknown columns ignored, optional ones absent). ``first_row`` is the file row number
    of the piece's first data line, so the table's row numbers are those of the whole file.
    """
    response = _call(
        "POST",
        settings,
        f"/v1/segment/batch?first_row={first_row}",
        headers={"content-type": "text/csv", "accept": "text/csv"},
        data=body,
    )
    try:
        listed = json.loads(response.headers.get(WARNINGS_HEADER) or "[]")
    except ValueError:
        listed = []
    warnings = [
        FieldError(str(w.get("field", "")), str(w.get("message", "")))
        for w in listed
        if isinstance(w, dict)
    ]
    return CsvAnswer(response.content, warnings, _json_header(response, TALLY_HEADER))


def _json_header(response: requests.Response, name: str) -> dict[str, Any] | None:
    """A header holding a JSON object, or None when absent or not one."""
    try:
        value = json.loads(response.headers.get(name) or "null")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def drift_report(settings: Settings, name: str, tallies: list[dict[str, Any]]) -> dict[str, Any]:
    """``POST /v1/drift/report``: ``{"tally": <their sum>, "report": <its drift report>}``
    for the drift tallies of a file's pieces (nothing is stored)."""
    return _request("POST", settings, "/v1/drift/report", {"name": name, "tallies": tallies})


def list_reports(settings: Settings, limit: int = 20) -> dict[str, Any]:
    """``GET /v1/reports``: the newest drift reports of scored files (summaries)."""
    return _request("GET", settings, f"/v1/reports?limit={int(limit)}")


def get_report(settings: Settings, name: str) -> dict[str, Any]:
    """``GET /v1/reports/{name}``: one drift report (the name URL-encoded, ``/`` included)."""
    return _request("GET", settings, f"/v1/reports/{quote(name, safe='')}")
