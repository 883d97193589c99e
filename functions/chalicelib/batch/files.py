"""Score a customer CSV put in the batch bucket, without the HTTP request limits.

``s3://<BATCH_BUCKET>/batch/input/<name>.csv`` is read as a stream, scored in chunks of
1,000 rows by column (:func:`chalicelib.batch.csv_io.score_rows`: the same row contract,
validator, model and results renderer as ``POST /v1/segment/batch``), and answered beside
it under ``batch/output/``:

- ``<name>.results.csv``: the results table (``chalicelib.contract.row.RESULT_COLUMNS``,
  and ``PATH_COLUMNS`` when the file has a ``TARGET_SEGMENT`` column), one line per data
  row, scored or not (only when the whole file was read): the very bytes
  ``POST /v1/segment/batch`` answers for the same file as ``text/csv``;
- ``<name>.errors.csv``: one line per invalid field (``row, CUST_ID, field, message``), or
  the file-level problems when the file was rejected;
- ``batch/reports/<name>.report.json``: drift against training and migration since the
  previous run of the same name (chalicelib.drift.reports; only when the whole file was scored);
- ``<name>.summary.json``: written last: ``status`` (``complete`` | ``rejected`` |
  ``failed``), counts, model version.

A file that cannot be scored as a whole (missing required columns, not UTF-8 CSV, no model)
gets a summary and an error report but no results file, so nothing partial can pass for a
result. The file is read by the row contract (``chalicelib.contract.row``): row numbers are
file rows as a spreadsheet shows them (the header is row 1), cells follow its syntax.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import config, observability
from chalicelib.batch import csv_io as batch_csv
from chalicelib.contract.row import (
    ERROR_COLUMNS,
    FILE_FIELD,
    NO_ROWS,
    CsvError,
    FieldProblem,
    HeaderCheck,
    is_blank,
    read_rows,
    results_header,
    text_of,
    write_csv,
)
from chalicelib.drift import reports
from chalicelib.errors import ModelUnavailable
from chalicelib.scoring.model import ScoringModel
from chalicelib.scoring.service import ScoringService
from chalicelib.stores import aws

INPUT_PREFIX = config.BATCH_INPUT_PREFIX
OUTPUT_PREFIX = "batch/output/"
INPUT_SUFFIX = config.BATCH_INPUT_SUFFIX
CHUNK_ROWS = 1000


@dataclass(frozen=True)
class OutputKeys:
    """Where the answers to one input file go."""

    results: str
    errors: str
    summary: str

    @staticmethod
    def name_of(key: str) -> str:
        """``batch/input/<name>.csv`` -> ``<name>``: the file's outputs and report share it."""
        name = key.removeprefix(INPUT_PREFIX)
        return name[: -len(INPUT_SUFFIX)] if name.lower().endswith(INPUT_SUFFIX) else name

    @classmethod
    def for_input(cls, key: str) -> OutputKeys:
        base = OUTPUT_PREFIX + cls.name_of(key)
        return cls(f"{base}.results.csv", f"{base}.errors.csv", f"{base}.summary.json")


class FileRejected(Exception):
    """The file as a whole cannot be scored; ``problems`` say why, field by field."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = list(problems)


@dataclass
class Summary:
    """What happened to one file; written last, as ``<name>.summary.json``."""

    input: str
    status: str = "complete"
    rows: int = 0
    scored: int = 0
    failed: int = 0
    model_version: str | None = None
    results: str | None = None
    errors: str | None = None
    report: str | None = None
    seconds: float = 0.0
    problems: list[FieldProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Status ``partial`` only (files scored by the Step Functions run, chalicelib.batch.runs):
    # the file rows no results line exists for, as inclusive ``[first, last]`` ranges.
    missing_rows: list[list[int]] = field(default_factory=list)

    def refuse(self, error: FileRejected | ModelUnavailable) -> None:
        """The file as a whole cannot be scored: ``rejected`` (its own fault) or ``failed``
        (no model), the problems saying why."""
        if isinstance(error, FileRejected):
            self.status, self.problems = "rejected", error.problems
        else:
            self.status, self.problems = "failed", [FieldProblem(FILE_FIELD, f"no model: {error}")]


def score_file(bucket: str, key: str, service: ScoringService, s3_client: Any = None) -> Summary:
    """Score ``s3://bucket/key`` and write its results, error report and summary."""
    s3 = s3_client if s3_client is not None else _s3_client()
    keys = OutputKeys.for_input(key)
    summary = Summary(input=f"s3://{bucket}/{key}")
    started = time.monotonic()
    tracker: list[reports.FileReport] = []  # filled once the header is accepted
    with tempfile.TemporaryFile("w+b") as results, tempfile.TemporaryFile("w+b") as errors:
        try:
            body = _open_input(s3, bucket, key)
            _score_stream(body, service, results, errors, summary, tracker)
        except (FileRejected, ModelUnavailable) as error:
            summary.refuse(error)
        if summary.status != "complete":  # the file-level problems are the error report
            summary.seconds = round(time.monotonic() - started, 3)
            write_file_problems(s3, bucket, keys, summary)
            return summary
        # Before the new results replace the previous run's (migration reads those).
        summary.report = _write_report(s3, bucket, key, keys, tracker, results, summary)
        _upload(s3, bucket, keys.results, results, "text/csv")
        summary.results = keys.results
        _upload(s3, bucket, keys.errors, errors, "text/csv")
        summary.errors = keys.errors
    summary.seconds = round(time.monotonic() - started, 3)
    write_summary(s3, bucket, keys, summary)
    return summary


