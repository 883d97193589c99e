"""Every route of the API through chalice.test.Client, on a real bundle in moto S3."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from tests.functions.conftest import ApiFactory, TrainedBundle, post_json

PROBLEM = "application/problem+json"


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"] == PROBLEM
    body: dict[str, Any] = json.loads(response.body)
    assert body["status"] == status
    assert body["type"].startswith("https://cc-segmentation.example/problems/")
    return body


def test_segment_scores_a_real_customer(
    api: Client, valid_row: dict[str, Any], bundle: TrainedBundle, published: str
) -> None:
    response = post_json(api, "/v1/segment", valid_row)
    assert response.status_code == 200
    body = response.json_body
    assert body["customer_id"] == "C10001"
    assert body["model_version"] == published
    assert body["cache"] == "miss"
    assert body["segment"]["id"] == bundle.labels[0]
    assert set(body["segment"]) == {"id", "name", "description", "action"}
    band = body["credit_limit"]["benchmark"]
    assert band["p25"] <= band["p50"] <= band["p75"]
    assert body["credit_limit"]["customer_limit"] == 1000.0
    assert body["credit_limit"]["position"] in {"below", "within", "above"}
    assert 0 <= body["typicality"]["percentile"] <= 100
    distances = body["explanation"]["distances"]
    own = distances[body["segment"]["id"]]["distance"]
    assert own == min(d["distance"] for d in distances)
    runner_up = distances[body["explanation"]["runner_up"]]["distance"]
    assert abs(body["explanation"]["margin"] - (runner_up - own)) < 1e-5
    assert body["explanation"]["drivers"]
    assert set(body["map_position"]) == {"x", "y"}
    assert body["imputed"] == [] and body["flags"] == []


def test_second_identical_request_is_a_cache_hit_with_the_same_result(
    api: Client, valid_row: dict[str, Any]
) -> None:
    first = post_json(api, "/v1/segment", valid_row).json_body
    as_floats = {k: float(v) if isinstance(v, int) else v for k, v in valid_row.items()}
    second = post_json(api, "/v1/segment", as_floats).json_body
    assert (first["cache"], second["cache"]) == ("miss", "hit")
    assert {**first, "cache": "hit"} == second


def test_missing_optional_values_are_imputed_and_limit_position_unknown(
    api: Client, valid_row: dict[str, Any]
) -> None:
    row = {**valid_row, "CREDIT_LIMIT": None}
    del row["MINIMUM_PAYMENTS"]
    body = post_json(api, "/v1/segment", row).json_body
    assert body["imputed"] == ["CREDIT_LIMIT", "MINIMUM_PAYMENTS"]
    assert body["credit_limit"]["position"] == "unknown"
    assert body["credit_limit"]["suggestion"] == "none"


def test_out_of_training_range_is_scored_and_flagged(
    api: Client, valid_row: dict[str, Any]
) -> None:
    body = post_json(api, "/v1/segment", {**valid_row, "BALANCE": 50000}).json_body
    assert body["flags"][0]["field"] == "BALANCE"
    assert "scored anyway" in body["flags"][0]["message"]


def test_customer_id_is_optional(api: Client, valid_row: dict[str, Any]) -> None:
    row = {k: v for k, v in valid_row.items() if k != "CUST_ID"}
    assert post_json(api, "/v1/segment", row).json_body["customer_id"] is None


def test_validation_errors_name_every_field(api: Client, valid_row: dict[str, Any]) -> None:
    row = {**valid_row, "BALANCE": "abc", "PURCHASES": -5, "EXTRA": 1}
    del row["TENURE"]
    body = problem(post_json(api, "/v1/segment", row), 400)
    assert body["detail"] == "4 fields are invalid"
    assert {e["field"] for e in body["errors"]} == {"BALANCE", "PURCHASES", "EXTRA", "TENURE"}


def test_malformed_json_is_a_400(api: Client) -> None:
    for raw in (b"{not json", b'{"BALANCE": NaN}', b"\xff\xfe", b""):
        response = api.http.post(
            "/v1/segment", headers={"Content-Type": "application/json"}, body=raw
        )
        assert problem(response, 400)["errors"][0]["field"] == "(body)"


def test_wrong_content_type_is_a_415_problem(api: Client, valid_row: dict[str, Any]) -> None:
    response = api.http.post(
        "/v1/segment", headers={"Content-Type": "text/plain"}, body=json.dumps(valid_row).encode()
    )
    assert "text/plain" in problem(response, 415)["detail"]


def test_body_over_the_limit_is_a_413(api: Client) -> None:
    body = b'{"customers": [' + b" " * (2 * 1024 * 1024) + b"]}"
    response = api.http.post(
        "/v1/segment/batch", headers={"Content-Type": "application/json"}, body=body
    )
    problem(response, 413)


def test_unknown_route_is_a_404_problem(api: Client) -> None:
    for path in ("/", "/nope", "/v1/nope", "/v1/segment/nope", "/a/b/c"):
        problem(api.http.get(path), 404)


def test_wrong_method_is_a_405_problem(api: Client) -> None:
    response = api.http.get("/v1/segment")
    problem(response, 405)
    assert response.headers["Allow"] == "POST"


def test_batch_scores_valid_rows_and_reports_invalid_ones(
    api: Client, valid_row: dict[str, Any], published: str
) -> None:
    customers = [
        valid_row,
        {**valid_row, "CUST_ID": "C2", "BALANCE": -5},
        "not an object",
        {**valid_row, "CUST_ID": "C4", "TENURE": 11},
    ]
    body = post_json(api, "/v1/segment/batch", {"customers": customers}).json_body
    assert body["model_version"] == published
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert [r["ok"] for r in body["results"]] == [True, False, False, True]
    assert body["results"][1]["customer_id"] == "C2"
    assert body["results"][1]["errors"] == [
        {"field": "BALANCE", "message": "must not be negative, got -5"}
    ]
    assert body["results"][2]["errors"][0]["field"] == "(body)"
    assert body["results"][3]["result"]["customer_id"] == "C4"
    assert body["summary"] == {
        "total": 4,
        "scored": 2,
        "failed": 2,
        "cache": {"hit": 0, "miss": 2, "bypass": 0},
    }
    again = post_json(api, "/v1/segment/batch", {"customers": customers}).json_body
    assert again["summary"]["cache"] == {"hit": 2, "miss": 0, "bypass": 0}


def test_batch_body_shape_errors(api: Client, valid_row: dict[str, Any]) -> None:
    cases = [
        ([valid_row], "(body)"),
        ({}, "customers"),
        ({"customers": []}, "customers"),
        ({"customers": {"a": 1}}, "customers"),
        ({"customers": [valid_row] * 1001}, "customers"),
        ({"customers": [valid_row], "extra": 1}, "extra"),
    ]
    for body, field in cases:
        errors = problem(post_json(api, "/v1/segment/batch", body), 400)["errors"]
        assert errors[0]["field"] == field


def test_segments_route(api: Client, bundle: TrainedBundle, published: str) -> None:
    body = api.http.get("/v1/segments").json_body
    manifest = bundle.manifest
    assert body["model_version"] == published
    assert body["k"] == manifest["k"] == len(body["segments"])
    first = body["segments"][0]
    assert {"id", "name", "description", "action", "rules", "medians"} <= set(first)
    assert "centroid" not in first and "distance_percentiles" not in first
    assert body["map"] == manifest["map"]


def test_model_route_has_the_feature_schema_and_limits(api: Client, bundle: TrainedBundle) -> None:
    body = api.http.get("/v1/model").json_body
    manifest = bundle.manifest
    assert body["version"] == manifest["version"]
    assert body["features"] == manifest["features"]
    assert body["elbow"] == manifest["elbow"]
    assert body["stability"] == manifest["stability"]
    assert body["migration"] is None  # the session bundle is a first training
    assert body["limits"] == {"max_batch": 1000, "max_body_bytes": 2097152, "max_tallies": 500}


def test_health(api: Client, published: str) -> None:
    body = api.http.get("/v1/health").json_body
    assert body == {
        "status": "ok",
        "model_version": published,
        "current": None,  # the version serving is the current one
        "cache": "ok",
        "history": "disabled",  # no HISTORY_TABLE in this environment
    }


def test_openapi_document_is_served(api: Client) -> None:
    body = api.http.get("/v1/openapi.json").json_body
    assert body["openapi"].startswith("3.1")


def test_api_key_required_when_configured(
    make_api: ApiFactory, published: str, valid_row: dict[str, Any]
) -> None:
    client = make_api(API_KEY="s3cret")
    assert problem(post_json(client, "/v1/segment", valid_row), 401)["title"] == "Missing API key"
    problem(post_json(client, "/v1/segment", valid_row, **{"x-api-key": "nope"}), 403)
    problem(client.http.get("/v1/model"), 401)
    ok = post_json(client, "/v1/segment", valid_row, **{"x-api-key": "s3cret"})
    assert ok.status_code == 200
    assert client.http.get("/v1/health").status_code == 200  # health stays public
