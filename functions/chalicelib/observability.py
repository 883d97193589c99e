"""Structured logs and CloudWatch metrics, without customer data.

Logs (:class:`Logger`: one JSON object per line, in the layout Powertools' Logger wrote)
carry the request id, route, status, latency, row counts, cache outcome and the *names* of
invalid fields, never a submitted value. Metrics (:class:`Metrics`: CloudWatch's embedded
metric format, one JSON line per flush, as Powertools' Metrics wrote it) per request:
``ColdStart`` (first request of a container), ``Latency`` (ms),
``CacheHit``/``CacheMiss``/``CacheBypass`` (rows), ``Rows`` and ``Error<Class>`` (e.g.
``ErrorValidationFailed``, ``ErrorModelUnavailable``); and ``ModelLoadFailed`` when a model
version cannot be loaded (logged with its reason). On every change of a dependency's
circuit breaker: ``Breaker<Name><State>`` (e.g. ``BreakerCacheUnavailable``,
``BreakerCacheRecovering``, ``BreakerCacheOk``) and a warning log line. ``HistoryUnrecorded``
(sightings the history table did not take, whatever the reason).

Both were Powertools' until a request's log line and metrics cost as much as scoring the
customer, and importing Powertools (its tracer and metrics with its logger) a tenth of the
service's own cold-start work; tests/functions/test_observability.py checks the lines
against Powertools' own for the same records and values.

The names template.yaml alarms on are defined here once (:data:`MODEL_LOAD_FAILED`,
:func:`breaker_metric`); tests/infra/test_template.py checks the alarms against them and
against what :data:`metrics` really emits (namespace, dimensions).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

SERVICE = "cc-segmentation"
NAMESPACE = "CcSegmentation"
MODEL_LOAD_FAILED = "ModelLoadFailed"
HISTORY_UNRECORDED = "HistoryUnrecorded"


class MetricUnit:
    """The CloudWatch units the service's metrics use."""

    Count = "Count"
    Milliseconds = "Milliseconds"


class Metrics:
    """CloudWatch metrics in the embedded metric format (EMF): every value added since the
    last flush, printed as one JSON line on stdout, which Lambda sends to CloudWatch Logs.

    The line is what Powertools' ``Metrics.flush_metrics`` prints (namespace, the
    ``service`` dimension, each metric's unit and list of values); a request adds two or
    three values and flushes once, so per-call validation and copying cost more than the
    line itself. ``POWERTOOLS_METRICS_DISABLED=true`` prints nothing; a metric reaching 100
    values is flushed early (the format's limit).
    """

    MAX_VALUES = 100

    def __init__(self, namespace: str, service: str) -> None:
        self.namespace = namespace
        self.service = service
        self._values: dict[str, list[float]] = {}
        self._units: dict[str, str] = {}

    def add_metric(self, name: str, unit: str, value: float) -> None:
        values = self._values.get(name)
        if values is None:
            values = self._values[name] = []
            self._units[name] = unit
        values.append(float(value))
        if len(values) == self.MAX_VALUES or len(self._values) == self.MAX_VALUES:
            self._publish()

    def flush_metrics(self) -> None:
        """Print the values added since the last flush (a warning when there are none)."""
        if not self._values:
            warnings.warn(
                "No application metrics to publish. The cold-start metric may be published "
                "if enabled. If application metrics should never be empty, consider using "
                "'raise_on_empty_metrics'",
                stacklevel=2,
            )
            return
        self._publish()

    def _publish(self) -> None:
        values, units = self._values, self._units
        self._values, self._units = {}, {}
        if _disabled():
            return
        line = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": name, "Unit": units[name]} for name in values],
                    }
                ],
            },
            "service": self.service,
            **values,
        }
        print(json.dumps(line, separators=(",", ":")))


