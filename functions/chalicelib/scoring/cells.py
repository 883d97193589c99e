"""CSV cells validated a column at a time, with the row contract's verdicts and wording.

The row contract (:mod:`chalicelib.contract.row`) reads one cell at a time:
:func:`~chalicelib.contract.row.parse_cell`, then
:func:`~chalicelib.contract.row.check_value`. A file of a million customers would call them
17 million times. Here a column whose cells are all plainly numbers (ASCII digits, sign,
point, exponent) or empty, which is what real files hold, is converted by ``float`` in one
pass and checked with numpy; every cell numpy finds wanting, and every cell of any other
column, goes through the contract's own functions, so each verdict and message is the
contract's (tests/functions/scoring/test_cells.py checks that with hypothesis, against
:meth:`Validator.validate` row by row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from chalicelib.contract.feature import Feature
from chalicelib.contract.row import (
    ABSOLUTE_MAX,
    FieldProblem,
    check_id,
    check_value,
    parse_cell,
)
from chalicelib.scoring.scored import RowFailure
from chalicelib.scoring.validator import Validator, ValidRecord, out_of_training_range

# Characters a plain number cell may hold; any other (spaces, letters, quotes, non-ASCII)
# sends the whole column through the contract cell by cell.
_NUMBER_BYTES = b"0123456789+-.eE"
_SEPARATOR = ","


@dataclass(frozen=True)
class TextColumns:
    """A run of CSV data rows, by column: the cells as written, row i = index i.

    ``cells`` has a column for every model input the header names (an absent optional
    column has none: every row misses it); ``ids`` are the id cells as the contract reads
    them (:func:`~chalicelib.contract.row.id_of_cell`); ``unreadable`` are the rows that are
    not records at all (a ragged row), whose cells are placeholders.
    """

    count: int
    ids: Sequence[str | None]
    cells: Mapping[str, Sequence[str]]
    unreadable: Mapping[int, FieldProblem] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckedColumns:
    """The rows after validation: the valid ones as a matrix, the refused ones' problems.

    ``values`` is float64 [count, features] in model order, NaN where missing (a refused
    row's line holds whatever was readable). ``imputed`` and ``flags`` are given for the
    rows that have any.
    """

    count: int
    values: np.ndarray
    customer_ids: list[str | None]
    failures: dict[int, RowFailure]
    imputed: dict[int, tuple[str, ...]]
    flags: dict[int, tuple[FieldProblem, ...]]

    @property
    def valid(self) -> list[int]:
        """The indices of the valid rows, ascending."""
        failures = self.failures
        return [i for i in range(self.count) if i not in failures]

    def records(self) -> list[ValidRecord | RowFailure]:
        """Every row as the per-row validator gives it (for the typed, cached path)."""
        rows: list[ValidRecord | RowFailure] = []
        for i, line in enumerate(self.values.tolist()):
            failure = self.failures.get(i)
            if failure is not None:
                rows.append(failure)
                continue
            values = tuple(None if v != v else v for v in line)
            rows.append(
                ValidRecord(
                    values, self.customer_ids[i], self.imputed.get(i, ()), self.flags.get(i, ())
                )
            )
        return rows


def check_columns(validator: Validator, table: TextColumns) -> CheckedColumns:
    """Validate every row of ``table`` as :meth:`Validator.validate` validates one record
    (the id, then every feature in model order, all problems reported)."""
    count = table.count
    values = np.empty((len(validator.features), count), dtype=np.float64)
    customer_ids, problems = _check_ids(validator.id_field, table.ids)
    imputed: dict[int, list[str]] = {}
    flags: dict[int, list[FieldProblem]] = {}
    for j, feature in enumerate(validator.features):
        cells = table.cells.get(feature.name)
        column = values[j]
        refused = _read_column(feature, cells, count, column)
        for i, refusal in refused.items():
            problems.setdefault(i, []).append(refusal)
        if feature.optional:
            for i in np.flatnonzero(np.isnan(column)).tolist():
                imputed.setdefault(i, []).append(feature.name)
        for i, flag in _flags(feature, column).items():
            flags.setdefault(i, []).append(flag)
    failures = {i: RowFailure(customer_ids[i], tuple(p)) for i, p in problems.items()}
    for i, why in table.unreadable.items():  # not a record: its id as read, unchecked
        customer_ids[i] = table.ids[i]
        failures[i] = RowFailure(customer_ids[i], (why,))
    return CheckedColumns(
        count=count,
        values=np.ascontiguousarray(values.T),
        customer_ids=customer_ids,
        failures=dict(sorted(failures.items())),
        imputed={i: tuple(names) for i, names in imputed.items()},
        flags={i: tuple(found) for i, found in flags.items()},
    )


def _check_ids(
    id_field: str, ids: Sequence[str | None]
) -> tuple[list[str | None], dict[int, list[FieldProblem]]]:
    """The ids a row answers with (an id the contract refuses is None) and the refusals."""
    answered = list(ids)
    problems: dict[int, list[FieldProblem]] = {}
    for i, customer_id in enumerate(ids):
        _, problem = check_id(customer_id)
        if problem is not None:
            problems[i] = [FieldProblem(id_field, problem.message)]
            answered[i] = None
    return answered, problems


def _read_column(
    feature: Feature, cells: Sequence[str] | None, count: int, out: np.ndarray
) -> dict[int, FieldProblem]:
    """Fill ``out`` with the column's values (NaN where missing or refused); the refused
    cells' problems by row."""
    if cells is None:  # an absent (optional) column: every row misses it
        out[:] = np.nan
        return _missing(feature, range(count))
    numbers = _plain_numbers(cells)
    if numbers is None:
        return _read_cells(feature, cells, out)
    out[:] = numbers
    present = ~np.isnan(numbers)
    ok = ~present | (np.abs(numbers) <= ABSOLUTE_MAX)
    if feature.valid_min is not None:
        ok &= ~present | (numbers >= feature.valid_min)
    if feature.valid_max is not None:
        ok &= ~present | (numbers <= feature.valid_max)
    if feature.integer:
        ok &= ~present | (numbers == np.floor(numbers))
    refused = _read_cells(feature, cells, out, np.flatnonzero(~ok).tolist())
    out += 0.0  # -0 is 0, as check_value makes it
    if not feature.optional:
        refused.update(_missing(feature, np.flatnonzero(~present).tolist()))
    return refused


def _plain_numbers(cells: Sequence[str]) -> np.ndarray | None:
    """The cells as float64 (NaN for an empty cell) when every cell is plainly a number or
    empty, else None. Such a cell reads the same through ``float`` as through
    :func:`parse_cell`; a cell ``float`` refuses (``1-2``, ``e5``, ``.``) sends the column
    back to the contract."""
    text = _SEPARATOR.join(cells)
    if not text.isascii() or text.encode().translate(None, _NUMBER_BYTES + b","):
        return None
    try:
        if "" in cells:
            return np.array([float(c) if c else np.nan for c in cells], dtype=np.float64)
        return np.array(list(map(float, cells)), dtype=np.float64)
    except ValueError:
        return None


def _read_cells(
    feature: Feature,
    cells: Sequence[str],
    out: np.ndarray,
    rows: Sequence[int] | None = None,
) -> dict[int, FieldProblem]:
    """The contract's own reading of ``rows`` (default: all) of a column, into ``out``."""
    refused: dict[int, FieldProblem] = {}
    for i in range(len(cells)) if rows is None else rows:
        number, problem = check_value(feature, parse_cell(cells[i]))
        out[i] = np.nan if number is None else number
        if problem is not None:
            refused[i] = FieldProblem(feature.name, problem.message)
    return refused


def _missing(feature: Feature, rows: Sequence[int] | range) -> dict[int, FieldProblem]:
    """The problem of a missing value in ``rows``, if the feature cannot miss one."""
    _, problem = check_value(feature, None)
    if problem is None:
        return {}
    return {i: FieldProblem(feature.name, problem.message) for i in rows}


def _flags(feature: Feature, column: np.ndarray) -> dict[int, FieldProblem]:
    """Valid values outside the training range, by row (:func:`out_of_training_range`
    words them); refused and missing values (NaN) are never flagged."""
    outside = np.zeros(len(column), dtype=bool)
    if feature.train_max is not None:
        outside |= column > feature.train_max
    if feature.train_min is not None:
        outside |= column < feature.train_min
    found = {}
    for i in np.flatnonzero(outside).tolist():
        flag = out_of_training_range(feature, float(column[i]))
        if flag is not None:
            found[i] = flag
    return found
