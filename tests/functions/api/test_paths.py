"""``POST /v1/segment/path`` through chalice.test.Client on the real bundle in moto S3: the
answer's shape and its check against ``POST /v1/segment``, the 400s, the 422, the 503 of a
bundle without paths, the API key, and a solver failure that is never a 500."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from tests.functions.api.test_api import problem
from tests.functions.conftest import (
    ApiFactory,
    TrainedBundle,
    copy_bundle,
    emitted,
    post_json,
)
from tests.functions.scoring.test_agreement import real_rows
from training.registry import ModelRegistry

ROUTE = "/v1/segment/path"
NAMES = (
    "BALANCE", "BALANCE_FREQUENCY", "PURCHASES", "ONEOFF_PURCHASES", "INSTALLMENTS_PURCHASES",
    "CASH_ADVANCE", "PURCHASES_FREQUENCY", "ONEOFF_PURCHASES_FREQUENCY",
    "PURCHASES_INSTALLMENTS_FREQUENCY", "CASH_ADVANCE_FREQUENCY", "CASH_ADVANCE_TRX",
    "PURCHASES_TRX", "CREDIT_LIMIT", "PAYMENTS", "MINIMUM_PAYMENTS", "PRC_FULL_PAYMENT", "TENURE",
)  # fmt: skip
COUNTS = ("CASH_ADVANCE_TRX", "PURCHASES_TRX", "TENURE")


def segment_of(api: Client, row: dict[str, Any]) -> dict[str, Any]:
    response = post_json(api, "/v1/segment", row)
    assert response.status_code == 200, response.body
    body: dict[str, Any] = response.json_body
    return body


def path(api: Client, row: dict[str, Any], target: int, **extra: Any) -> Any:
    return post_json(api, ROUTE, {"customer": row, "target_segment": target, **extra})


def test_a_path_is_the_full_proposed_row_scored_typical_in_the_target(
    api: Client, valid_row: dict[str, Any]
) -> None:
    own = segment_of(api, valid_row)["segment"]["id"]
    target = (own + 1) % 3
    response = path(api, valid_row, target)
    assert response.status_code == 200, response.body
    body = response.json_body
    assert body["customer_id"] == "C10001" and body["from_segment"]["id"] == own
    assert body["target_segment"]["id"] == target
    assert list(body["proposed"]) == ["CUST_ID", *NAMES]
    assert body["proposed"]["CUST_ID"] == "C10001"
    assert set(body["may_change"]) == set(NAMES) - {"TENURE", "CREDIT_LIMIT"}
    # The check is what POST /v1/segment says of the proposed row.
    scored = segment_of(api, body["proposed"])
    assert scored["segment"]["id"] == target == body["check"]["segment"]["id"]
    assert scored["typicality"] == body["check"]["typicality"]
    assert body["check"]["typicality"]["label"] == "typical"
    assert body["map_positions"]["proposed"] == scored["map_position"]
    assert body["map_positions"]["customer"] == segment_of(api, valid_row)["map_position"]
    # Changes in the data's units: from the customer's value to the proposed one.
    assert body["changes"] and body["cost"] > 0 and body["flags"] == []
    for change in body["changes"]:
        name = change["feature"]
        assert change["from"] == valid_row[name] and change["to"] == body["proposed"][name]
        assert change["change"] == pytest.approx(change["to"] - change["from"], abs=1e-6)
        assert name not in {"TENURE", "CREDIT_LIMIT"}
    for name in COUNTS:
        assert isinstance(body["proposed"][name], int)
    unchanged = set(NAMES) - {c["feature"] for c in body["changes"]}
    assert all(body["proposed"][n] == valid_row[n] for n in unchanged)


def test_a_customer_already_in_the_target_gets_no_changes_even_when_unusual(
    api: Client,
) -> None:
    for row in real_rows()[:300]:
        scored = segment_of(api, row)
        if scored["typicality"]["label"] != "typical":
            break
    else:
        pytest.fail("no unusual customer among the first 300")
    body = path(api, row, scored["segment"]["id"]).json_body
    assert body["changes"] == [] and body["cost"] == 0
    assert body["from_segment"] == body["target_segment"] == body["check"]["segment"]
    assert body["check"]["typicality"] == scored["typicality"]  # its own, unusual
    assert {n: body["proposed"][n] for n in NAMES} == {n: row[n] for n in NAMES}


def test_credit_limit_moves_only_when_asked(api: Client, valid_row: dict[str, Any]) -> None:
    """Left out by default (the issuer's lever), allowed when named."""
    own = segment_of(api, valid_row)["segment"]["id"]
    target = (own + 1) % 3
    default = path(api, valid_row, target).json_body
    assert "CREDIT_LIMIT" not in {c["feature"] for c in default["changes"]}
    asked = [*default["may_change"], "CREDIT_LIMIT"]
    body = path(api, valid_row, target, may_change=asked).json_body
    assert body["may_change"] == [n for n in NAMES if n != "TENURE"]  # model order
    assert "CREDIT_LIMIT" in {c["feature"] for c in body["changes"]}
    assert body["cost"] <= default["cost"]  # one more variable free: never dearer
    assert body["check"]["typicality"]["label"] == "typical"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"target_segment": 7}, [("target_segment", "must be a segment id from 0 to 2, got 7")]),
        ({"target_segment": None}, [("target_segment", "is required")]),
        ({"may_change": ["TENURE"]},
         [("may_change", "'TENURE' is counted in months (time, not behaviour): it cannot change")]),
        ({"may_change": ["CUST_ID"]},
         [("may_change", "'CUST_ID' is the customer id, not a variable that can change")]),
        ({"may_change": ["BALANCE", "NOPE"]}, [("may_change", "'NOPE' is not a model variable")]),
        ({"may_change": "BALANCE"}, [("may_change", "must be a list of variable names")]),
        ({"may_change": []}, [("may_change", "must name at least one variable")]),
        ({"colour": "blue"}, [("colour", "is not a known field")]),
        ({"customer": None}, [("customer", "is required")]),
        ({"customer": [1]}, [("customer", "must be a JSON object, got list")]),
    ],
)  # fmt: skip
def test_request_problems_are_400s_naming_the_field(
    api: Client, valid_row: dict[str, Any], change: dict[str, Any], expected: list[Any]
) -> None:
    body = {"customer": valid_row, "target_segment": 0, **change}
    found = problem(post_json(api, ROUTE, body), 400)
    assert [(e["field"], e["message"]) for e in found["errors"]] == expected


