"""Score a customer CSV put in the batch bucket, without the HTTP request limits.

``s3://<BATCH_BUCKET>/batch/input/<name>.csv`` is read as a stream, scored in chunks of
1,000 rows through the same :meth:`ScoringService.score_batch` as ``POST /v1/segment/batch``,
and answered beside it under ``batch/output/``:

- ``<name>.results.csv``: one line per scored row (only when the whole file was read);
- ``<name>.errors.csv``: one line per invalid field (``row, CUST_ID, field, message``), or
  the file-level problems when the file was rejected;
- ``<name>.summary.json``: written last: ``status`` (``complete`` | ``rejected`` |
  ``failed``), counts, model version.

A file that cannot be scored as a whole (missing required columns, not UTF-8 CSV, no model)
gets a summary and an error report but no results file, so nothing partial can pass for a
result. Row numbers are 1-based data rows: row 1 is the line after the header.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from botocore.exceptions import ClientError

from chalicelib import aws, config, observability
from chalicelib.errors import ModelUnavailable
from chalicelib.service import ScoringService

INPUT_PREFIX = "batch/input/"
OUTPUT_PREFIX = "batch/output/"
INPUT_SUFFIX = ".csv"
DEFAULT_BATCH_BUCKET = "cc-segmentation-batch"
CHUNK_ROWS = 1000
ID_FIELD = "CUST_ID"
ROW_FIELD = "(row)"
FILE_FIELD = "(file)"

RESULT_COLUMNS = (
    "row",
    "CUST_ID",
    "segment_id",
    "segment_name",
    "credit_limit_p25",
    "credit_limit_p50",
    "credit_limit_p75",
    "credit_limit_model",
    "credit_limit_position",
    "credit_limit_suggestion",
    "typicality_percentile",
    "typicality_label",
    "runner_up",
    "margin",
    "map_x",
    "map_y",
    "imputed",
    "flags",
    "model_version",
)
ERROR_COLUMNS = ("row", "CUST_ID", "field", "message")


def batch_bucket() -> str:
    """The bucket the S3 trigger watches (the template sets ``BATCH_BUCKET``)."""
    return os.environ.get(config.BATCH_BUCKET, "").strip() or DEFAULT_BATCH_BUCKET


@dataclass(frozen=True)
class OutputKeys:
    """Where the answers to one input file go."""

    results: str
    errors: str
    summary: str

    @classmethod
    def for_input(cls, key: str) -> OutputKeys:
        name = key.removeprefix(INPUT_PREFIX)
        name = name[: -len(INPUT_SUFFIX)] if name.lower().endswith(INPUT_SUFFIX) else name
        base = OUTPUT_PREFIX + name
        return cls(f"{base}.results.csv", f"{base}.errors.csv", f"{base}.summary.json")


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
    seconds: float = 0.0
    problems: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class FileRejected(Exception):
    """The file as a whole cannot be scored; ``problems`` say why, field by field."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = list(problems)


def score_file(bucket: str, key: str, service: ScoringService, s3_client: Any = None) -> Summary:
    """Score ``s3://bucket/key`` and write its results, error report and summary."""
    s3 = s3_client if s3_client is not None else _s3_client()
    keys = OutputKeys.for_input(key)
    summary = Summary(input=f"s3://{bucket}/{key}")
    started = time.monotonic()
    with tempfile.TemporaryFile("w+b") as results, tempfile.TemporaryFile("w+b") as errors:
        try:
            body = _open_input(s3, bucket, key)
            _score_stream(body, _pinned(service), results, errors, summary)
        except FileRejected as rejected:
            summary.status = "rejected"
            summary.problems = [{"field": f, "message": m} for f, m in rejected.problems]
        except ModelUnavailable as error:
            summary.status = "failed"
            summary.problems = [{"field": FILE_FIELD, "message": f"no model: {error}"}]
        if summary.status == "complete":
            _upload(s3, bucket, keys.results, results, "text/csv")
            summary.results = keys.results
        else:  # the file-level problems are the error report; no results file at all
            errors.seek(0)
            errors.truncate()
            file_problems = [("", "", p["field"], p["message"]) for p in summary.problems]
            _write_rows(errors, [ERROR_COLUMNS, *file_problems])
        _upload(s3, bucket, keys.errors, errors, "text/csv")
        summary.errors = keys.errors
    summary.seconds = round(time.monotonic() - started, 3)
    s3.put_object(
        Bucket=bucket,
        Key=keys.summary,
        Body=json.dumps(asdict(summary), indent=2).encode(),
        ContentType="application/json",
    )
    observability.logger.info(
        "batch file done",
        extra={k: v for k, v in asdict(summary).items() if k not in {"problems", "warnings"}},
    )
    observability.metrics.flush_metrics()
    return summary


def _s3_client() -> Any:
    return aws.client("s3")


def _open_input(s3: Any, bucket: str, key: str) -> IO[bytes]:
    try:
        body: IO[bytes] = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as error:  # e.g. deleted again before the event was handled
        code = error.response.get("Error", {}).get("Code", "error")
        raise FileRejected([(FILE_FIELD, f"cannot be read from S3: {code}")]) from error
    return body


