"""The vectorised rounding and percentile lookup agree with Python's, value for value."""

from __future__ import annotations

import bisect
import warnings

import numpy as np
from chalicelib.scoring.arrays import percentile_in, percentile_of, round_like_python
from hypothesis import given, settings
from hypothesis import strategies as st

FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
DIGITS = st.sampled_from([0, 1, 2, 4, 6])


def halfway(digits: int) -> st.SearchStrategy[float]:
    """Values at or next to a half-way point of ``digits`` decimals (2.675, 0.125, ...):
    where the product ``v * 10**d`` is most likely to round the other way."""
    points = st.integers(-(10**9), 10**9).map(lambda n: (n + 0.5) / 10**digits)
    return points.flatmap(
        lambda v: st.sampled_from([v, np.nextafter(v, np.inf), np.nextafter(v, -np.inf)])
    ).map(float)


def assert_same(got: np.ndarray, values: list[float], digits: int) -> None:
    expected = [round(v, digits) for v in values]
    assert got.tolist() == expected
    assert [str(v) for v in got.tolist()] == [str(v) for v in expected]  # -0.0 too


@settings(max_examples=300, deadline=None)
@given(st.lists(FINITE, min_size=1, max_size=80), DIGITS)
def test_rounding_any_floats_like_python(values: list[float], digits: int) -> None:
    assert_same(round_like_python(np.array(values), digits), values, digits)


@settings(max_examples=300, deadline=None)
@given(st.data(), DIGITS)
def test_rounding_half_way_values_like_python(data: st.DataObject, digits: int) -> None:
    values = data.draw(st.lists(halfway(digits), min_size=1, max_size=80))
    assert_same(round_like_python(np.array(values), digits), values, digits)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.sampled_from([2, 4]))
def test_rounding_keeps_the_shape_of_a_matrix(values: list[float], digits: int) -> None:
    matrix = np.array(values + values).reshape(2, len(values))
    got = round_like_python(matrix, digits)
    assert got.shape == matrix.shape
    assert got.tolist() == [[round(v, digits) for v in row] for row in matrix.tolist()]


def test_rounding_the_classic_cases() -> None:
    values = [2.675, 1.005, 0.125, 0.375, -0.125, -2.5, 2.5, 1e-5, -1e-5, 0.0, -0.0, 1e17]
    for digits in (0, 2, 4):
        assert_same(round_like_python(np.array(values), digits), values, digits)


TABLE = st.lists(st.floats(0, 50), min_size=101, max_size=101).map(sorted)


@settings(max_examples=200, deadline=None)
@given(st.lists(TABLE, min_size=1, max_size=3), st.data())
def test_percentile_lookup_like_bisect(tables: list[list[float]], data: st.DataObject) -> None:
    rows = data.draw(st.lists(st.integers(0, len(tables) - 1), min_size=1, max_size=40))
    probes = [
        data.draw(st.one_of(st.floats(-1, 60), st.sampled_from(tables[r]))) for r in rows
    ]  # values from the table itself hit the ties
    got = percentile_in(np.array(probes), np.array([tables[r] for r in rows]))
    assert got.tolist() == [percentile_of(p, tables[r]) for p, r in zip(probes, rows, strict=True)]


def test_percentile_of_is_bisect_and_interpolation() -> None:
    table = [float(i) for i in range(101)]
    assert percentile_of(-1.0, table) == 0.0
    assert percentile_of(100.0, table) == 100.0
    assert percentile_of(1000.0, table) == 100.0
    assert percentile_of(41.25, table) == 41.25
    assert bisect.bisect_right(table, 41.25) == 42
    flat = [0.0] * 50 + [1.0] * 51  # a flat stretch: no interpolation inside it
    assert percentile_in(np.array([0.0, 0.5]), np.array([flat, flat])).tolist() == [
        percentile_of(0.0, flat),
        percentile_of(0.5, flat),
    ]


def test_a_distance_far_outside_the_table_is_100_without_a_numpy_warning() -> None:
    """A customer far beyond every member (1e307 against a table up to 2) is at the 100th
    percentile; the interpolation of such a row overflows, which must stay silent (a warning
    per batch in the logs would be noise: the row is answered from the table's ends)."""
    tables = np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    distances = np.array([1e307, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        answer = percentile_in(distances, tables)
    assert answer.tolist() == [100.0, 25.0]
    assert [
        percentile_of(float(d), t.tolist()) for d, t in zip(distances, tables, strict=True)
    ] == [100.0, 25.0]
