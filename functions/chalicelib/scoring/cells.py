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

import math
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
    features = validator.features
    values = np.full((len(features), table.count), np.nan)
    customer_ids, problems = _check_ids(validator.id_field, table.ids)
    plain: list[int] = []  # the features whose column is plain numbers (or absent)
    for j, feature in enumerate(features):
        cells = table.cells.get(feature.name)
        numbers = [] if cells is None else _plain_numbers(cells)
        if numbers is None:  # anything else: the contract reads (and words) every cell
            _note(problems, j, _read_cells(feature, cells or (), values[j]))
            continue
        if numbers:
            values[j] = numbers
        plain.append(j)
    required = np.array([not features[j].optional for j in plain], dtype=bool)[:, None]
    empty = np.isnan(values[plain]) & required  # before a refused cell becomes NaN too
    for k, i in zip(*(axis.tolist() for axis in np.nonzero(empty)), strict=True):
        _note(problems, plain[k], _missing(features[plain[k]], [i]))
    _check_plain(features, plain, table.cells, values, problems)
    missing = np.isnan(values)
    failures = {i: RowFailure(customer_ids[i], _in_order(p)) for i, p in problems.items()}
    for i, why in table.unreadable.items():  # not a record: its id as read, unchecked
        customer_ids[i] = table.ids[i]
        failures[i] = RowFailure(customer_ids[i], (why,))
    return CheckedColumns(
        count=table.count,
        values=np.ascontiguousarray(values.T) + 0.0,  # -0 is 0, as check_value makes it
        customer_ids=customer_ids,
        failures=dict(sorted(failures.items())),
        imputed=_imputed(features, missing),
        flags=_flags(features, values),
    )


Problems = dict[int, list[tuple[int, FieldProblem]]]
"""The problems of each refused row so far, each with its feature's position (-1: the id)."""


def _note(problems: Problems, position: int, found: Mapping[int, FieldProblem]) -> None:
    for i, problem in found.items():
        problems.setdefault(i, []).append((position, problem))


def _in_order(found: list[tuple[int, FieldProblem]]) -> tuple[FieldProblem, ...]:
    """A row's problems in the validator's order: the id, then the features in model order."""
    return tuple(problem for _, problem in sorted(found, key=lambda p: p[0]))


def _check_ids(id_field: str, ids: Sequence[str | None]) -> tuple[list[str | None], Problems]:
    """The ids a row answers with (an id the contract refuses is None) and the refusals."""
    answered = list(ids)
    problems: Problems = {}
    for i, customer_id in enumerate(ids):
        _, problem = check_id(customer_id)
        if problem is not None:
            problems[i] = [(-1, FieldProblem(id_field, problem.message))]
            answered[i] = None
    return answered, problems


def _check_plain(
    features: Sequence[Feature],
    plain: list[int],
    cells: Mapping[str, Sequence[str]],
    values: np.ndarray,
    problems: Problems,
) -> None:
    """The value rules on every plain-number column at once; each cell they refuse is read
    again by the contract, which words the problem (and stores NaN in ``values``)."""
    plain = [j for j in plain if features[j].name in cells]
    if not plain:
        return
    chosen = [features[j] for j in plain]
    numbers = values[plain]
    low = np.array([-np.inf if f.valid_min is None else f.valid_min for f in chosen])[:, None]
    high = np.array([np.inf if f.valid_max is None else f.valid_max for f in chosen])[:, None]
    whole = np.array([f.integer for f in chosen])[:, None]
    with np.errstate(invalid="ignore"):  # NaN (missing) compares False: kept apart below
        ok = (
            (np.abs(numbers) <= ABSOLUTE_MAX)
            & (numbers >= low)
            & (numbers <= high)
            & (~whole | (numbers == np.floor(numbers)))
        )
    refused = ~ok & ~np.isnan(numbers)
    for k, i in zip(*(axis.tolist() for axis in np.nonzero(refused)), strict=True):
        j = plain[k]
        column = cells[features[j].name]
        _note(problems, j, _read_cells(features[j], column, values[j], [i]))


def _plain_numbers(cells: Sequence[str]) -> list[float] | None:
    """The cells as floats (NaN for an empty cell) when every cell is plainly a number or
    empty, else None. Such a cell reads the same through ``float`` as through
    :func:`parse_cell`; a cell ``float`` refuses (``1-2``, ``e5``, ``.``) sends the column
    back to the contract."""
    text = _SEPARATOR.join(cells)
    if not text.isascii() or text.encode().translate(None, _NUMBER_BYTES + b","):
        return None
    try:
        if "" in cells:
            nan = math.nan
            return [float(c) if c else nan for c in cells]
        return list(map(float, cells))
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


def _missing(feature: Feature, rows: Sequence[int]) -> dict[int, FieldProblem]:
    """The problem of a missing value in ``rows``, if the feature cannot miss one."""
    _, problem = check_value(feature, None)
    if problem is None or not rows:
        return {}
    return {i: FieldProblem(feature.name, problem.message) for i in rows}


def _imputed(features: Sequence[Feature], missing: np.ndarray) -> dict[int, tuple[str, ...]]:
    """The optional features each row misses, in model order (refused rows included: they
    are never scored)."""
    found: dict[int, list[str]] = {}
    for j, feature in enumerate(features):
        if feature.optional:
            for i in np.flatnonzero(missing[j]).tolist():
                found.setdefault(i, []).append(feature.name)
    return {i: tuple(names) for i, names in found.items()}


def _flags(features: Sequence[Feature], values: np.ndarray) -> dict[int, tuple[FieldProblem, ...]]:
    """Valid values outside the training range, by row, in model order
    (:func:`out_of_training_range` words them); missing and refused values (NaN) never are."""
    low = np.array([-np.inf if f.train_min is None else f.train_min for f in features])[:, None]
    high = np.array([np.inf if f.train_max is None else f.train_max for f in features])[:, None]
    found: dict[int, list[FieldProblem]] = {}
    for j, i in zip(*(axis.tolist() for axis in np.nonzero((values < low) | (values > high))),
                    strict=True):  # fmt: skip
        flag = out_of_training_range(features[j], float(values[j, i]))
        if flag is not None:
            found.setdefault(i, []).append(flag)
    return {i: tuple(flags) for i, flags in found.items()}