def test_the_customer_has_the_errors_of_segment_prefixed(
    api: Client, valid_row: dict[str, Any]
) -> None:
    row = {**valid_row, "BALANCE": "abc", "PURCHASES": -5, "COLOUR": "blue"}
    del row["TENURE"]
    alone = problem(post_json(api, "/v1/segment", row), 400)["errors"]
    within = problem(path(api, row, 9), 400)["errors"]
    assert within == [
        *({"field": f"customer.{e['field']}", "message": e["message"]} for e in alone),
        {"field": "target_segment", "message": "must be a segment id from 0 to 2, got 9"},
    ]
    assert problem(post_json(api, ROUTE, [1]), 400)["errors"][0]["field"] == "(body)"


def test_no_path_is_a_422_naming_the_fixed_variable_that_keeps_the_customer_out(
    api: Client, valid_row: dict[str, Any]
) -> None:
    short = {**valid_row, "TENURE": 6}
    own = segment_of(api, short)["segment"]["id"]
    refusals = [
        problem(path(api, short, target), 422)
        for target in range(3)
        if target != own and path(api, short, target).status_code == 422
    ]
    assert refusals, "a 6-month customer is out of reach of some segment"
    for body in refusals:
        assert body["reason"] == "fixed_too_far" and body["title"] == "No path to the segment"
        assert body["blockers"][0]["feature"] == "TENURE" and body["blockers"][0]["value"] == 6
        assert body["errors"][0]["field"] == "TENURE" and "TENURE" in body["detail"]
        assert body["from_segment"]["id"] == own and body["model_version"]


def test_a_solver_failure_is_a_logged_422_never_a_500(
    api: Client,
    valid_row: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    log_lines: io.StringIO,
) -> None:
    from chalicelib.paths import PathFinder

    def broken(self: PathFinder, requests: Any) -> Any:
        raise FloatingPointError("boom")

    monkeypatch.setattr(PathFinder, "find_many", broken)
    own = segment_of(api, valid_row)["segment"]["id"]
    body = problem(path(api, valid_row, (own + 1) % 3), 422)
    assert body["reason"] == "not_found" and body["errors"][0]["field"] == "may_change"
    assert any(line["message"] == "path solver failed" for line in emitted(log_lines.getvalue()))


def test_a_bundle_without_the_scalers_numbers_answers_503(
    make_api: ApiFactory,
    store: ModelRegistry,
    bundle: TrainedBundle,
    tmp_path: Path,
    valid_row: dict[str, Any],
) -> None:
    features = [
        {k: v for k, v in f.items() if k not in {"scaler_mean", "scaler_scale"}}
        for f in bundle.manifest["features"]
    ]
    old = copy_bundle(bundle, tmp_path / "old", "20200101T000000Z-0ld0ld00", features=features)
    store.publish(old)
    api = make_api()
    assert segment_of(api, valid_row)["model_version"] == "20200101T000000Z-0ld0ld00"
    body = problem(path(api, valid_row, 0), 503)
    assert body["title"] == "Paths unavailable" and "retrain" in body["detail"]


def test_the_api_key_guards_the_route(
    make_api: ApiFactory, published: str, valid_row: dict[str, Any]
) -> None:
    client = make_api(API_KEY="s3cret")
    body = {"customer": valid_row, "target_segment": 0}
    problem(post_json(client, ROUTE, body), 401)
    problem(post_json(client, ROUTE, body, **{"x-api-key": "nope"}), 403)
    assert post_json(client, ROUTE, body, **{"x-api-key": "s3cret"}).status_code in {200, 422}


def test_seeded_real_pairs_answer_a_typical_landing_or_a_422(api: Client) -> None:
    """100 seeded (customer, other segment) pairs through the route: 200 with a proposed
    row that POST /v1/segment puts in the target as typical, or 422; never anything else
    (the whole data set goes through the solver in tests/functions/paths/test_sweep.py)."""
    rows = real_rows()
    rng = random.Random(17)
    statuses = []
    for row in rng.sample(rows, 100):
        own = segment_of(api, row)["segment"]["id"]
        target = rng.choice([t for t in range(3) if t != own])
        response = path(api, row, target)
        statuses.append(response.status_code)
        if response.status_code == 200:
            scored = segment_of(api, response.json_body["proposed"])
            assert (scored["segment"]["id"], scored["typicality"]["label"]) == (target, "typical")
        else:
            assert problem(response, 422)["reason"] in {"fixed_too_far", "out_of_reach"}
    assert statuses.count(200) > 90