# Attributes every LogRecord has: what is not one of them came as ``extra``. (Powertools'
# list, which keeps "message" and "taskName" out too: the former is never set here, the
# latter is None outside asyncio tasks and so dropped.)
_RECORD_ATTRIBUTES = frozenset(
    {"name", "msg", "args", "level", "levelname", "levelno", "pathname", "filename", "module",
     "exc_info", "exc_text", "stack_info", "lineno", "funcName", "created", "msecs",
     "relativeCreated", "thread", "threadName", "processName", "process", "asctime",
     "location", "timestamp"}
)  # fmt: skip


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: ``level``, ``location`` (function:line), ``message``,
    ``timestamp`` (local time with milliseconds and offset: UTC in Lambda), ``service``, the
    keys appended for the request (``request_id``, ``route``), the ``extra`` fields, then
    ``exception``/``exception_name``/``stack_trace`` and ``xray_trace_id`` when there are;
    no null value."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self.keys: dict[str, Any] = {}

    def format(self, record: logging.LogRecord) -> str:
        log: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage() if record.args else record.msg,
            "timestamp": self.formatTime(record),
            "service": self.service,
            **self.keys,
            **{k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES},
        }
        exc_info = record.exc_info
        if isinstance(exc_info, tuple) and hasattr(exc_info[0], "__name__"):
            log.setdefault("exception", self.formatException(exc_info))
            log.setdefault("exception_name", exc_info[0].__name__)  # type: ignore[union-attr]
            log.setdefault("exception_notes", getattr(exc_info[1], "__notes__", None))
            log["stack_trace"] = _stack_trace(exc_info)
        trace = os.environ.get("_X_AMZN_TRACE_ID")
        log["xray_trace_id"] = trace.split(";")[0].replace("Root=", "") if trace else None
        shown = {k: v for k, v in log.items() if v is not None}
        return json.dumps(shown, default=str, separators=(",", ":"), ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime(
            f"%Y-%m-%d %H:%M:%S,{int(record.msecs):03d}%z", time.localtime(record.created)
        )


def _stack_trace(exc_info: Any) -> dict[str, Any]:
    """An exception's frames as structured fields, beside its formatted traceback."""
    kind, error, trace = exc_info
    frames = traceback.extract_tb(trace)
    return {
        "type": kind.__name__,
        "value": error,
        "module": error.__class__.__module__,
        "frames": [
            {"file": f.filename, "line": f.lineno, "function": f.name, "statement": f.line}
            for f in frames
        ],
    }


class Logger:
    """The service's logger (``logging``'s logger named after the service, which Chalice's
    own log lines use too), writing :class:`JsonFormatter` lines to stdout, at the level
    ``POWERTOOLS_LOG_LEVEL`` names (INFO by default)."""

    def __init__(self, service: str) -> None:
        self.registered_formatter = JsonFormatter(service)
        log = logging.getLogger(service)
        for old in [h for h in log.handlers if getattr(h, "json_lines", False)]:
            log.removeHandler(old)  # a second Logger of the service replaces the first
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(self.registered_formatter)
        handler.json_lines = True  # type: ignore[attr-defined]
        log.addHandler(handler)
        log.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO").upper())
        log.propagate = False
        self.debug, self.info, self.warning = log.debug, log.info, log.warning
        self.error, self.exception = log.error, log.exception

    def append_keys(self, **keys: Any) -> None:
        """Keys every later line carries (until removed)."""
        self.registered_formatter.keys.update(keys)

    def remove_keys(self, names: Iterable[str]) -> None:
        for name in names:
            self.registered_formatter.keys.pop(name, None)


def _disabled() -> bool:
    """``POWERTOOLS_METRICS_DISABLED`` set true (the local stack, tests): print nothing. The
    variable Powertools' Metrics read, kept for operators (chalicelib.config names it)."""
    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "false").lower() in _TRUE


_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

_cold_start = True


def start_request(request_id: str | None, route: str) -> None:
    """Tag the logs of this invocation; count a cold start on the container's first one."""
    global _cold_start
    logger.append_keys(request_id=request_id, route=route)
    if _cold_start:
        metrics.add_metric(name="ColdStart", unit=MetricUnit.Count, value=1)
        _cold_start = False


def mark_cold_start() -> None:
    """Count the next request as a cold start (a container resumed from a snapshot is new)."""
    global _cold_start
    _cold_start = True


def count_cache(outcomes: Mapping[str, int]) -> None:
    """Add the per-row cache outcomes (``hit``/``miss``/``bypass``) of one call."""
    for outcome, count in outcomes.items():
        if count:
            metrics.add_metric(
                name=f"Cache{outcome.capitalize()}", unit=MetricUnit.Count, value=count
            )


def breaker_changed(name: str, old: str, new: str) -> None:
    """A circuit breaker changed state (chalicelib.stores.breaker): log it and count it.

    Counted on changes only, so the warm path adds nothing; alarm on
    ``Breaker<Name>Unavailable`` > 0.
    """
    metrics.add_metric(name=breaker_metric(name, new), unit=MetricUnit.Count, value=1)
    logger.warning("dependency state changed", extra={"dependency": name, "from": old, "to": new})


def breaker_metric(name: str, state: str) -> str:
    """The metric counting a breaker's changes to ``state``: ``Breaker<Name><State>``, e.g.
    ``breaker_metric("cache", "unavailable") == "BreakerCacheUnavailable"``."""
    return f"Breaker{name.capitalize()}{state.capitalize()}"


def model_load_failed(version: str | None, reason: str, serving: str | None) -> None:
    """A model version could not be loaded: one error line and the ``ModelLoadFailed`` metric.

    ``reason`` names files, hashes or S3 keys, never a customer value. The metric goes out
    with the next request's flush.
    """
    metrics.add_metric(name=MODEL_LOAD_FAILED, unit=MetricUnit.Count, value=1)
    details = {"model_version": version, "reason": reason, "serving_version": serving}
    logger.error("model load failed", extra=details)


def count_history_unrecorded(sightings: int) -> None:
    """Sightings of identified customers the history table did not take (failed, skipped
    by its breaker, or left unprocessed by DynamoDB): answered ``unavailable``, never
    ``recorded``. Alarm on ``HistoryUnrecorded`` > 0 for long."""
    metrics.add_metric(name=HISTORY_UNRECORDED, unit=MetricUnit.Count, value=sightings)


def count_rows(scored: int, failed: int) -> None:
    metrics.add_metric(name="RowsScored", unit=MetricUnit.Count, value=scored)
    if failed:
        metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=failed)


def finish_request(
    status: int,
    latency_ms: float,
    error_class: str | None = None,
    error_fields: Iterable[str] = (),
) -> None:
    """Log the request's outcome and flush its metrics."""
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=latency_ms)
    details: dict[str, Any] = {"status": status, "latency_ms": round(latency_ms, 3)}
    if error_class is not None:
        metrics.add_metric(name=f"Error{error_class}", unit=MetricUnit.Count, value=1)
        details["error"] = error_class
        details["error_fields"] = sorted(set(error_fields))[:20]
    if status >= 500:
        logger.error("request failed", extra=details)
    else:
        logger.info("request done", extra=details)
    metrics.flush_metrics()
    logger.remove_keys(["request_id", "route"])
