"""Array maths that must give, bit for bit, what the same sums in plain Python give.

A customer's answer is the same whether it was computed alone (``POST /v1/segment``) or in a
chunk of a million-row file. The file path computes whole columns with numpy; these helpers
make a vectorised step round and interpolate exactly as Python's ``round`` and ``bisect``
do one value at a time. The Python form is the definition (a single request uses it: a
dozen numpy calls on one row cost more than the arithmetic), and
tests/functions/scoring/test_arrays.py checks with hypothesis that the vectorised form
agrees with it.
"""

from __future__ import annotations

import bisect

import numpy as np

# |x * 10**digits - n| below this share of x may be rounding error of the multiplication
# itself (2**-53 relative); such values are left to Python's round.
_DOUBT = 2.0**-50
_EXACT_LIMIT = 2.0**52  # above it a float64 holds no fraction: rint is exact, ties unclear


def round_like_python(values: np.ndarray, digits: int) -> np.ndarray:
    """``round(v, digits)`` of every element, as Python computes it, as float64.

    Python rounds the exact binary value to ``digits`` decimals (ties to even) and reads the
    decimal back. ``rint(v * 10**d) / 10**d`` gives the same float unless the product lands
    within its own rounding error of a half-way point (or is huge, or not finite): those
    few elements are rounded by Python itself.
    """
    scale = 10.0**digits
    with np.errstate(over="ignore", invalid="ignore"):  # huge, inf and NaN: Python's below
        scaled = values * scale
        result: np.ndarray = np.rint(scaled) / scale
        size = np.abs(scaled)
        from_half = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5)
        clear = (from_half > size * _DOUBT) & (size < _EXACT_LIMIT)
    if not clear.all():
        flat_values, flat_result = values.reshape(-1), result.reshape(-1)
        for index in np.flatnonzero(~clear.reshape(-1)).tolist():
            flat_result[index] = round(float(flat_values[index]), digits)
    return result


def percentile_of(distance: float, table: list[float]) -> float:
    """Where ``distance`` falls in ``table`` (ascending percentiles 0, 1, ..., 100 of the
    segment members' distances), 0-100, linearly interpolated as ``numpy.interp`` would,
    rounded to 2 decimals."""
    steps = len(table) - 1
    upper = bisect.bisect_right(table, distance)
    if upper == 0:
        return 0.0
    if upper > steps:
        return 100.0
    low, high = table[upper - 1], table[upper]
    fraction = (distance - low) / (high - low) if high > low else 0.0
    return round((upper - 1 + fraction) * 100.0 / steps, 2)


def percentile_in(distances: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """:func:`percentile_of`, vectorised: for every distance in its own row of ``tables``."""
    steps = tables.shape[1] - 1
    upper = (tables <= distances[:, None]).sum(axis=1)  # bisect_right in a sorted row
    inside = np.clip(upper, 1, steps)
    rows = np.arange(len(distances))
    low, high = tables[rows, inside - 1], tables[rows, inside]
    span = high - low
    positive = span > 0
    # Overflow only in rows outside the table (a huge fraction), answered 0 or 100 below.
    with np.errstate(over="ignore", invalid="ignore"):
        fraction = np.where(positive, (distances - low) / np.where(positive, span, 1.0), 0.0)
        value = round_like_python(((inside - 1).astype(np.float64) + fraction) * 100.0 / steps, 2)
    return np.where(upper == 0, 0.0, np.where(upper > steps, 100.0, value))
