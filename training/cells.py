"""A column of cells checked by the row contract, a chunk at a time, at NumPy speed.

The contract (``chalicelib.contract.row``) decides every cell one by one:
:func:`~chalicelib.contract.row.parse_cell` then
:func:`~chalicelib.contract.row.check_value` for a model column,
:func:`~chalicelib.contract.row.id_of_cell` then :func:`~chalicelib.contract.row.check_id`
for the id. Calling them on every one of tens of millions of cells would make validation
the slow part of training, so a column is split in two:

- **plain cells**: text that is a plain number (:data:`PLAIN_NUMBER`: digits with an
  optional sign, decimal point and exponent, no spaces; the contract's number syntax
  without its oddities) or a value of a numeric Parquet column. Arrow converts them all
  at once, and a vectorised test picks out those the contract would surely accept
  (:func:`_surely_valid`: finite, within the magnitude ceiling and the column's bounds,
  whole where it must be);
- **every other cell**, and every plain cell that test does not accept, goes to the
  contract's own functions: once per distinct text (the verdict depends on the text
  alone) or once per distinct number.

So every message, and every verdict that is not "valid", comes from the contract; the
fast path only recognises cells the contract accepts, and reads them as the contract's
``float()`` would. ``tests/training/test_cells.py`` checks both claims on random cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from chalicelib.contract.feature import Feature
from chalicelib.contract.row import (
    ABSOLUTE_MAX,
    MAX_ID_LENGTH,
    MISSING_TOKENS,
    Problem,
    check_id,
    check_value,
    id_of_cell,
    parse_cell,
)
from numpy.typing import NDArray

PLAIN_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
"""Cells Arrow reads as a number exactly as Python's ``float()`` does: a subset of the
contract's number syntax (no surrounding spaces)."""
_PLAIN_ID = r"^[^ \t](?s:.*[^ \t])?$"
_MISSING = pa.array(sorted(MISSING_TOKENS), type=pa.string())


@dataclass(frozen=True)
class Verdicts:
    """The refused cells of a column: their row indexes and, for each, its problem
    (``problem_of[i]`` indexes ``problems``, the distinct problems found)."""

    rows: NDArray[np.intp]
    problem_of: NDArray[np.intp]
    problems: tuple[Problem, ...]

    @classmethod
    def none(cls) -> Verdicts:
        return cls(np.empty(0, np.intp), np.empty(0, np.intp), ())


@dataclass(frozen=True)
class ColumnValues:
    """A model column read: ``values`` (NaN where missing or refused), which rows are
    missing (and accepted: an optional column), and the refused ones."""

    values: NDArray[np.float64]
    missing: NDArray[np.bool_]
    refused: Verdicts


@dataclass(frozen=True)
class ColumnIds:
    """The id column read: ``ids`` (None where missing), which cells spelled a missing
    id, and the refused ones."""

    ids: NDArray[np.object_]
    missing: NDArray[np.bool_]
    refused: Verdicts


def read_values(rule: Feature, cells: pa.Array) -> ColumnValues:
    """Check every cell of ``cells`` against ``rule`` as the contract does."""
    n = len(cells)
    values = np.full(n, np.nan)
    accepted = np.zeros(n, dtype=bool)
    plain = _plain_mask(cells)  # accepted: the plain cells surely valid
    if plain.any():
        picked = cells if plain.all() else cells.filter(pa.array(plain))
        as_float = pc.cast(picked, pa.float64(), safe=False)
        numbers = np.asarray(as_float.to_numpy(zero_copy_only=False), dtype=np.float64)
        values[plain] = numbers
        accepted[plain] = _surely_valid(rule, numbers)
    found = _Found(n)
    unsure = np.flatnonzero(plain & ~accepted)
    if len(unsure):
        distinct, inverse = np.unique(values[unsure], return_inverse=True)
        verdicts = [check_value(rule, float(v)) for v in distinct]
        found.add(unsure, inverse, verdicts)
    other = np.flatnonzero(~plain)
    if len(other):
        keys, inverse = _distinct(cells.take(pa.array(other)))
        found.add(other, inverse, [check_value(rule, _as_value(key)) for key in keys])
    values[found.refused_mask] = np.nan
    values[found.number_rows] = found.numbers
    values += 0.0  # -0 is 0, as check_value makes it
    return ColumnValues(values, found.missing_mask, found.verdicts())


