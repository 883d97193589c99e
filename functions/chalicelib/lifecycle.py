"""The container's life in Lambda: what runs at init, and what runs after a SnapStart restore.

Init (``app.py`` calls :func:`initialise` when ``AWS_LAMBDA_INITIALIZATION_TYPE`` says the
code runs in a Lambda init phase; importing ``app`` leaves numpy and onnxruntime to it): the
model is loaded and verified, its onnxruntime sessions built and run once, and the AWS
clients made, all before the first request. The model's S3 reads run on a thread while the
scoring code imports; the DynamoDB client is made on another while the model is built.
With SnapStart (template.yaml) Lambda snapshots the container after init, so all of this
is done once per published version instead of once per container; without it, the init
phase still does it before the first request, where a failure is logged once rather than
paid per request.

After a restore (:func:`after_restore`, registered with the runtime's
``snapshot_restore_py``, which exists only in the Lambda composition): one snapshot starts many
containers, possibly long after it was taken, so each renews what must not be shared or
stale: the AWS clients (their pooled connections belong to the snapshotted machine), the
``ColdStart`` metric flag, and the model, by re-reading the ``current`` pointer. Lambda
allows the runtime and these hooks 10 seconds in all; this does two small S3 reads when
the pointer has not moved.

Nothing here raises: a failed load leaves the store to report ``ModelUnavailable`` (503)
and retry as it always does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib import composition, observability
from chalicelib.config import lambda_initialization_type
from chalicelib.errors import ModelUnavailable
from chalicelib.scoring.validator import ValidRecord

if TYPE_CHECKING:  # imported by the model loader, once its S3 reads are under way
    from chalicelib.scoring.model import ScoringModel

#: How long the restore hook waits for the pointer check (and a load, if the pointer moved);
#: Lambda allows the runtime and every after-restore hook 10 s in all. A check still
#: running then finishes in the background while the old model serves.
RESTORE_CHECK_SECONDS = 5.0

#: How long an on-demand init waits for the model. Lambda allows an on-demand (or
#: provisioned) init 10 s before it gives up and runs init again inside the first
#: invocation; the imports take ~1-2 s of that. A load still running then goes on in the
#: background and the first request waits for it up to ``MODEL_LOAD_TIMEOUT_SECONDS`` after
#: it started, as without init. A SnapStart init (publishing a version) may take minutes, so
#: it waits the store's whole ``load_timeout_seconds``.
ON_DEMAND_INIT_LOAD_SECONDS = 7.0
SNAP_START = "snap-start"
DYNAMODB_CLIENT = "DynamoDB client"  # one client for the cache and the history tables

#: Seconds each step of the last :func:`initialise` / :func:`after_restore` took.
TIMINGS: dict[str, float] = {}


def in_lambda_init() -> bool:
    """True while Lambda initialises this container (the variable only Lambda sets)."""
    return lambda_initialization_type() is not None


def initialise() -> None:
    """Load the model and make the clients now, so no request has to.

    The model loader makes its S3 client, starts its reads on a thread, then imports the
    scoring code (numpy, onnxruntime: most of the init's own import work), so the S3 round
    trips wait beside those imports rather than after them. Making a client is CPU work
    under botocore's session lock, so the DynamoDB one (shared by the cache and the
    history) is made after both, not beside them.
    """
    TIMINGS.clear()
    _timed("model loader", lambda: composition.get_model_loader(prefetch=True))
    dynamodb = threading.Thread(target=_timed, args=(DYNAMODB_CLIENT, _make_dynamodb_client))
    dynamodb.start()
    model = _timed("model load", _load_model)
    if model is not None:
        _timed("first scoring", lambda: _warm_up(model))
    dynamodb.join()
    observability.logger.info("initialised", extra={"init_ms": _milliseconds()})


def after_restore() -> None:
    """Renew per-container state in a container resumed from a SnapStart snapshot."""
    TIMINGS.clear()
    observability.mark_cold_start()
    store = composition.get_model_loader()
    _timed("S3 client", store.reader.renew_client)
    dynamodb = composition.dynamodb_client()
    if dynamodb is not None:
        _timed(DYNAMODB_CLIENT, dynamodb.renew)
    _timed("pointer check", lambda: store.check_now(timeout=RESTORE_CHECK_SECONDS))
    observability.logger.info("restored from snapshot", extra={"restore_ms": _milliseconds()})


def _make_dynamodb_client() -> None:
    dynamodb = composition.dynamodb_client()
    if dynamodb is not None:
        dynamodb.get()  # made on first use: now


def _init_load_seconds(store_timeout: float) -> float:
    if lambda_initialization_type() == SNAP_START:
        return store_timeout
    return min(store_timeout, ON_DEMAND_INIT_LOAD_SECONDS)


def _load_model() -> ScoringModel | None:
    """The model, if it loads within the init's share of Lambda's init limit."""
    store = composition.get_model_loader()
    store.check_now(timeout=_init_load_seconds(store.load_timeout_seconds))
    if store.version is None:  # failed (requests answer 503, the store retries) or still loading
        error = str(store.last_error) if store.last_error else "still loading"
        observability.logger.warning("no model at init", extra={"error": error})
        return None
    try:
        return store.get()
    except ModelUnavailable:  # not reachable once a version is loaded; never fail init
        return None


def _warm_up(model: ScoringModel) -> None:
    """Score one all-missing row: onnxruntime's first run allocates its buffers, and numpy
    and the result code take their first-call paths, here rather than in a request."""
    model.score([ValidRecord(tuple(None for _ in model.features))])


def _timed[T](name: str, work: Callable[[], T]) -> T | None:
    started = time.perf_counter()
    try:
        return work()
    except Exception:  # init and restore must never fail the container
        observability.logger.exception(f"{name} failed during init or restore")
        return None
    finally:
        TIMINGS[name] = time.perf_counter() - started


def _milliseconds() -> dict[str, Any]:
    return {name: round(seconds * 1000, 1) for name, seconds in TIMINGS.items()}


def _register_after_restore() -> bool:
    """Register :func:`after_restore` with the Lambda runtime's hook library, if present."""
    try:
        from snapshot_restore_py import register_after_restore  # the Lambda runtime only
    except ImportError:
        return False
    register_after_restore(after_restore)
    return True


REGISTERED = _register_after_restore()
