"""Validation from the manifest's feature schema: every error at once, clear messages."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from chalicelib.contract.feature import Feature
from chalicelib.errors import ValidationFailed
from chalicelib.scoring.validator import Validator

DATA = Path(__file__).resolve().parents[3] / "data" / "CC_GENERAL.csv"


@pytest.fixture(scope="module")
def validator(schema_features: tuple[Feature, ...]) -> Validator:
    return Validator(schema_features, "CUST_ID")


def errors_of(validator: Validator, row: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        validator.validate(row)
    assert caught.value.status == 400
    return {e.field: e.message for e in caught.value.errors}


def test_valid_row_gives_floats_in_schema_order(
    validator: Validator, valid_row: dict[str, Any]
) -> None:
    record = validator.validate(valid_row)
    assert record.customer_id == "C10001"
    assert len(record.values) == 17
    assert record.values[0] == pytest.approx(40.900749)
    assert all(isinstance(v, float) for v in record.values)
    assert record.imputed == ()
    assert record.flags == ()


def test_every_real_row_is_accepted_as_it_is(validator: Validator) -> None:
    with DATA.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    imputed = 0
    for row in rows:
        values = {k: None if v == "" else float(v) for k, v in row.items() if k != "CUST_ID"}
        record = validator.validate({**values, "CUST_ID": row["CUST_ID"]})
        imputed += len(record.imputed)
    assert len(rows) == 8950
    assert imputed == 313 + 1  # MINIMUM_PAYMENTS and the one missing CREDIT_LIMIT


def test_all_field_errors_are_reported_at_once(
    validator: Validator, valid_row: dict[str, Any]
) -> None:
    row = dict(valid_row)
    row["BALANCE"] = "abc"
    del row["TENURE"]
    row["PURCHASES"] = -5
    row["BALANCE_FREQUENCY"] = 1.2
    row["PURCHASES_TRX"] = 2.5
    row["COLOUR"] = "blue"
    row["CUST_ID"] = 17
    assert errors_of(validator, row) == {
        "BALANCE": "must be a number, got 'abc'",
        "TENURE": "is required",
        "PURCHASES": "must not be negative, got -5",
        "BALANCE_FREQUENCY": "must be at most 1, got 1.2",
        "PURCHASES_TRX": "must be a whole number, got 2.5",
        "COLOUR": "is not a known field",
        "CUST_ID": "must be a string, got 17",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "must be a number, got True"),
        ([1], "must be a number, got [1]"),
        ({"a": 1}, "must be a number, got {'a': 1}"),
        (float("nan"), "must be a finite number, got nan"),
        (float("inf"), "is out of range: magnitude above 1e+12"),
        (10**400, "is out of range: magnitude above 1e+12"),
        (1e13, "is out of range: magnitude above 1e+12"),
    ],
)
def test_values_that_are_not_usable_numbers(
    validator: Validator, valid_row: dict[str, Any], value: Any, message: str
) -> None:
    assert errors_of(validator, {**valid_row, "BALANCE": value}) == {"BALANCE": message}


def test_tenure_below_its_hard_minimum(validator: Validator, valid_row: dict[str, Any]) -> None:
    assert errors_of(validator, {**valid_row, "TENURE": 0}) == {
        "TENURE": "must be at least 1, got 0"
    }


def test_optional_fields_may_be_absent_or_null_and_are_imputed(
    validator: Validator, valid_row: dict[str, Any]
) -> None:
    row = {**valid_row, "MINIMUM_PAYMENTS": None}
    del row["CREDIT_LIMIT"]
    record = validator.validate(row)
    assert record.imputed == ("CREDIT_LIMIT", "MINIMUM_PAYMENTS")
    assert record.values[validator.names.index("CREDIT_LIMIT")] is None
    assert record.values[validator.names.index("MINIMUM_PAYMENTS")] is None


def test_required_field_null_is_missing(validator: Validator, valid_row: dict[str, Any]) -> None:
    assert errors_of(validator, {**valid_row, "BALANCE": None}) == {"BALANCE": "is required"}


def test_possible_value_outside_training_range_is_flagged_not_rejected(
    validator: Validator, valid_row: dict[str, Any]
) -> None:
    record = validator.validate({**valid_row, "BALANCE": 25000, "TENURE": 3})
    assert [f.to_json() for f in record.flags] == [
        {"field": "BALANCE", "message": "above the training maximum 19043.14; scored anyway"},
        {"field": "TENURE", "message": "below the training minimum 6; scored anyway"},
    ]


def test_one_and_one_point_zero_are_the_same_input(
    validator: Validator, valid_row: dict[str, Any]
) -> None:
    as_int = validator.validate({**valid_row, "TENURE": 12, "CREDIT_LIMIT": 1000})
    as_float = validator.validate({**valid_row, "TENURE": 12.0, "CREDIT_LIMIT": 1000.0})
    assert as_int.values == as_float.values


@pytest.mark.parametrize("body", [[1, 2], "text", 3, None])
def test_body_must_be_an_object(validator: Validator, body: Any) -> None:
    assert list(errors_of(validator, body)) == ["(body)"]


def test_problem_body_shape(validator: Validator, valid_row: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validator.validate({**valid_row, "BALANCE": "x", "TENURE": None})
    problem = caught.value.to_problem()
    assert problem["type"] == "https://cc-segmentation.example/problems/validation"
    assert problem["status"] == 400
    assert problem["detail"] == "2 fields are invalid"
    assert problem["errors"][0] == {"field": "BALANCE", "message": "must be a number, got 'x'"}
