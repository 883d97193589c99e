"""The scoring API (docs/contracts.md, section 2). Routes parse, call a service, return.

Importing this module is the Lambda init phase: in Lambda it also loads the model and
builds the clients (:mod:`chalicelib.lifecycle`), so that SnapStart snapshots them and a
cold start without SnapStart does that work before the first request. What the first
request does not need (the batch-file code, the OpenAPI document) is imported on use.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from chalice.app import Chalice, Request, Response, S3Event
from chalicelib import composition, lifecycle
from chalicelib.api import catalog, direct, http
from chalicelib.api.health import Health, health_body
from chalicelib.composition import (
    get_cache,
    get_history,
    get_model,
    get_model_loader,
    get_reports,
    get_service,
    get_settings,
)
from chalicelib.config import BATCH_INPUT_PREFIX, BATCH_INPUT_SUFFIX, batch_bucket
from chalicelib.errors import NotFound
from chalicelib.scoring.scored import batch_json

app = Chalice(app_name="cc-segmentation")
OPENAPI_FILE = Path(__file__).parent / "chalicelib" / "api" / "openapi.json"
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]
BATCH_TYPES = ["application/json", http.CSV_TYPE]
composition.check_settings()  # a malformed setting is logged once, when the container starts


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The API function's entry point (template.yaml): ``POST /v1/segment``, most of the
    traffic, goes straight to the service (chalicelib.api.direct); every other request, and
    ``chalice local``, through Chalice's routes below, which answer the same."""
    answer = direct.answer_segment(event, score_customer, get_settings)
    return answer if answer is not None else app(event, context)


def score_customer(body: Any) -> dict[str, Any]:
    return get_service().score_one(body).to_json()


@app.middleware("http")
def guard(request: Request, get_response: Any) -> Response:
    return http.handle(request, get_response, get_settings)


@app.route("/v1/segment", methods=["POST"])
def segment() -> dict[str, Any]:
    return score_customer(http.json_body(app.current_request))  # type: ignore[arg-type]


@app.route("/v1/segment/batch", methods=["POST"], content_types=BATCH_TYPES)
def segment_batch() -> dict[str, Any] | Response:
    request: Request = app.current_request  # type: ignore[assignment]
    first_row = http.first_row(request)  # checked for JSON bodies too (meaningless there)
    if not http.sends_csv(request):
        return batch_json(get_service().score_batch(http.customers_of(http.json_body(request))))
    from chalicelib.api import csv_body  # CSV batches only: not on the common request's path

    as_csv = http.wants_csv(request)
    answer = csv_body.score_body(get_service(), http.raw_body(request), first_row, not as_csv)
    if as_csv:
        table = csv_body.results_csv(answer.scored)
        return http.csv_response(table, answer.warnings, answer.tally.to_json())
    return answer.to_json()


@app.route("/v1/segment/path", methods=["POST"])
def segment_path() -> dict[str, Any]:
    from chalicelib.api import paths  # the path route only: not on the scoring path

    body = http.json_body(app.current_request)  # type: ignore[arg-type]
    return paths.path_body(get_model(), composition.get_path_finder, body)


@app.route("/v1/segments", methods=["GET"])
def segments() -> dict[str, Any]:
    return catalog.segments_body(get_model().manifest)


@app.route("/v1/model", methods=["GET"])
def model() -> dict[str, Any]:
    return catalog.model_body(get_model().manifest)


@app.route("/v1/health", methods=["GET"])
def health() -> Health:
    get_model()  # 503 while no model can be served; once one is loaded, never waits on S3
    return health_body(get_model_loader().state(), get_cache(), get_history())


@app.route("/v1/reports", methods=["GET"])
def list_reports() -> dict[str, Any]:
    from chalicelib.api import reports as monitoring  # report routes only: not on the scoring path

    query = app.current_request.query_params  # type: ignore[union-attr]
    return monitoring.list_body(get_reports(), query)


@app.route("/v1/reports/{name}", methods=["GET"])
def get_report(name: str) -> dict[str, Any]:
    from chalicelib.api import reports as monitoring

    return monitoring.report_body(get_reports(), name)


@app.route("/v1/drift/report", methods=["POST"])
def drift_report() -> dict[str, Any]:
    from chalicelib.api import drift_report as drift_api  # not on the scoring path

    request: Request = app.current_request  # type: ignore[assignment]
    return drift_api.report_body(get_model(), http.json_body(request))


@app.route("/v1/openapi.json", methods=["GET"])
def openapi() -> dict[str, Any]:
    return openapi_document()


@cache
def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, read on first use (no request but this one needs it)."""
    document: dict[str, Any] = json.loads(OPENAPI_FILE.read_text())
    return document


# API Gateway (and chalice local) answer unknown paths with 403 "Missing Authentication
# Token"; these catch-alls make them a problem+json 404 as the contract says.
@app.route("/", methods=ANY_METHOD)
@app.route("/{first}", methods=ANY_METHOD)
@app.route("/{first}/{second}", methods=ANY_METHOD)
@app.route("/v1/{second}", methods=ANY_METHOD)
@app.route("/{first}/{second}/{third}", methods=ANY_METHOD)
@app.route("/v1/segment/{third}", methods=ANY_METHOD)
def not_found(**_: str) -> Response:
    raise NotFound(f"no route {app.current_request.path}")  # type: ignore[union-attr]


@app.on_s3_event(bucket=batch_bucket(), prefix=BATCH_INPUT_PREFIX, suffix=BATCH_INPUT_SUFFIX)
def score_batch_file(event: S3Event) -> None:
    """A CSV put under batch/input/ is scored into batch/output/ (see chalicelib.batch.files)."""
    from chalicelib.batch import files as batch_files  # only the batch function needs it

    batch_files.score_file(event.bucket, event.key, get_service())


# In AWS every file goes through the Step Functions run (template.yaml, BatchRuns): small
# files to score_whole_file (the one-invocation path above), large ones to a Distributed Map
# whose workers run score_batch_rows and whose other steps run batch_run_step.
@app.lambda_function(name="score_whole_file")
def score_whole_file(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib.batch import files as batch_files

    summary = batch_files.score_file(event["bucket"], event["key"], get_service())
    return {"status": summary.status, "rows": summary.rows}


@app.lambda_function(name="score_batch_rows")
def score_batch_rows(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib.batch import runs as batch_runs

    return batch_runs.score_batch(event, composition.get_service_for)


@app.lambda_function(name="batch_run_step")
def batch_run_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib.batch import runs as batch_runs

    return batch_runs.run_step(event, get_service(), composition.get_service_for)


if lifecycle.in_lambda_init():
    lifecycle.initialise()
