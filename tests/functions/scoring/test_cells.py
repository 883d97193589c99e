"""Cells validated a column at a time give the row contract's verdicts, row for row.

:func:`check_columns` must say, for every row, exactly what :meth:`Validator.validate` says
of the same row read cell by cell by the contract (``parse_cell``): valid with the same
values, imputed columns and flags, or refused with the same problems in the same order and
the same id. Hypothesis draws tables mixing plain numbers (the vectorised path), the
contract's tricky spellings (the per-cell path) and values the rules refuse.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from chalicelib.contract.feature import Feature
from chalicelib.contract.row import ID_FIELD, FieldProblem, parse_cell
from chalicelib.errors import ValidationFailed
from chalicelib.scoring.cells import TextColumns, check_columns
from chalicelib.scoring.scored import RowFailure
from chalicelib.scoring.validator import Validator, ValidRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TRICKY = [
    "", " ", "NA", "n/a", "null", "None", "nan", "NaN", " 5 ", "\t8\t", "1e3", ".5", "5.",
    "+5", "-0", "0", "-5", "1_000", "1,000", "0x10", "inf", "-inf", "Infinity", "١٢٣",
    "\u00a05", "e5", "--5", "1-2", ".", "+", "1e400", "1e13", "-1e13", "11.5", "1.0000001",
    "abc", "True", "2.5E-1", "1e-400", "99999999", "1.5",
]  # fmt: skip


def plain_number() -> st.SearchStrategy[str]:
    """What real files hold: digits with a point, now and then an exponent or a sign."""
    return st.one_of(
        st.integers(0, 10**6).map(str),
        st.floats(0, 1e5, allow_nan=False).map(lambda v: f"{v:.6g}"),
        st.floats(0, 1.2).map(lambda v: f"{v:.6f}"),
        st.sampled_from(["1e2", "2.5E-1", "+7", "-0", "0", "-3", "12.0", "1e13"]),
    )


def cell() -> st.SearchStrategy[str]:
    return st.one_of(plain_number(), plain_number(), st.just(""), st.sampled_from(TRICKY))


def table(names: list[str], plain_only: list[bool]) -> st.SearchStrategy[list[list[str]]]:
    """Rows of cells; a column drawn ``plain_only`` holds plain numbers and empties only."""
    columns = [st.one_of(plain_number(), st.just("")) if plain else cell() for plain in plain_only]
    ids = st.one_of(st.none(), st.text(max_size=4), st.just("K" * 129))
    return st.lists(st.tuples(ids, *columns).map(list), min_size=1, max_size=25)


def per_row(validator: Validator, names: list[str], row: list[Any]) -> ValidRecord | RowFailure:
    """The row read by the contract, one cell at a time, and validated as one record."""
    record: dict[str, Any] = {ID_FIELD: row[0]} if row[0] is not None else {}
    record.update({name: parse_cell(text) for name, text in zip(names, row[1:], strict=True)})
    try:
        return validator.validate(record)
    except ValidationFailed as error:
        return RowFailure(validator.customer_id_of(record), tuple(error.errors))


def by_columns(validator: Validator, names: list[str], rows: list[list[Any]]) -> list[Any]:
    columns = {name: [row[1 + j] for row in rows] for j, name in enumerate(names)}
    checked = check_columns(validator, TextColumns(len(rows), [r[0] for r in rows], columns))
    return checked.records()


def same(a: ValidRecord | RowFailure, b: ValidRecord | RowFailure) -> bool:
    if isinstance(a, RowFailure) or isinstance(b, RowFailure):
        return a == b
    values_a = [None if v is None else repr(v) for v in a.values]  # -0.0 and 0.0 differ here
    values_b = [None if v is None else repr(v) for v in b.values]
    return (values_a, a.customer_id, a.imputed, a.flags) == (
        values_b,
        b.customer_id,
        b.imputed,
        b.flags,
    )


@pytest.fixture(scope="module")
def validator(schema_features: tuple[Feature, ...]) -> Validator:
    return Validator(schema_features, ID_FIELD)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_columns_give_the_contracts_verdict_for_every_row(
    validator: Validator, data: st.DataObject
) -> None:
    names = list(validator.names)
    plain_only = data.draw(st.lists(st.booleans(), min_size=len(names), max_size=len(names)))
    rows = data.draw(table(names, plain_only))
    expected = [per_row(validator, names, row) for row in rows]
    got = by_columns(validator, names, rows)
    assert len(got) == len(expected)
    for index, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        assert same(mine, theirs), (index, rows[index], mine, theirs)


def test_every_tricky_cell_in_every_column(validator: Validator) -> None:
    names = list(validator.names)
    base = ["5"] * len(names)
    base[names.index("TENURE")] = "12"
    rows = []
    for j in range(len(names)):
        for text in TRICKY:
            row = list(base)
            row[j] = text
            rows.append(["K", *row])
    expected = [per_row(validator, names, row) for row in rows]
    got = by_columns(validator, names, rows)
    assert [same(a, b) for a, b in zip(got, expected, strict=True)] == [True] * len(rows)
    refused = [g for g in got if isinstance(g, RowFailure)]
    assert refused and all(isinstance(p, FieldProblem) for f in refused for p in f.errors)


def test_an_absent_optional_column_is_imputed_everywhere(validator: Validator) -> None:
    names = [n for n in validator.names if n != "MINIMUM_PAYMENTS"]
    columns = {n: ["12" if n == "TENURE" else "1"] * 3 for n in names}
    checked = check_columns(validator, TextColumns(3, [None, "a", "b"], columns))
    assert checked.failures == {}
    assert all("MINIMUM_PAYMENTS" in checked.imputed[i] for i in range(3))
    at = validator.names.index("MINIMUM_PAYMENTS")
    assert all(math.isnan(v) for v in checked.values[:, at])


def test_an_unreadable_row_keeps_its_id_and_only_its_reason(validator: Validator) -> None:
    names = list(validator.names)
    columns = {n: ["", "1"] for n in names}
    ragged = FieldProblem("(row)", "has 3 fields, the header has 18")
    checked = check_columns(validator, TextColumns(2, ["K" * 200, "b"], columns, {0: ragged}))
    assert checked.failures[0] == RowFailure("K" * 200, (ragged,))
    assert checked.customer_ids[0] == "K" * 200
