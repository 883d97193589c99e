"""The report routes' bodies: ``GET /v1/reports`` and ``GET /v1/reports/{name}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.contract.row import FieldProblem
from chalicelib.drift.reports import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, ReportStore
from chalicelib.errors import DependencyUnavailable, ReportNotFound, ValidationFailed

LIMIT_PARAMETER = "limit"


def list_body(store: ReportStore, query: Mapping[str, str] | None) -> dict[str, Any]:
    """The newest reports' summaries; ``?limit=`` 1-100 (default 20)."""
    limit = _limit(query or {})
    try:
        return {"reports": store.latest(limit)}
    except (BotoCoreError, ClientError) as error:
        raise DependencyUnavailable(f"the reports cannot be listed now: {_code(error)}") from error


def report_body(store: ReportStore, name: str) -> dict[str, Any]:
    """One report; names with a ``/`` (input files in sub-folders) come URL-encoded."""
    name = unquote(name)
    try:
        report = store.get(name)
    except (BotoCoreError, ClientError) as error:
        raise DependencyUnavailable(f"the report cannot be read now: {_code(error)}") from error
    if report is None:
        raise ReportNotFound(f"no report named {name[:200]!r}")
    return report


def _limit(query: Mapping[str, str]) -> int:
    unknown = [FieldProblem(k, "is not a known parameter") for k in query if k != LIMIT_PARAMETER]
    raw = query.get(LIMIT_PARAMETER)
    if raw is None:
        if unknown:
            raise ValidationFailed.from_errors(unknown)
        return DEFAULT_LIST_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST_LIMIT:
        message = f"must be a whole number from 1 to {MAX_LIST_LIMIT}, got {raw[:40]!r}"
        raise ValidationFailed.from_errors([FieldProblem(LIMIT_PARAMETER, message), *unknown])
    if unknown:
        raise ValidationFailed.from_errors(unknown)
    return int(raw)


def _code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "error"))
    return type(error).__name__
