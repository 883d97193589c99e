"""The OpenAPI document against the running app (``chalice local`` on a moto server).

Schemathesis generates requests from functions/chalicelib/api/openapi.json, valid and invalid,
and checks every answer: no 5xx, documented status codes and content types, bodies that
match the schemas (methods API Gateway never forwards, such as TRACE, aside). Few examples
per operation keep it well under a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import schemathesis
from chalicelib.contract.row import ABSOLUTE_MAX
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.functions.conftest import (
    FUNCTIONS_DIR,
    TrainedBundle,
    create_cache_table,
    create_history_table,
)
from tests.servers import local_stage_env, start_chalice_local, start_moto_server
from training.registry import ModelRegistry

OPENAPI = FUNCTIONS_DIR / "chalicelib" / "api" / "openapi.json"
schema = schemathesis.openapi.from_path(OPENAPI)
# The methods API Gateway passes to the function (and chalice local's server implements).
GATEWAY_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
DRIFT_REPORT = "/v1/drift/report"
SEGMENT_PATH = "/v1/segment/path"


@pytest.fixture(scope="module")
def local_api(bundle: TrainedBundle) -> Iterator[str]:
    stage = local_stage_env()
    with start_moto_server() as aws_url:
        s3 = boto3.client("s3", endpoint_url=aws_url)
        s3.create_bucket(Bucket=stage["MODEL_BUCKET"])
        create_cache_table(boto3.client("dynamodb", endpoint_url=aws_url), stage["CACHE_TABLE"])
        create_history_table(boto3.client("dynamodb", endpoint_url=aws_url), stage["HISTORY_TABLE"])
        s3.create_bucket(Bucket=stage["BATCH_BUCKET"])  # no reports yet: an empty list
        ModelRegistry(stage["MODEL_BUCKET"], s3_client=s3).publish(bundle.path)
        with start_chalice_local(aws_url) as api_url:
            yield api_url


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, local_api: str) -> None:
    if case.method.upper() not in GATEWAY_METHODS:
        return  # chalice local's HTTP server answers e.g. TRACE itself (501), before the app
    # A CSV body is a string to the schema; which strings are valid CSV files is the row
    # contract's business (tests/functions/test_conformance.py), so a schema-valid CSV body
    # may be refused with a 400. Likewise a drift tally's counts must agree with each other
    # and with the model serving (features, bins, segments, version), which no schema says
    # (tests/functions/api/test_drift_report.py). A path request may name a segment the
    # model does not have, or a customer with no path to it (422, documented). Every other
    # check still applies (never a 500, shapes...).
    refusable = case.media_type == "text/csv" or case.operation.path in {DRIFT_REPORT, SEGMENT_PATH}
    excluded: list[Any] = [positive_data_acceptance] if refusable else []
    case.call_and_validate(base_url=local_api, timeout=30, excluded_checks=excluded)


def test_customer_schema_matches_the_bundle_features(bundle: TrainedBundle) -> None:
    document = json.loads(OPENAPI.read_text())
    customer = document["components"]["schemas"]["Customer"]
    features = bundle.manifest["features"]
    assert list(customer["properties"]) == ["CUST_ID", *(f["name"] for f in features)]
    assert customer["required"] == [f["name"] for f in features if not f["optional"]]
    for feature in features:
        prop = customer["properties"][feature["name"]]
        assert prop.get("minimum") == feature["valid_min"]
        assert prop["maximum"] == (feature["valid_max"] or ABSOLUTE_MAX)
        assert ("integer" in str(prop["type"])) == feature["integer"]


def test_health_schema_has_the_codes_statuses_and_reasons() -> None:
    """One definition: the document's enums are the code's words, and every model state the
    health body can take validates against the document."""
    import jsonschema
    from chalicelib.api.health import STATUSES, health_body
    from chalicelib.scoring.model_state import REASONS, ModelState

    document = json.loads(OPENAPI.read_text())
    schemas = document["components"]["schemas"]
    assert schemas["Health"]["properties"]["status"]["enum"] == list(STATUSES)
    assert schemas["CurrentVersion"]["properties"]["reason"]["enum"] == list(REASONS)
    health = {**document, "$ref": "#/components/schemas/Health"}
    states = [ModelState("V1", "V1"), ModelState("V1")] + [
        ModelState("V1", "V2", reason) for reason in REASONS
    ]
    for state in states:
        jsonschema.validate(health_body(state, None, None), health)


def test_drift_tally_schemas_are_the_codes_shapes_and_limits() -> None:
    """One definition: the tally's fields and the route's limits are the code's."""
    from chalicelib.api.limits import MAX_BATCH, MAX_BODY_BYTES, MAX_TALLIES
    from chalicelib.drift.tally import COUNT_KEYS, MAX_COUNT, MAX_VERSION_LENGTH, TALLY_KEYS

    schemas = json.loads(OPENAPI.read_text())["components"]["schemas"]
    assert schemas["DriftTally"]["required"] == list(TALLY_KEYS)
    assert schemas["DriftTally"]["properties"]["model_version"]["maxLength"] == MAX_VERSION_LENGTH
    assert schemas["DriftCounts"]["required"] == list(COUNT_KEYS)
    assert schemas["DriftCounts"]["properties"]["rows"]["maximum"] == MAX_COUNT
    assert schemas["DriftReportRequest"]["properties"]["tallies"]["maxItems"] == MAX_TALLIES
    limits = schemas["ModelResponse"]["properties"]["limits"]["properties"]
    assert {k: v["const"] for k, v in limits.items()} == {
        "max_batch": MAX_BATCH,
        "max_body_bytes": MAX_BODY_BYTES,
        "max_tallies": MAX_TALLIES,
    }


def test_path_schemas_are_the_models_columns(bundle: TrainedBundle) -> None:
    """One definition: what may_change may name and what proposed holds are the model's
    columns (TENURE, counted in months, may not change)."""
    schemas = json.loads(OPENAPI.read_text())["components"]["schemas"]
    names = [f["name"] for f in bundle.manifest["features"]]
    months = [f["name"] for f in bundle.manifest["features"] if f["kind"] == "months"]
    may_change = schemas["PathRequest"]["properties"]["may_change"]["items"]["enum"]
    assert may_change == [n for n in names if n not in months] and months == ["TENURE"]
    proposed = schemas["PathResult"]["properties"]["proposed"]
    assert list(proposed["properties"]) == proposed["required"] == ["CUST_ID", *names]


def test_batch_path_schema_has_the_contracts_columns_and_statuses() -> None:
    from chalicelib.contract.row import PATH_COLUMNS, PATH_STATUSES

    path = json.loads(OPENAPI.read_text())["components"]["schemas"]["BatchPath"]
    assert path["required"] == list(path["properties"]) == list(PATH_COLUMNS)
    assert path["properties"]["path_status"]["enum"] == [*PATH_STATUSES, None]