def _pinned(service: ScoringService) -> ScoringService:
    """The service with today's model fixed: one file, one model, even across a promotion."""
    model = service.get_model()
    return ScoringService(lambda: model, service.cache)


def _score_stream(
    body: IO[bytes], service: ScoringService, results: IO[bytes], errors: IO[bytes],
    summary: Summary,
) -> None:  # fmt: skip
    text = io.TextIOWrapper(body, encoding="utf-8-sig", newline="")
    _write_rows(results, [RESULT_COLUMNS])
    _write_rows(errors, [ERROR_COLUMNS])
    try:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            raise FileRejected([(FILE_FIELD, "the file is empty: no header line")])
        columns = _check_header(header, service, summary)
        for chunk in _chunks(reader, len(header), columns):
            _score_chunk(chunk, service, results, errors, summary)
    except UnicodeDecodeError as error:
        raise FileRejected(
            [(FILE_FIELD, f"is not UTF-8 text (after data row {summary.rows}): {error.reason}")]
        ) from error
    except csv.Error as error:
        raise FileRejected(
            [(FILE_FIELD, f"is not a readable CSV (after data row {summary.rows}): {error}")]
        ) from error
    finally:
        text.detach()


def _check_header(header: list[str], service: ScoringService, summary: Summary) -> dict[str, int]:
    """Column positions of the model's features (and the id); missing required -> rejected."""
    model = service.get_model()
    summary.model_version = model.version
    names = [h.strip() for h in header]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileRejected([(n, "column appears more than once") for n in duplicates])
    required = [r.name for r in model.validator.rules if not r.optional]
    missing = [n for n in required if n not in names]
    if missing:
        raise FileRejected([(n, "required column is missing") for n in missing])
    known = {*model.features, ID_FIELD}
    summary.warnings = [
        f"column {n!r} is not a model input; ignored" for n in names if n not in known
    ]
    return {n: i for i, n in enumerate(names) if n in known}


@dataclass(frozen=True)
class _Row:
    number: int
    customer_id: str
    record: dict[str, Any] | None  # None: the line itself is malformed
    problem: str = ""


def _chunks(
    reader: Iterator[list[str]], width: int, columns: Mapping[str, int]
) -> Iterator[list[_Row]]:
    chunk: list[_Row] = []
    for number, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue  # a blank line is not a customer (csv gives [] for it)
        chunk.append(_row(number, cells, width, columns))
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _row(number: int, cells: list[str], width: int, columns: Mapping[str, int]) -> _Row:
    id_position = columns.get(ID_FIELD)
    customer_id = (
        cells[id_position].strip() if id_position is not None and id_position < len(cells) else ""
    )
    if len(cells) != width:
        problem = f"has {len(cells)} fields, the header has {width}"
        return _Row(number, customer_id, None, problem)
    record: dict[str, Any] = {}
    for name, position in columns.items():
        cell = cells[position].strip()
        if name == ID_FIELD:
            record[name] = cell or None
        else:
            record[name] = _number(cell)
    return _Row(number, customer_id, record)


def _number(cell: str) -> float | str | None:
    """A cell as the validator expects it: a float, None when empty, the text otherwise."""
    if not cell:
        return None
    if "_" in cell:  # float() would accept "1_000"; a CSV number has no underscores
        return cell
    try:
        return float(cell)
    except ValueError:
        return cell


def _score_chunk(
    chunk: list[_Row],
    service: ScoringService,
    results: IO[bytes],
    errors: IO[bytes],
    summary: Summary,
) -> None:
    readable = [row for row in chunk if row.record is not None]
    answer = service.score_batch([row.record for row in readable]) if readable else None
    entries = iter(answer["results"]) if answer else iter(())
    result_rows: list[tuple[Any, ...]] = []
    error_rows: list[tuple[Any, ...]] = []
    for row in chunk:
        summary.rows += 1
        if row.record is None:
            summary.failed += 1
            error_rows.append((row.number, row.customer_id, ROW_FIELD, row.problem))
            continue
        entry = next(entries)
        if entry["ok"]:
            summary.scored += 1
            result_rows.append(_result_line(row.number, entry["result"]))
        else:
            summary.failed += 1
            error_rows.extend(
                (row.number, row.customer_id, e["field"], e["message"]) for e in entry["errors"]
            )
    _write_rows(results, result_rows)
    _write_rows(errors, error_rows)


def _result_line(number: int, result: Mapping[str, Any]) -> tuple[Any, ...]:
    limit = result["credit_limit"]
    band = limit["benchmark"]
    explanation = result["explanation"]
    return (
        number,
        result.get("customer_id") or "",
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
        "; ".join(f"{f['field']}: {f['message']}" for f in result["flags"]),
        result["model_version"],
    )


def _write_rows(stream: IO[bytes], rows: Iterable[Sequence[Any]]) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    stream.write(buffer.getvalue().encode())


def _upload(s3: Any, bucket: str, key: str, stream: IO[bytes], content_type: str) -> None:
    stream.flush()
    stream.seek(0)
    s3.put_object(Bucket=bucket, Key=key, Body=stream, ContentType=content_type)
