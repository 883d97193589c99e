"""Customer rows as CSV, in and out: shared by ``POST /v1/segment/batch`` and the S3 batch files.

In: the row contract reads the file (:func:`chalicelib.contract.row.read_csv`), checks the
header against the model's columns and turns each data row into what the validator takes;
:func:`score_records` scores them in file order, every entry carrying its file row number.
Out: :func:`result_lines` and :func:`error_lines` make the results table and the error
report, written by :func:`chalicelib.contract.row.write_csv`; the CSV route, the S3 results
file and (through the route) the Streamlit download are therefore byte for byte the same.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chalicelib.contract.row import (
    FILE_FIELD,
    NO_ROWS,
    RESULT_COLUMNS,
    STATUS_ERROR,
    STATUS_SCORED,
    CsvError,
    FieldProblem,
    HeaderCheck,
    RowRecord,
    check_header,
    decode,
    read_csv,
    row_record,
    write_csv,
)
from chalicelib.errors import FieldError, ValidationFailed
from chalicelib.scoring.model import ScoringModel
from chalicelib.scoring.service import ScoringService

Answer = dict[str, Any]


def header_of(model: ScoringModel, header: Sequence[str]) -> HeaderCheck:
    """The header checked against the model's columns (the manifest's rules)."""
    validator = model.validator
    return check_header(header, [r.rule for r in validator.rules], validator.id_field)


def _rejected(problems: Iterable[FieldProblem]) -> ValidationFailed:
    return ValidationFailed.from_errors([FieldError(p.field, p.message) for p in problems])


def read_body(
    data: bytes, model: ScoringModel, max_rows: int, first_row: int
) -> tuple[HeaderCheck, list[RowRecord]]:
    """A ``text/csv`` request body as row records, or a 400 naming what is wrong.

    File-level problems (not UTF-8, not CSV, no header, a bad header, no rows, more rows
    than ``max_rows``) refuse the whole body; everything about a single row is left to
    scoring, which answers it in that row's entry.
    """
    try:
        header, rows = read_csv(io.StringIO(decode(data), newline=""), first_row)
        check = header_of(model, header)
        if not check.ok:
            raise _rejected(check.errors)
        records = [row_record(r, check, model.validator.id_field) for r in rows if not r.blank]
    except CsvError as error:
        raise _rejected([FieldProblem(FILE_FIELD, error.message)]) from error
    if not records:
        raise _rejected([FieldProblem(FILE_FIELD, NO_ROWS)])
    if len(records) > max_rows:
        message = f"must hold 1 to {max_rows} data rows, got {len(records)}"
        raise _rejected([FieldProblem(FILE_FIELD, message)])
    return check, records


def pinned(service: ScoringService) -> ScoringService:
    """The service with today's model fixed: one file, one model, even across a promotion.
    Cache and history are kept: a CSV body is a batch request like a JSON one (the S3 batch
    function runs without a history table)."""
    model = service.get_model()
    return ScoringService(lambda: model, service.cache, service.history)


def score_body(service: ScoringService, data: bytes, max_rows: int, first_row: int) -> Answer:
    """``POST /v1/segment/batch`` with a CSV body: the batch answer, rows numbered from
    ``first_row`` (the file row of the body's first data line)."""
    service = pinned(service)
    check, records = read_body(data, service.get_model(), max_rows, first_row)
    answer = score_records(service, records)
    notes = (*check.warnings, *check.notes)  # unknown columns ignored, optional ones absent
    answer["warnings"] = [{"field": p.field, "message": p.message} for p in notes]
    return answer


def score_records(service: ScoringService, records: Sequence[RowRecord]) -> Answer:
    """The batch answer for ``records`` in order, each entry with its file ``row``.

    A row that could not be read as a record (a ragged row) is a failed entry like any
    invalid row; the rest go through :meth:`ScoringService.score_batch`.
    """
    readable = [r for r in records if r.record is not None]
    answer = service.score_batch([r.record for r in readable]) if readable else None
    scored = iter(answer["results"] if answer else ())
    entries: list[Answer] = []
    for index, record in enumerate(records):
        if record.record is None:
            problem = record.problem or FieldProblem(FILE_FIELD, "cannot be read")
            entry: Answer = {
                "ok": False,
                "customer_id": record.customer_id,
                "errors": [{"field": problem.field, "message": problem.message}],
            }
        else:
            entry = next(scored)
        entries.append({**entry, "index": index, "row": record.number})
    ok = sum(1 for e in entries if e["ok"])
    cache = answer["summary"]["cache"] if answer else {"hit": 0, "miss": 0, "bypass": 0}
    version = answer["model_version"] if answer else service.get_model().version
    return {
        "model_version": version,
        "results": entries,
        "summary": {"total": len(entries), "scored": ok, "failed": len(entries) - ok,
                    "cache": cache},
    }  # fmt: skip


def _joined(items: Iterable[Mapping[str, Any]]) -> str:
    return "; ".join(f"{item['field']}: {item['message']}" for item in items)


def result_lines(answer: Answer) -> list[tuple[Any, ...]]:
    """One results-table line (:data:`RESULT_COLUMNS`) per entry, scored or not."""
    version = answer["model_version"]
    return [_result_line(entry, version) for entry in answer["results"]]


def _result_line(entry: Mapping[str, Any], version: str) -> tuple[Any, ...]:
    if not entry["ok"]:
        blank = (None,) * (len(RESULT_COLUMNS) - 5)
        errors = _joined(entry["errors"])
        return (entry["row"], entry.get("customer_id"), STATUS_ERROR, *blank, errors, version)
    result = entry["result"]
    limit = result["credit_limit"]
    band = limit["benchmark"]
    explanation = result["explanation"]
    return (
        entry["row"],
        result.get("customer_id"),
        STATUS_SCORED,
        result["segment"]["id"],
        result["segment"]["name"],
        band["p25"],
        band["p50"],
        band["p75"],
        limit["model"],
        limit["position"],
        limit["suggestion"],
        result["typicality"]["percentile"],
        result["typicality"]["label"],
        explanation["runner_up"],
        explanation["margin"],
        result["map_position"]["x"],
        result["map_position"]["y"],
        ";".join(result["imputed"]),
        _joined(result["flags"]),
        None,
        version,
    )


def error_lines(answer: Answer) -> list[tuple[Any, ...]]:
    """One error-report line (:data:`ERROR_COLUMNS`) per invalid field of a failed entry."""
    return [
        (entry["row"], entry.get("customer_id"), error["field"], error["message"])
        for entry in answer["results"]
        if not entry["ok"]
        for error in entry["errors"]
    ]


def results_csv(answer: Answer) -> str:
    """The results table of one answer as CSV text, header included."""
    return write_csv([RESULT_COLUMNS, *result_lines(answer)])
