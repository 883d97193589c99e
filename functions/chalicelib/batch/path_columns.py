"""The path columns of a results table: each row that names a ``TARGET_SEGMENT`` gets its
path to that segment (``chalicelib.paths``, the default ``may_change``), or why not.

One function for every batch path: :func:`chalicelib.batch.csv_io.score_rows` (the S3 batch
file, the Distributed Map workers and the CSV batch route all score through it) calls
:func:`path_cells` when the header has the column (``HeaderCheck.target_position``), and
the results renderer appends the cells as columns: a file without the column keeps its
bytes. The columns are the row contract's :data:`~chalicelib.contract.row.PATH_COLUMNS`.

A row's path is what ``POST /v1/segment/path`` answers for the same customer and target
(the same :class:`~chalicelib.paths.PathFinder`, ``answer_many``: one customer's failure
cannot fail a file); the rows of a chunk are solved together, from the values the columnar
validator gave them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.contract.row import (
    PATH_COLUMNS,
    PATH_FOUND,
    PATH_INVALID,
    PATH_NONE,
    PATH_TARGET_FIELD,
    PATH_UNAVAILABLE,
    format_number,
    id_of_cell,
    parse_cell,
    spreadsheet_safe,
)
from chalicelib.paths import (
    NoModelSpace,
    Path,
    PathFinder,
    PathRequest,
    PathResult,
    path_finder,
    request_problems,
)
from chalicelib.scoring.model import ScoringModel
from chalicelib.scoring.scored import ScoredTable

Cells = tuple[Any, ...]
EMPTY: Cells = (None,) * len(PATH_COLUMNS)
COST_DECIMALS = 6


def path_cells(
    model: ScoringModel, rows: Sequence[Sequence[str]], position: int, table: ScoredTable
) -> list[Cells]:
    """The :data:`PATH_COLUMNS` cells of each row (its cells as read; ``position``: the
    target column's), in order: empty for a row without a target or that was refused (its
    ``status`` is ``error`` already)."""
    cells: list[Cells] = [EMPTY] * len(rows)
    asked: dict[int, PathRequest] = {}
    valid = (i for i in range(len(rows)) if i not in table.failures)
    for i, line in zip(valid, table.values.tolist(), strict=False):
        cell = id_of_cell(rows[i][position])
        if cell is None:
            continue
        target, problem = _target(model, cell)
        if problem is not None:
            cells[i] = _cells(PATH_INVALID, reason=f"{PATH_TARGET_FIELD}: {problem}")
        else:
            asked[i] = PathRequest(tuple(None if v != v else v for v in line), target)
    if asked:
        for i, answer in zip(asked, _answers(model, list(asked.values())), strict=True):
            cells[i] = answer
    return cells


def as_columns(cells: Sequence[Cells]) -> list[list[Any]]:
    """The rows' path cells as columns, every text made spreadsheet-safe (the results
    renderer writes its columns as they are)."""
    return [[spreadsheet_safe(cell) for cell in column] for column in zip(*cells, strict=True)]


def _answers(model: ScoringModel, requests: list[PathRequest]) -> list[Cells]:
    """Each request's cells: its path or why not (every one ``unavailable`` for a bundle
    without what paths need)."""
    try:
        finder = path_finder(model)
    except NoModelSpace as error:
        return [_cells(PATH_UNAVAILABLE, reason=str(error)) for _ in requests]
    return [_answered(finder, result) for result in finder.answer_many(requests)]


def _target(model: ScoringModel, cell: str) -> tuple[int, str | None]:
    """The target segment id of a cell, or the problem (``request_problems``' wording)."""
    value: Any = parse_cell(cell)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    problems = request_problems(value, None, model.k, model.features, model.validator.id_field)
    return (value, None) if not problems else (-1, problems[0].message)


def _answered(finder: PathFinder, result: PathResult) -> Cells:
    name = finder.space.segment_names[result.target]
    if not isinstance(result, Path):
        reason = f"{result.reason.value}: {result.message}"
        return _cells(PATH_NONE, result.target, name, reason=reason)
    changes = ";".join(f"{c.feature}={format_number(c.after)}" for c in result.changes)
    cost = round(result.cost, COST_DECIMALS)
    return _cells(PATH_FOUND, result.target, name, changes, cost, result.check.label)


def _cells(
    status: str,
    target: int | None = None,
    name: str | None = None,
    changes: str | None = None,
    cost: float | None = None,
    check: str | None = None,
    reason: str | None = None,
) -> Cells:
    """One row's cells, in :data:`PATH_COLUMNS` order."""
    return (status, target, name, changes, cost, check, reason)
