"""Customer rows as CSV, in and out: shared by the S3 batch files and ``POST /v1/segment/batch``.

In: the row contract reads the file (:func:`chalicelib.contract.row.read_csv`),
:func:`header_of` checks its header against the model's columns and
:func:`score_records` scores a run of its rows in file order, each outcome with its file row
number. Out: :func:`result_lines` and :func:`error_lines` make the results table and the
error report, written by :func:`chalicelib.contract.row.write_csv`; the CSV route, the S3
results file and (through the route) the Streamlit download are byte for byte the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.contract.row import (
    FILE_FIELD,
    ID_FIELD,
    RESULT_COLUMNS,
    STATUS_ERROR,
    STATUS_SCORED,
    FieldProblem,
    HeaderCheck,
    RowRecord,
    check_header,
    write_csv,
)
from chalicelib.scoring.model import ScoringModel
from chalicelib.scoring.scored import BatchOutcome, RowFailure, RowOutcome, ScoredCustomer
from chalicelib.scoring.service import Checked, ScoringService, check

UNREADABLE = FieldProblem(FILE_FIELD, "cannot be read")


@dataclass(frozen=True)
class ScoredRows:
    """A run of file rows, scored: each outcome's file row number, and the outcomes."""

    rows: tuple[int, ...]
    batch: BatchOutcome


def header_of(model: ScoringModel, header: Sequence[str]) -> HeaderCheck:
    """The header checked against the model's columns (the manifest's rules)."""
    validator = model.validator
    return check_header(header, validator.features, validator.id_field)


def checked(model: ScoringModel, record: RowRecord) -> Checked:
    """A row record validated, or refused: a row that could not even be read as a record
    (a ragged one) fails like any invalid row."""
    if record.record is None:
        return RowFailure(record.customer_id, (record.problem or UNREADABLE,))
    return check(model, record.record)


def score_records(
    service: ScoringService, model: ScoringModel, records: Sequence[RowRecord]
) -> ScoredRows:
    """``records`` scored by ``model`` (the file's, fixed when it was opened), in order."""
    batch = service.score_checked(model, [checked(model, r) for r in records])
    return ScoredRows(tuple(r.number for r in records), batch)


def _joined(problems: Iterable[FieldProblem]) -> str:
    return "; ".join(str(problem) for problem in problems)


def result_lines(scored: ScoredRows) -> list[tuple[Any, ...]]:
    """One results-table line (:data:`RESULT_COLUMNS`) per row, scored or not."""
    version = scored.batch.model_version
    return [
        result_line(row, outcome, version)
        for row, outcome in zip(scored.rows, scored.batch.outcomes, strict=True)
    ]


def result_line(row: int, outcome: RowOutcome, model_version: str) -> tuple[Any, ...]:
    """The results-table line of one row, cell by column name (empty where it has none)."""
    cells: dict[str, Any] = {"row": row, ID_FIELD: outcome.customer_id}
    if isinstance(outcome, ScoredCustomer):
        cells.update(_scored_cells(outcome))
    else:
        cells.update(status=STATUS_ERROR, errors=_joined(outcome.errors))
    cells["model_version"] = model_version
    return tuple(cells.get(column) for column in RESULT_COLUMNS)


def _scored_cells(outcome: ScoredCustomer) -> dict[str, Any]:
    scored = outcome.scored
    limit, typicality, explanation = scored.credit_limit, scored.typicality, scored.explanation
    return {
        "status": STATUS_SCORED,
        "segment_id": scored.segment.id,
        "segment_name": scored.segment.name,
        "credit_limit_p25": limit.p25,
        "credit_limit_p50": limit.p50,
        "credit_limit_p75": limit.p75,
        "credit_limit_model": limit.model,
        "credit_limit_position": limit.position,
        "credit_limit_suggestion": limit.suggestion,
        "typicality_percentile": typicality.percentile,
        "typicality_label": typicality.label,
        "runner_up": explanation.runner_up,
        "margin": explanation.margin,
        "map_x": scored.map_x,
        "map_y": scored.map_y,
        "imputed": ";".join(scored.imputed),
        "flags": _joined(scored.flags),
    }


def error_lines(scored: ScoredRows) -> list[tuple[Any, ...]]:
    """One error-report line (:data:`ERROR_COLUMNS`) per invalid field of a failed row."""
    return [
        (row, outcome.customer_id, problem.field, problem.message)
        for row, outcome in zip(scored.rows, scored.batch.outcomes, strict=True)
        if isinstance(outcome, RowFailure)
        for problem in outcome.errors
    ]


def results_csv(scored: ScoredRows) -> str:
    """The results table of one run of rows as CSV text, header included."""
    return write_csv([RESULT_COLUMNS, *result_lines(scored)])
