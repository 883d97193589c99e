"""The body of ``GET /v1/health``: the model state and the optional dependencies' breakers.

Everything here is read from what the container already knows (the loader's
:class:`~chalicelib.scoring.model_state.ModelState`, each breaker's state), never by asking
S3 or DynamoDB, so health answers at once even when they hang. A container with no model
at all answers 503 before this runs (the route asks the loader for the model first).

``status`` is ``degraded`` when the version ``current`` names failed (verification or
load) and an older version serves: answers are still given, by a model the operator did
not mean to serve. ``current`` says which version and why; it is null while the version
serving is the current one (or a pinned one: ``MODEL_VERSION`` never reads the pointer).
"""

from __future__ import annotations

from typing import Any, Final, TypedDict

from chalicelib.scoring.model_state import ModelState
from chalicelib.stores.cache import ResultCache
from chalicelib.stores.history import CustomerHistory

OK: Final = "ok"
DEGRADED: Final = "degraded"
STATUSES: Final = (OK, DEGRADED)
NO_CACHE: Final = "unavailable"
NO_HISTORY: Final = "disabled"


class CurrentVersion(TypedDict):
    """The version ``current`` names, when it is not the one serving, and why."""

    version: str
    reason: str


class Health(TypedDict):
    status: str
    model_version: str | None
    current: CurrentVersion | None
    cache: str
    history: str


def health_body(
    model: ModelState, cache: ResultCache[Any] | None, history: CustomerHistory | None
) -> Health:
    """The health answer for the model state and the stores, without any I/O."""
    return {
        "status": DEGRADED if model.degraded else OK,
        "model_version": model.serving,
        "current": current_of(model),
        "cache": cache_state(cache),
        "history": history_state(history),
    }


def current_of(model: ModelState) -> CurrentVersion | None:
    """The pointed-to version and the reason it is not served; None when it is (or unknown)."""
    if not model.behind or model.current is None or model.reason is None:
        return None
    return {"version": model.current, "reason": model.reason}


def cache_state(cache: ResultCache[Any] | None) -> str:
    """The cache's breaker state (``ok``/``unavailable``/``recovering``) without asking
    DynamoDB, so health never waits on a hung table; ``unavailable`` when no cache is set."""
    return NO_CACHE if cache is None else cache.state()


def history_state(history: CustomerHistory | None) -> str:
    """The history table's breaker state, like :func:`cache_state`; ``disabled`` when no
    table is set (``HISTORY_TABLE``)."""
    return NO_HISTORY if history is None else history.state()
