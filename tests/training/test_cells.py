"""Column-wise checks give the row contract's verdict for every cell.

``training.cells`` reads a column at once (Arrow for plain numbers, the contract for the
rest); the contract's own per-cell functions are the reference: the same number (``-0``
is 0), the same "missing", the same problem and message, for any cell text, any numeric
Parquet value and any id.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from chalicelib.contract.feature import Feature
from chalicelib.contract.row import (
    COLUMN_RULES,
    check_id,
    check_value,
    id_of_cell,
    parse_cell,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from training.cells import read_ids, read_values

NUMBER_TEXT = st.from_regex(r"\A[+-]?(\d{0,25}\.?\d{0,25})([eE][+-]?\d{1,4})?\Z", fullmatch=True)
ODD_TEXT = st.sampled_from(
    ["", " ", "NA", "n/a", "NULL", "none", "nan", "NaN", "inf", "-inf", "Infinity", "1_000",
     "1,000", "0x10", "True", "١٢٣", "１２３", "\u00a01", " 12 ", "\t5", "1e400", "-1e400",
     "1e-400", "-0", "+0.0", ".", "e5", "1-2", "--1", "abc", "2.5", "1e12", "1000000000001",
     "-5", "0", "1", "1.5", "12"]
)  # fmt: skip
CELLS = st.lists(st.one_of(NUMBER_TEXT, ODD_TEXT, st.text(max_size=6)), max_size=60)
EVERY_RULE = pytest.mark.parametrize("rule", COLUMN_RULES, ids=[r.name for r in COLUMN_RULES])


def expected(rule: Feature, values: list[Any]) -> list[tuple[str, Any]]:
    """The contract's verdict per cell: ("number", x) | ("missing",) | ("refused", message)."""
    out: list[tuple[str, Any]] = []
    for value in values:
        number, problem = check_value(rule, value)
        if problem is not None:
            out.append(("refused", problem.message))
        elif number is None:
            out.append(("missing", None))
        else:
            out.append(("number", repr(number)))
    return out


def read(rule: Feature, cells: pa.Array) -> list[tuple[str, Any]]:
    """``read_values``' verdict per cell, in the same shape."""
    column = read_values(rule, cells)
    refused = dict(
        zip(
            column.refused.rows.tolist(),
            [column.refused.problems[i].message for i in column.refused.problem_of],
            strict=True,
        )
    )
    out: list[tuple[str, Any]] = []
    for i, value in enumerate(column.values.tolist()):
        if i in refused:
            assert math.isnan(value)
            out.append(("refused", refused[i]))
        elif column.missing[i]:
            assert math.isnan(value)
            out.append(("missing", None))
        else:
            out.append(("number", repr(value)))
    return out


@EVERY_RULE
@settings(max_examples=40, deadline=None)
@given(cells=CELLS)
def test_text_cells_get_the_contracts_verdict(rule: Feature, cells: list[str]) -> None:
    got = read(rule, pa.array(cells, type=pa.string()))
    assert got == expected(rule, [parse_cell(c) for c in cells])


@EVERY_RULE
@settings(max_examples=20, deadline=None)
@given(cells=st.lists(NUMBER_TEXT, max_size=40))
def test_plain_numbers_read_as_pythons_float(rule: Feature, cells: list[str]) -> None:
    got = read(rule, pa.array(cells, type=pa.string()))
    assert got == expected(rule, [parse_cell(c) for c in cells])


NUMBERS = st.lists(
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**13)),
    max_size=40,
)


@EVERY_RULE
@settings(max_examples=30, deadline=None)
@given(values=NUMBERS)
def test_numeric_columns_get_the_contracts_verdict(rule: Feature, values: list[Any]) -> None:
    """A Parquet float column: null is missing, NaN and infinities are refused."""
    floats = [None if v is None else float(v) for v in values]
    got = read(rule, pa.array(floats, type=pa.float64()))
    assert got == expected(rule, floats)


@EVERY_RULE
@settings(max_examples=10, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(-5, 10**13)), max_size=40))
def test_integer_columns_get_the_contracts_verdict(rule: Feature, values: list[Any]) -> None:
    got = read(rule, pa.array(values, type=pa.int64()))
    assert got == expected(rule, values)


def test_booleans_are_not_numbers() -> None:
    rule = COLUMN_RULES[0]
    got = read(rule, pa.array([True, None, False]))
    assert got == expected(rule, [True, None, False])
    assert got[0] == ("refused", "must be a number, got True")


ID_TEXT = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", " ", "NA", "na ", "None", " C1", "C1\t", "C1", "x" * 129, "é" * 129]),
)


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), ID_TEXT), max_size=40))
def test_ids_get_the_contracts_verdict(cells: list[str | None]) -> None:
    column = read_ids(pa.array(cells, type=pa.string()))
    want = [None if c is None else id_of_cell(c) for c in cells]
    assert column.ids.tolist() == want
    assert column.missing.tolist() == [w is None for w in want]
    refused = column.refused
    rows, codes = refused.rows.tolist(), refused.problem_of.tolist()
    problems = {r: refused.problems[p].message for r, p in zip(rows, codes, strict=True)}
    for i, value in enumerate(want):
        _, problem = check_id(value)
        assert problems.get(i) == (problem.message if problem else None)


def test_typed_ids_are_refused_as_json_would_be() -> None:
    column = read_ids(pa.array([17, None, 18], type=pa.int64()))
    assert column.ids.tolist() == [17, None, 18]
    assert [column.refused.problems[p].message for p in column.refused.problem_of] == [
        "must be a string, got 17",
        "must be a string, got 18",
    ]


def test_minus_zero_is_zero() -> None:
    values = read_values(COLUMN_RULES[0], pa.array(["-0", "-0.0", "0"])).values
    assert [str(v) for v in values] == ["0.0", "0.0", "0.0"]
    assert not np.signbit(values).any()