def _plain_mask(cells: pa.Array) -> NDArray[np.bool_]:
    """Cells the fast path reads: plain-number text, or values of a numeric column."""
    kind = cells.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        match = pc.match_substring_regex(cells, PLAIN_NUMBER)
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        match = pc.is_valid(cells)
    else:
        return np.zeros(len(cells), dtype=bool)
    return np.asarray(match.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _surely_valid(rule: Feature, numbers: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Values :func:`check_value` accepts for sure (anything else is asked of it)."""
    with np.errstate(invalid="ignore"):
        ok = np.abs(numbers) <= ABSOLUTE_MAX  # False for NaN and infinities
        if rule.valid_min is not None:
            ok &= numbers >= rule.valid_min
        if rule.valid_max is not None:
            ok &= numbers <= rule.valid_max
        if rule.integer:
            ok &= numbers == np.floor(numbers)
    return np.asarray(ok, dtype=bool)


def _as_value(cell: Any) -> Any:
    """A non-plain cell as the contract's check takes it: text through ``parse_cell``,
    a Parquet null as ``None``, any other typed value as it is."""
    return parse_cell(cell) if isinstance(cell, str) else cell


class _Found:
    """Per-row verdicts gathered from the contract for the cells it was asked about."""

    def __init__(self, n: int) -> None:
        self.refused_mask = np.zeros(n, dtype=bool)
        self.accepted_mask = np.zeros(n, dtype=bool)
        self.missing_mask = np.zeros(n, dtype=bool)
        self._rows: list[NDArray[np.intp]] = []
        self._of: list[NDArray[np.intp]] = []
        self._problems: dict[Problem, int] = {}
        self._number_rows: list[NDArray[np.intp]] = []
        self._numbers: list[NDArray[np.float64]] = []

    def add(
        self,
        rows: NDArray[np.intp],
        inverse: NDArray[np.intp],
        verdicts: Sequence[tuple[float | None, Problem | None]],
    ) -> None:
        """``verdicts[inverse[i]]`` is the contract's answer for row ``rows[i]``."""
        codes = np.array([self._code(p) for _, p in verdicts], dtype=np.intp)
        numbers = np.array([np.nan if v is None else v for v, _ in verdicts], dtype=np.float64)
        row_codes = codes[inverse]
        refused = row_codes >= 0
        self.refused_mask[rows[refused]] = True
        self._rows.append(rows[refused])
        self._of.append(row_codes[refused])
        fine = rows[~refused]
        row_numbers = numbers[inverse][~refused]
        self.accepted_mask[fine] = True
        self.missing_mask[fine[np.isnan(row_numbers)]] = True
        self._number_rows.append(fine)
        self._numbers.append(row_numbers)

    def _code(self, problem: Problem | None) -> int:
        if problem is None:
            return -1
        return self._problems.setdefault(problem, len(self._problems))

    @property
    def number_rows(self) -> NDArray[np.intp]:
        return np.concatenate(self._number_rows) if self._number_rows else np.empty(0, np.intp)

    @property
    def numbers(self) -> NDArray[np.float64]:
        return np.concatenate(self._numbers) if self._numbers else np.empty(0)

    def verdicts(self) -> Verdicts:
        if not self._rows:
            return Verdicts.none()
        rows = np.concatenate(self._rows)
        order = np.argsort(rows, kind="stable")
        return Verdicts(rows[order], np.concatenate(self._of)[order], tuple(self._problems))


def _distinct(cells: pa.Array) -> tuple[list[Any], NDArray[np.intp]]:
    """The distinct cells (as Python values) and, for each cell, its index among them."""
    encoded = pc.dictionary_encode(cells, null_encoding="encode")
    indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.intp)
    return encoded.dictionary.to_pylist(), indices


def read_ids(cells: pa.Array) -> ColumnIds:
    """Check every id cell as the contract does (:func:`id_of_cell`, :func:`check_id`).

    A text cell with no surrounding space or tab, in ASCII, that does not spell a missing
    value is its own id (what ``id_of_cell`` returns for it); only its length is checked.
    Other cells go to ``id_of_cell`` once per distinct text; a typed Parquet value is the
    id as it is (and ``check_id`` refuses what is not text).
    """
    n = len(cells)
    textual = pa.types.is_string(cells.type) or pa.types.is_large_string(cells.type)
    ids = np.asarray(cells.to_numpy(zero_copy_only=False), dtype=object)
    plain = np.zeros(n, dtype=bool)
    if textual:
        plain = _plain_id_mask(cells)
    other = np.flatnonzero(~plain)
    if len(other):
        keys, inverse = _distinct(cells.take(pa.array(other)))
        read = np.empty(len(keys), dtype=object)
        read[:] = [id_of_cell(k) if isinstance(k, str) else k for k in keys]
        ids[other] = read[inverse]
    missing = np.zeros(n, dtype=bool)
    missing[other] = np.fromiter((v is None for v in ids[other]), dtype=bool, count=len(other))
    return ColumnIds(ids, missing, _refused_ids(cells, ids, plain, textual))


def _plain_id_mask(cells: pa.Array) -> NDArray[np.bool_]:
    plain = pc.and_(
        pc.and_(pc.string_is_ascii(cells), pc.match_substring_regex(cells, _PLAIN_ID)),
        pc.invert(pc.is_in(pc.utf8_lower(cells), value_set=_MISSING)),
    )
    return np.asarray(plain.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _refused_ids(
    cells: pa.Array, ids: NDArray[np.object_], plain: NDArray[np.bool_], textual: bool
) -> Verdicts:
    """Ids ``check_id`` refuses: text too long, or a typed value that is not text."""
    if textual:
        lengths = pc.utf8_length(cells).fill_null(0).to_numpy(zero_copy_only=False)
        suspects = np.flatnonzero(~plain | (np.asarray(lengths) > MAX_ID_LENGTH))
    else:
        suspects = np.arange(len(ids))
    found = _Found(len(ids))
    if len(suspects):
        verdicts = [check_id(ids[i]) for i in suspects]
        problems = [(None, p) for _, p in verdicts]
        found.add(suspects, np.arange(len(suspects)), problems)
    return found.verdicts()
