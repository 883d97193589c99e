"""Customer rows as CSV, in and out: shared by the S3 batch files and ``POST /v1/segment/batch``.

In: the row contract reads the file (:func:`chalicelib.contract.row.read_rows`),
:func:`header_of` checks its header against the model's columns and :func:`score_rows`
scores a run of its rows in file order, a column at a time: the cells go to the validator
by column (:mod:`chalicelib.scoring.cells`), the valid rows to the model as one matrix.
Out: :func:`result_columns` is the one rendering of the results table (every results file,
the Distributed Map's parts and the CSV route's answer go through it), written a column at a
time by :func:`chalicelib.contract.row.write_safe_columns`, and :func:`error_lines` the
error report's, written by :func:`chalicelib.contract.row.write_csv`; the CSV route, the S3
results file and (through the route) the Streamlit download are byte for byte the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chalicelib.batch import path_columns
from chalicelib.batch.path_columns import Cells
from chalicelib.contract.row import (
    ID_FIELD,
    RESULT_COLUMNS,
    STATUS_ERROR,
    STATUS_SCORED,
    FieldProblem,
    HeaderCheck,
    check_header,
    id_of_cell,
    ragged,
    results_header,
    spreadsheet_safe,
    write_csv,
    write_safe_columns,
    write_safe_csv,
)
from chalicelib.scoring.cells import TextColumns, check_columns
from chalicelib.scoring.model import ScoringModel
from chalicelib.scoring.scored import SUGGESTIONS, ScoredTable
from chalicelib.scoring.service import ScoringService

Row = tuple[int, list[str]]
"""A data row as the contract reads it: its file row number and its cells."""


@dataclass(frozen=True)
class ScoredRows:
    """A run of file rows, scored: each row's file row number, the scored table, and when
    the header has a ``TARGET_SEGMENT`` column each row's path cells
    (:mod:`chalicelib.batch.path_columns`)."""

    rows: tuple[int, ...]
    table: ScoredTable
    paths: list[Cells] | None = None  # a TARGET_SEGMENT column: each row's path cells


def header_of(model: ScoringModel, header: Sequence[str]) -> HeaderCheck:
    """The header checked against the model's columns (the manifest's rules)."""
    validator = model.validator
    return check_header(header, validator.features, validator.id_field, path_target=True)


def text_columns(rows: Sequence[Row], check: HeaderCheck, id_field: str) -> TextColumns:
    """The cells of ``rows`` by column (the header's known columns); a row with another
    number of cells than the header is unreadable (its cells become placeholders)."""
    width = check.width
    cells = [row for _, row in rows]
    unreadable = {i: ragged(len(row), width) for i, row in enumerate(cells) if len(row) != width}
    id_position = check.positions.get(id_field)
    ids = [None] * len(cells) if id_position is None else _ids(cells, id_position)
    if unreadable:
        cells = [[""] * width if i in unreadable else row for i, row in enumerate(cells)]
    by_position = list(zip(*cells, strict=True)) if cells else []
    columns = {
        name: by_position[position] if by_position else ()
        for name, position in check.positions.items()
        if name != id_field
    }
    return TextColumns(len(cells), ids, columns, unreadable)


def _ids(cells: Sequence[list[str]], position: int) -> list[str | None]:
    """The id cell of every row, as the contract reads it (None where a row has none)."""
    return [id_of_cell(row[position]) if position < len(row) else None for row in cells]


def score_rows(
    service: ScoringService,
    model: ScoringModel,
    rows: Sequence[Row],
    check: HeaderCheck,
    typed: bool = False,
) -> ScoredRows:
    """``rows`` (blank ones left out) scored by ``model`` (the file's, fixed when it was
    opened), in order; ``typed``: with the typed outcomes too (a JSON answer)."""
    columns = text_columns(rows, check, model.validator.id_field)
    checked = check_columns(model.validator, columns)
    table = service.score_columns(model, checked, typed)
    position = check.target_position
    paths = None
    if position is not None:
        paths = path_columns.path_cells(model, [cells for _, cells in rows], position, table)
    return ScoredRows(tuple(number for number, _ in rows), table, paths)


def _joined(problems: Iterable[FieldProblem]) -> str:
    return "; ".join(str(problem) for problem in problems)


def result_columns(scored: ScoredRows) -> list[list[Any]]:
    """The results table (:data:`RESULT_COLUMNS`) of a run of rows as columns, one cell per
    row, scored or not (empty where a row has none); every text cell made spreadsheet-safe
    here (:func:`results_csv` writes them as they are)."""
    table = scored.table
    version = spreadsheet_safe(table.model_version)
    failures = table.failures
    count = len(scored.rows)
    cells: dict[str, Any] = _scored_cells(table)  # lists, or arrays once spread
    if failures:  # the scored rows' cells go between the refused rows' own
        valid = [i for i in range(count) if i not in failures]
        cells = {name: _spread(column, valid, count) for name, column in cells.items()}
        refused = list(failures)
        cells["status"][refused] = STATUS_ERROR
        cells["errors"] = _spread(
            [spreadsheet_safe(_joined(f.errors)) for f in failures.values()], refused, count
        )
    cells["row"] = list(scored.rows)
    cells[ID_FIELD] = [spreadsheet_safe(customer_id) for customer_id in table.customer_ids]
    cells["model_version"] = [version] * count
    return [_listed(cells.get(name), count) for name in RESULT_COLUMNS]


def _spread(column: Sequence[Any], rows: Sequence[int], count: int) -> np.ndarray:
    """``column``'s cells at ``rows`` of a column of ``count`` cells, the others None."""
    spread = np.full(count, None, dtype=object)
    spread[rows] = column
    return spread


def _listed(column: Sequence[Any] | np.ndarray | None, count: int) -> list[Any]:
    if column is None:
        return [None] * count
    return column.tolist() if isinstance(column, np.ndarray) else list(column)


def _scored_cells(table: ScoredTable) -> dict[str, list[Any]]:
    """The scored rows' cells by column name, from the table's columns."""
    columns = table.columns
    band = columns.band
    return {
        "status": [STATUS_SCORED] * len(band),
        "segment_id": [segment.id for segment in columns.segments],
        "segment_name": _safe([segment.name for segment in columns.segments]),
        "credit_limit_p25": [b[0] for b in band],
        "credit_limit_p50": [b[1] for b in band],
        "credit_limit_p75": [b[2] for b in band],
        "credit_limit_model": _safe(columns.limit_model),
        "credit_limit_position": _safe(columns.position),
        "credit_limit_suggestion": _safe([SUGGESTIONS[p] for p in columns.position]),
        "typicality_percentile": columns.percentile,
        "typicality_label": _safe(columns.typicality),
        "runner_up": columns.runner_up,
        "margin": columns.margin,
        "map_x": columns.map_x,
        "map_y": columns.map_y,
        "imputed": [
            spreadsheet_safe(";".join(names)) if names else "" for names in columns.imputed
        ],
        "flags": [spreadsheet_safe(_joined(flags)) if flags else "" for flags in columns.flags],
    }


def _safe(texts: Sequence[str]) -> list[str]:
    """:func:`spreadsheet_safe` of texts that repeat (a segment's name), worked out once."""
    safe = {text: spreadsheet_safe(text) for text in set(texts)}
    return [safe[text] for text in texts]


def error_lines(scored: ScoredRows) -> list[tuple[Any, ...]]:
    """One error-report line (:data:`ERROR_COLUMNS`) per invalid field of a failed row."""
    return [
        (scored.rows[i], failure.customer_id, problem.field, problem.message)
        for i, failure in scored.table.failures.items()
        for problem in failure.errors
    ]


def results_csv(scored: ScoredRows, header: bool = True) -> str:
    """The results table of one run of rows as CSV text (with its header line), with the
    path columns when the rows asked for paths."""
    columns = result_columns(scored)
    if scored.paths is not None:
        columns += path_columns.as_columns(scored.paths)
    text = write_safe_columns(columns)
    names = results_header(scored.paths is not None)
    return write_safe_csv([names]) + text if header else text


def errors_csv(scored: ScoredRows) -> str:
    """The error report's lines of one run of rows as CSV text (no header line)."""
    return write_csv(error_lines(scored))
