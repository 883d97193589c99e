"""Logs carry the request id and outcome but no customer value; metrics count what happened."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tests.functions.conftest import ApiFactory, emitted, post_json

SECRET_BALANCE = 4321.987654
SECRET_ID = "C-PRIVATE-77"


def test_logs_and_metrics_without_customer_values(
    make_api: ApiFactory,
    published: str,
    valid_row: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
    log_lines: io.StringIO,
) -> None:
    client = make_api(POWERTOOLS_METRICS_DISABLED="false")
    capfd.readouterr()
    row = {**valid_row, "CUST_ID": SECRET_ID, "BALANCE": SECRET_BALANCE}
    assert post_json(client, "/v1/segment", row).status_code == 200
    bad = {**row, "PURCHASES": -123.456789}
    assert post_json(client, "/v1/segment", bad).status_code == 400
    printed = capfd.readouterr().out
    logged = log_lines.getvalue()
    for secret in (SECRET_ID, str(SECRET_BALANCE), "123.456789"):
        assert secret not in printed
        assert secret not in logged
    logs = [r for r in emitted(logged) if r.get("message") == "request done"]
    assert [(r["route"], r["status"]) for r in logs] == [("/v1/segment", 200), ("/v1/segment", 400)]
    assert all(r["request_id"] for r in logs)
    assert logs[1]["error"] == "ValidationFailed"
    assert logs[1]["error_fields"] == ["PURCHASES"]
    metrics = [r for r in emitted(printed) if "_aws" in r]
    names = {
        m["Name"] for r in metrics for d in r["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert {"CacheMiss", "Latency", "ErrorValidationFailed"} <= names


def test_breaker_changes_are_logged_and_counted(
    make_api: ApiFactory,
    published: str,
    valid_row: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
    log_lines: io.StringIO,
) -> None:
    from botocore.exceptions import ReadTimeoutError
    from chalicelib import composition
    from chalicelib.stores.cache import DynamoDBCache

    client = make_api(POWERTOOLS_METRICS_DISABLED="false", BREAKER_FAILURES="1")
    cache = composition.get_cache()
    assert isinstance(cache, DynamoDBCache)

    def hung(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://dynamodb.example")

    cache.table.client.meta.events.register("before-call.dynamodb", hung)
    capfd.readouterr()
    assert post_json(client, "/v1/segment", valid_row).json_body["cache"] == "bypass"
    metrics = [r for r in emitted(capfd.readouterr().out) if "_aws" in r]
    names = {
        m["Name"] for r in metrics for d in r["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert {"BreakerCacheUnavailable", "CacheBypass"} <= names
    changes = [r for r in emitted(log_lines.getvalue()) if r.get("dependency") == "cache"]
    assert [(r["from"], r["to"], r["level"]) for r in changes] == [("ok", "unavailable", "WARNING")]


def test_metrics_are_printed_as_powertools_prints_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded-metric-format line of chalicelib.observability.Metrics is the one
    Powertools' Metrics prints for the same values (which it used to print), but the time."""
    from aws_lambda_powertools import Metrics as PowertoolsMetrics
    from chalicelib.observability import NAMESPACE, SERVICE, Metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    added = [("ColdStart", "Count", 1), ("CacheMiss", "Count", 3), ("Latency", "Milliseconds",
             0.25), ("CacheMiss", "Count", 1), ("ErrorValidationFailed", "Count", 1)]  # fmt: skip
    lines = []
    for metrics in (Metrics(NAMESPACE, SERVICE), PowertoolsMetrics(namespace=NAMESPACE,
                                                                    service=SERVICE)):  # fmt: skip
        for name, unit, value in added:
            metrics.add_metric(name=name, unit=unit, value=value)
        capsys.readouterr()
        metrics.flush_metrics()
        (line,) = capsys.readouterr().out.splitlines()
        lines.append(json.loads(line))
    for line in lines:
        assert isinstance(line["_aws"].pop("Timestamp"), int)
    assert lines[0] == lines[1]


def test_disabled_metrics_print_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.observability import NAMESPACE, SERVICE, Metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics = Metrics(NAMESPACE, SERVICE)
    for _ in range(250):  # past the 100 values a line holds
        metrics.add_metric(name="Latency", unit="Milliseconds", value=1.0)
    metrics.flush_metrics()
    assert capsys.readouterr().out == ""


def test_log_lines_are_laid_out_as_powertools_lays_them_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service's log line for a record is the one Powertools' Logger wrote for it (the
    service used it before): keys, order and values, exceptions and the X-Ray trace id."""
    import logging
    import sys

    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
    from chalicelib.observability import SERVICE, JsonFormatter

    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-abc-def;Parent=x;Sampled=1")
    ours, theirs = JsonFormatter(SERVICE), LambdaPowertoolsFormatter(service=SERVICE)
    ours.keys.update(request_id="r-1", route="/v1/segment")
    theirs.append_keys(request_id="r-1", route="/v1/segment")
    try:
        raise ValueError("broken")
    except ValueError:
        failed = sys.exc_info()
    records = [
        logging.makeLogRecord({"name": SERVICE, "levelname": "INFO", "levelno": 20,
                               "msg": "request done", "funcName": "finish", "lineno": 7,
                               "status": 200, "latency_ms": 0.25, "error_fields": []}),
        logging.makeLogRecord({"name": SERVICE, "levelname": "ERROR", "levelno": 40,
                               "msg": "unhandled error", "exc_info": failed, "funcName": "f",
                               "lineno": 3}),
        logging.makeLogRecord({"name": SERVICE, "levelname": "WARNING", "levelno": 30,
                               "msg": "invalid setting %s", "args": ("X",), "extra_none": None}),
    ]  # fmt: skip
    for record in records:
        assert json.loads(ours.format(record)) == json.loads(theirs.format(record))
        assert list(json.loads(ours.format(record))) == list(json.loads(theirs.format(record)))
