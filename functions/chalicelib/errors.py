"""Domain errors and their RFC 9457 ``application/problem+json`` form.

Every error a client can cause is a :class:`ProblemError`. It subclasses Chalice's
``ChaliceUnhandledError`` only so that Chalice lets it propagate from a view to our HTTP
middleware (any other exception is turned into a bare 500 by Chalice itself).
"""

from __future__ import annotations

import json
from typing import Any

from chalice.app import ChaliceUnhandledError, Response

from chalicelib.contract.row import FieldProblem

PROBLEM_BASE = "https://cc-segmentation.example/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemError(ChaliceUnhandledError):
    """Base of every error answered as problem+json."""

    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(self, detail: str, errors: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [e.to_json() for e in self.errors]
        return body


class ValidationFailed(ProblemError):
    status, slug, title = 400, "validation", "Invalid request"

    @classmethod
    def from_errors(cls, errors: list[FieldProblem]) -> ValidationFailed:
        noun = "field is" if len(errors) == 1 else "fields are"
        return cls(f"{len(errors)} {noun} invalid", errors)


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Missing API key"


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Wrong API key"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "No such route"


class MethodNotAllowed(ProblemError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported content type"


class ModelUnavailable(ProblemError):
    """No model could be loaded (no bundle, a bad hash, S3 unreachable).

    ``detail`` is public: what an operator can do, no bucket keys or exception text.
    ``reason`` is for the service log only (defaults to the detail).
    """

    status, slug, title = 503, "model-unavailable", "Model unavailable"

    def __init__(self, detail: str, reason: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason or detail


class ServiceMisconfigured(ProblemError):
    """A setting in the function's environment is malformed: nothing can be answered."""

    status, slug, title = 503, "misconfigured", "Service misconfigured"


class BundleIntegrityError(ModelUnavailable):
    """A bundle file does not match the sha256 in its manifest: refused, never served."""


class ReportNotFound(ProblemError):
    status, slug, title = 404, "not-found", "No such report"


class DependencyUnavailable(ProblemError):
    """A store a read-only route needs (the reports in S3) did not answer."""

    status, slug, title = 503, "unavailable", "Temporarily unavailable"


class PathsUnavailable(ProblemError):
    """The model serving has no paths to a segment (a bundle trained before the manifest
    carried the scaler's numbers): retrain to get them."""

    status, slug, title = 503, "paths-unavailable", "Paths unavailable"


class NoPath(ProblemError):
    """No valid change of the allowed variables makes the customer a typical member of the
    target segment. ``details`` are the answer's extension members (RFC 9457): the reason,
    the fixed variables that keep the customer out, the segments, the model version."""

    status, slug, title = 422, "no-path", "No path to the segment"

    def __init__(self, detail: str, errors: list[FieldProblem], details: dict[str, Any]) -> None:
        super().__init__(detail, errors)
        self.details = details

    def to_problem(self) -> dict[str, Any]:
        return {**super().to_problem(), **self.details}


class InternalError(ProblemError):
    status, slug, title = 500, "internal", "Internal error"


def problem_response(error: ProblemError, headers: dict[str, str] | None = None) -> Response:
    """The HTTP response for ``error``."""
    return Response(
        body=json.dumps(error.to_problem()),
        status_code=error.status,
        headers={"Content-Type": PROBLEM_CONTENT_TYPE, **(headers or {})},
    )


# Chalice answers some requests itself, before any view runs; these map its status codes
# to ours so that every error the API returns has the same shape.
CHALICE_STATUS_TO_ERROR: dict[int, type[ProblemError]] = {
    405: MethodNotAllowed,
    415: UnsupportedMediaType,
    500: InternalError,
}