def write_file_problems(s3: Any, bucket: str, keys: OutputKeys, summary: Summary) -> None:
    """A file not scored as a whole: its problems are the error report, there is no results
    file at all (nothing partial can pass for a result), then the summary."""
    file_problems = [("", "", p.field, p.message) for p in summary.problems]
    body = write_csv([ERROR_COLUMNS, *file_problems]).encode()
    s3.put_object(Bucket=bucket, Key=keys.errors, Body=body, ContentType="text/csv")
    summary.results, summary.errors = None, keys.errors
    write_summary(s3, bucket, keys, summary)


def write_summary(s3: Any, bucket: str, keys: OutputKeys, summary: Summary) -> None:
    """``<name>.summary.json``, always written last: once it exists, the answer is final."""
    s3.put_object(
        Bucket=bucket,
        Key=keys.summary,
        Body=json.dumps(asdict(summary), indent=2).encode(),
        ContentType="application/json",
    )
    lists = {"problems", "warnings", "missing_rows"}
    observability.logger.info(
        "batch file done", extra={k: v for k, v in asdict(summary).items() if k not in lists}
    )
    observability.metrics.flush_metrics()


def check_file_header(model: ScoringModel, header: Sequence[str], summary: Summary) -> HeaderCheck:
    """The header against the model: :class:`FileRejected` when unusable, else the check
    (the summary gets the model version and the warnings)."""
    summary.model_version = model.version
    check = batch_csv.header_of(model, header)
    if not check.ok:
        raise FileRejected(check.errors)
    summary.warnings = [str(p) for p in (*check.warnings, *check.notes)]
    return check


def _s3_client() -> Any:
    return aws.client("s3")


def _write_report(
    s3: Any, bucket: str, key: str, keys: OutputKeys, tracker: list[reports.FileReport],
    results: IO[bytes], summary: Summary,
) -> str | None:  # fmt: skip
    """The file's drift report; a failure to write it is logged, never fails the file."""
    if not tracker:
        return None
    try:
        return tracker[0].write(
            reports.ReportStore(bucket, s3),
            OutputKeys.name_of(key),
            source=summary.input,
            rows_in_file=summary.rows,
            results=results,
            previous_results_key=keys.results,
        )
    except (BotoCoreError, ClientError, ValueError) as error:
        observability.logger.warning("drift report not written", extra={"error": str(error)})
        summary.warnings.append(f"the drift report could not be written: {error}")
        return None


def _open_input(s3: Any, bucket: str, key: str) -> IO[bytes]:
    try:
        body: IO[bytes] = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as error:  # e.g. deleted again before the event was handled
        code = error.response.get("Error", {}).get("Code", "error")
        raise FileRejected([FieldProblem(FILE_FIELD, f"cannot be read from S3: {code}")]) from error
    return body


def _score_stream(
    body: IO[bytes], service: ScoringService, results: IO[bytes], errors: IO[bytes],
    summary: Summary, tracker: list[reports.FileReport],
) -> None:  # fmt: skip
    text = text_of(body)
    _write_rows(errors, [ERROR_COLUMNS])
    try:
        header, rows = read_rows(text)
        model = service.get_model()
        check = check_file_header(model, header, summary)
        paths = check.target_position is not None  # TARGET_SEGMENT: the path columns too
        _write_rows(results, [results_header(paths)])
        tracker.append(reports.FileReport(model.manifest, model.version))
        for chunk in _chunks(rows):
            scored = batch_csv.score_rows(service, model, chunk, check)  # one file, one model
            _write_chunk(scored, results, errors, summary, tracker[0])
    except CsvError as error:
        raise FileRejected([FieldProblem(FILE_FIELD, error.message)]) from error
    finally:
        text.detach()
    if summary.rows == 0:
        raise FileRejected([FieldProblem(FILE_FIELD, NO_ROWS)])


def _chunks(rows: Iterable[batch_csv.Row]) -> Iterator[list[batch_csv.Row]]:
    """The data rows of each run of :data:`CHUNK_ROWS` file rows (blank rows skipped).

    Runs of file rows, as the Streamlit page cuts a file for the API (a row's answer does
    not depend on its batch, see ``ScoringModel.compute``; the runs just keep both alike).
    """
    chunk: list[batch_csv.Row] = []
    for count, row in enumerate(rows, start=1):
        if not is_blank(row[1]):
            chunk.append(row)
        if count % CHUNK_ROWS == 0 and chunk:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write_chunk(
    scored: batch_csv.ScoredRows,
    results: IO[bytes],
    errors: IO[bytes],
    summary: Summary,
    report: reports.FileReport,
) -> None:
    counts = scored.table.counts
    summary.rows += counts.total
    summary.scored += counts.scored
    summary.failed += counts.failed
    results.write(batch_csv.results_csv(scored, header=False).encode())
    errors.write(batch_csv.errors_csv(scored).encode())
    report.add(scored.table)


def _write_rows(stream: IO[bytes], rows: Iterable[Sequence[Any]]) -> None:
    stream.write(write_csv(rows).encode())


def _upload(s3: Any, bucket: str, key: str, stream: IO[bytes], content_type: str) -> None:
    stream.flush()
    stream.seek(0)
    s3.put_object(Bucket=bucket, Key=key, Body=stream, ContentType=content_type)
