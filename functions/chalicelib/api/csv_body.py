"""``POST /v1/segment/batch`` with a CSV body (what the Streamlit batch page sends).

The body is read by the row contract like any CSV file, checked against the batch limit
(``chalicelib.api.limits``) and scored by one model through the same code as the batch
files (``chalicelib.batch.csv_io``), so the route's results table and a batch file's are
the same bytes for the same rows. Each answer carries the body's drift tally
(:mod:`chalicelib.drift.tally`), counted as a batch file counts a chunk, so a client that
sends a file in pieces can ask ``POST /v1/drift/report`` for the whole file's drift.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.api.limits import batch_size_problem
from chalicelib.batch.csv_io import Row, ScoredRows, header_of, results_csv, score_rows
from chalicelib.contract.row import (
    FILE_FIELD,
    NO_ROWS,
    PATH_COLUMNS,
    CsvError,
    FieldProblem,
    HeaderCheck,
    decode,
    is_blank,
    read_rows,
)
from chalicelib.drift.reports import FileReport
from chalicelib.drift.tally import DriftTally
from chalicelib.errors import ValidationFailed
from chalicelib.scoring.model import ScoringModel
from chalicelib.scoring.scored import batch_json
from chalicelib.scoring.service import ScoringService

__all__ = ["CsvBatch", "read_body", "results_csv", "score_body"]


@dataclass(frozen=True)
class CsvBatch:
    """A scored CSV body: its rows, what its header said that did not stop it (unknown
    columns ignored, optional columns absent), and the drift counts of its scored rows."""

    scored: ScoredRows
    warnings: tuple[FieldProblem, ...]
    tally: DriftTally

    def to_json(self) -> dict[str, Any]:
        """The JSON answer: the batch answer with each entry's file ``row``, the warnings and
        the drift tally (the body must have been scored ``typed``)."""
        batch = self.scored.table.batch
        if batch is None:
            raise ValueError("a JSON answer needs the typed outcomes: score the body typed")
        body = batch_json(batch, self.scored.rows)
        body["warnings"] = [w.to_json() for w in self.warnings]
        body["drift_tally"] = self.tally.to_json()
        if self.scored.paths is not None:  # a TARGET_SEGMENT column: each entry's path
            for entry, cells in zip(body["results"], self.scored.paths, strict=True):
                entry["path"] = dict(zip(PATH_COLUMNS, cells, strict=True))
        return body


def _rejected(problems: Iterable[FieldProblem]) -> ValidationFailed:
    return ValidationFailed.from_errors(list(problems))


def read_body(data: bytes, model: ScoringModel, first_row: int) -> tuple[HeaderCheck, list[Row]]:
    """A ``text/csv`` request body's data rows, or a 400 naming what is wrong.

    File-level problems (not UTF-8, not CSV, no header, a bad header, no rows, more rows
    than a batch may hold) refuse the whole body; everything about a single row is left to
    scoring, which answers it in that row's entry.
    """
    try:
        header, rows = read_rows(io.StringIO(decode(data), newline=""), first_row)
        check = header_of(model, header)
        if not check.ok:
            raise _rejected(check.errors)
        records = [row for row in rows if not is_blank(row[1])]
    except CsvError as error:
        raise _rejected([FieldProblem(FILE_FIELD, error.message)]) from error
    if not records:
        raise _rejected([FieldProblem(FILE_FIELD, NO_ROWS)])
    too_many = batch_size_problem(len(records), FILE_FIELD, "data rows")
    if too_many is not None:
        raise _rejected([too_many])
    return check, records


def score_body(
    service: ScoringService, data: bytes, first_row: int, typed: bool = True
) -> CsvBatch:
    """The body scored by today's model (one body, one model, even across a promotion);
    rows are numbered from ``first_row`` (the file row of the body's first data line).
    Cache and history are used as for a JSON batch; ``typed``: for a JSON answer."""
    model = service.get_model()
    check, rows = read_body(data, model, first_row)
    scored = score_rows(service, model, rows, check, typed)
    return CsvBatch(scored, (*check.warnings, *check.notes), _tally(model, rows, scored))


def _tally(model: ScoringModel, rows: list[Row], scored: ScoredRows) -> DriftTally:
    """The body's drift counts, as a batch file counts one chunk (its scored rows)."""
    counter = FileReport(model.manifest, model.version)
    counter.add(scored.table)
    return DriftTally(model.version, len(rows), counter.counts)
