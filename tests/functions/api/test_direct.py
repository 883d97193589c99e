"""``POST /v1/segment`` the direct way (``app.handler``) answers as Chalice's way (``app.app``).

The same API Gateway events go through both entry points of the real app, on a real bundle
in moto: the Lambda proxy answers (status, headers, body) must be identical, and so must
the request's log line (but its timing) and the metrics it flushes. Without a cache or a
history table, so that both ways score every request the same (``cache: "bypass"``).
"""

from __future__ import annotations

import base64
import codecs
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.functions.conftest import ApiFactory, emitted, load_functions_app

Event = dict[str, Any]
Row = dict[str, Any]
Builder = Callable[..., Any]
KEY = "k-123"


def event(body: Any, method: str = "POST", path: str = "/v1/segment", **headers: str) -> Event:
    """An API Gateway REST proxy event, as Lambda hands it to the function."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", **headers},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": method, "requestId": "r-1"},
        "body": body,
        "isBase64Encoded": False,
    }


def cases(row: dict[str, Any]) -> dict[str, Event]:
    text = json.dumps(row)
    bad = {**row, "BALANCE": "abc", "TENURE": 0, "EXTRA": 1}
    return {
        "valid": event(text),
        "invalid values": event(json.dumps(bad)),
        "not JSON": event("{'BALANCE': 1"),
        "NaN": event(text.replace('"BALANCE": 40.900749', '"BALANCE": NaN')),
        "a list": event("[1, 2]"),
        "empty body": event(""),
        "no body": event(None),
        "BOM before the JSON": event("\ufeff" + text),
        "non-ASCII text": event(json.dumps({**row, "CUST_ID": "Çé-ü"}, ensure_ascii=False)),
        "base64": {**event(base64.b64encode(text.encode()).decode()), "isBase64Encoded": True},
        "base64 UTF-8 BOM": {
            **event(base64.b64encode(codecs.BOM_UTF8 + text.encode()).decode()),
            "isBase64Encoded": True,
        },
        "charset parameter": event(text, **{"Content-Type": "application/json; charset=utf-8"}),
        "text/plain": event(text, **{"Content-Type": "text/plain"}),
        "no headers": {**event(text), "headers": None},
        "lower-case header": {**event(text), "headers": {"content-type": "application/json"}},
        "declared too large": event(text, **{"Content-Length": str(10**9)}),
        "too large": event(json.dumps({**row, "PAD": "x" * (3 * 1024 * 1024)})),
        "no request id": {**event(text), "requestContext": {"resourcePath": "/v1/segment",
                                                            "httpMethod": "POST"}},
        "GET": event(None, method="GET"),
        "another route": event(None, method="GET", path="/v1/segments"),
    }  # fmt: skip


@dataclass
class Output:
    """Where a request's log lines and printed metrics land."""

    lines: io.StringIO
    printed: pytest.CaptureFixture[str]


@pytest.fixture
def output(log_lines: io.StringIO, capfd: pytest.CaptureFixture[str]) -> Output:
    return Output(log_lines, capfd)


def both_ways(
    app_module: Any, request: Event, output: Output, fresh: bool = False
) -> list[tuple[Any, list[dict[str, Any]], list[Any]]]:
    """Each way's answer, log records and flushed metrics for ``request``, each as the first
    request of a container (both count a cold start; ``fresh``: a new container each, so
    both load the model themselves)."""
    from chalicelib import composition, observability

    outcomes = []
    for entry in (app_module.handler, app_module.app):
        if fresh:
            composition.reset()
        observability.mark_cold_start()
        lines, capfd = output.lines, output.printed
        lines.seek(0)
        lines.truncate()
        capfd.readouterr()
        answer = entry(json.loads(json.dumps(request)), None)
        logged = [
            {k: v for k, v in r.items() if k not in {"timestamp", "location", "latency_ms"}}
            for r in emitted(lines.getvalue())
            if r.get("message") in {"request done", "request failed"}
        ]
        if not request["requestContext"].get("requestId"):  # one drawn per request
            assert all(len(r.pop("request_id")) == 32 for r in logged), logged
        flushed = [
            sorted(m["Name"] for d in r["_aws"]["CloudWatchMetrics"] for m in d["Metrics"])
            for r in emitted(capfd.readouterr().out)
            if "_aws" in r
        ]
        outcomes.append((answer, logged, flushed))
    return outcomes


@pytest.fixture
def app_module(make_api: ApiFactory) -> Builder:
    def build(**env: str) -> Any:
        make_api(CACHE_TABLE="", POWERTOOLS_METRICS_DISABLED="false", **env)
        return load_functions_app()

    return build


@pytest.mark.parametrize("name", list(cases({"BALANCE": 40.900749})))
def test_each_event_is_answered_logged_and_counted_alike(
    name: str, app_module: Builder, published: str, valid_row: Row, output: Output
) -> None:
    module = app_module()
    direct, chalice = both_ways(module, cases(valid_row)[name], output)
    assert direct[0] == chalice[0]
    assert direct[1:] == chalice[1:]
    assert len(direct[1]) == 1  # one log line per request


@pytest.mark.parametrize("given", [None, "wrong", KEY])
def test_the_api_key_is_checked_alike(
    given: str | None, app_module: Builder, published: str, valid_row: Row, output: Output
) -> None:
    module = app_module(API_KEY=KEY)
    headers = {} if given is None else {"x-api-key": given}
    direct, chalice = both_ways(module, event(json.dumps(valid_row), **headers), output)
    assert direct == chalice
    assert direct[0]["statusCode"] == {None: 401, "wrong": 403, KEY: 200}[given]


def test_without_a_model_both_answer_503_alike(
    app_module: Builder, valid_row: Row, output: Output
) -> None:
    module = app_module(MODEL_LOAD_TIMEOUT_SECONDS="0.5")  # nothing published
    direct, chalice = both_ways(module, event(json.dumps(valid_row)), output, fresh=True)
    assert direct == chalice
    assert direct[0]["statusCode"] == 503


def test_an_unforeseen_error_is_a_logged_500_problem(
    app_module: Builder,
    published: str,
    valid_row: Row,
    monkeypatch: pytest.MonkeyPatch,
    output: Output,
) -> None:
    module = app_module()

    def broken(_: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(module, "score_customer", broken)
    direct, chalice = both_ways(module, event(json.dumps(valid_row)), output)
    assert direct[0] == chalice[0] and direct[0]["statusCode"] == 500
    assert direct[1:] == chalice[1:]
