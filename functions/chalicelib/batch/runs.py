"""Score a whole customer base: the steps of the Step Functions run (template.yaml, BatchRuns).

Files too large for one 15-minute invocation are scored by a Distributed Map. Step Functions
reads the CSV itself (``ItemReader``, header in the first row), hands each worker a batch
``{"Items": [{"index": i, "row": {column: text}}], "BatchInput": {"run": {...}}}`` (the
``ItemSelector`` keeps each row's 0-based position: file row = index + 2, as a spreadsheet
shows it, the header being row 1) and these functions do the rest:

1. :func:`prepare` reads the header line alone, pins today's model and checks the columns
   with the same rules as every other path: an unusable header is ``rejected`` here, with
   an error report and no results file, before a single row is scored.
2. :func:`score_batch` (the worker, many at once) scores its rows with the same
   :class:`ScoringService` and row contract as the API and the one-invocation path
   (:mod:`chalicelib.batch.csv_io`), writes ``results/<row>.csv`` and ``errors/<row>.csv``
   parts under the run's prefix, then a ``batches/`` marker naming its rows and counts,
   and returns the counts only. A retried batch rewrites the same three keys: never a
   duplicate row. A part without its marker is an abandoned attempt and is ignored.
3. :func:`plan` lists the markers, names the rows no batch delivered (gaps, and the inputs
   of the batches Step Functions reports as failed) and groups the parts into segments of
   about ``SEGMENT_BYTES``;
4. :func:`combine` (one per segment, in parallel) joins a segment's parts by content;
5. :func:`finish` joins the segments into ``<name>.results.csv`` and ``<name>.errors.csv``
   with S3 multipart copies (:mod:`chalicelib.batch.s3_concat`), so no function ever holds a
   whole file, then writes the summary last: ``complete``, ``partial`` (``missing_rows``
   says which) or ``failed`` (the map run stopped, e.g. past ``ToleratedFailurePercentage``:
   no results file).

The drift report (:mod:`chalicelib.drift.reports`): each worker counts its scored rows
(:mod:`chalicelib.drift.stats` accumulators) and stores the counts as its marker's body; each
combine merges its segment's counts; finish merges the segments' and writes
``batch/reports/<name>.report.json`` before the summary, for complete files only, and
without the migration by ``CUST_ID`` that the one-invocation path adds (that would need
the previous and the new results whole).
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from operator import itemgetter
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import observability
from chalicelib.batch import csv_io as batch_csv
from chalicelib.batch import s3_concat
from chalicelib.batch.files import (
    FileRejected,
    OutputKeys,
    Summary,
    check_file_header,
    write_file_problems,
    write_summary,
)
from chalicelib.contract.row import (
    EMPTY_FILE,
    ERROR_COLUMNS,
    FILE_FIELD,
    FIRST_DATA_ROW,
    NO_ROWS,
    CsvError,
    FieldProblem,
    asks_paths,
    decode,
    is_blank,
    read_csv,
    results_header,
    write_csv,
)
from chalicelib.drift import reports
from chalicelib.drift import stats as drift
from chalicelib.errors import ModelUnavailable
from chalicelib.scoring.service import ScoringService
from chalicelib.stores import aws

RUNS_PREFIX = "batch/runs/"
MAX_HEADER_BYTES = 10 * 1024  # Step Functions reads CSV headers of up to 10 KiB
SEGMENT_BYTES = 128 * 1024 * 1024
_MARKER = re.compile(r"(\d{12})-(\d{12})-(\d+)-(\d+)-(\d+)\.done$")


@dataclass(frozen=True)
class Run:
    """One Step Functions execution scoring one file; travels in every batch's BatchInput."""

    bucket: str
    key: str
    run_id: str
    header: list[str]
    model_version: str
    started_at: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Run:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    @property
    def input_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def prefix(self) -> str:
        return f"{RUNS_PREFIX}{self.run_id}/"

    def part(self, kind: str, first_row: int) -> str:
        """``results`` or ``errors`` part of the batch whose first row is ``first_row``."""
        return f"{self.prefix}{kind}/{first_row:012d}.csv"

    def marker(self, batch: BatchDone) -> str:
        return (
            f"{self.prefix}batches/{batch.first:012d}-{batch.last:012d}-"
            f"{batch.rows}-{batch.scored}-{batch.failed}.done"
        )

    def segment(self, kind: str, number: int) -> str:
        return f"{self.prefix}segments/{kind}/{number:06d}.csv"

    def segment_counts(self, number: int) -> str:
        return f"{self.prefix}segments/drift/{number:06d}.json"

    def plan_key(self, number: int | None = None) -> str:
        return (
            f"{self.prefix}plan.json" if number is None else f"{self.prefix}plan/{number:06d}.json"
        )


@dataclass(frozen=True)
class BatchDone:
    """What one batch delivered: its file rows (first and last, inclusive) and counts."""

    first: int
    last: int
    rows: int
    scored: int
    failed: int


@cache
def _s3() -> Any:
    return aws.client("s3")


# --- 1. prepare -----------------------------------------------------------------------------


def prepare(
    bucket: str, key: str, run_id: str, service: ScoringService, s3: Any = None
) -> dict[str, Any]:
    """Check the header and pin the model; a rejected file is answered here and now."""
    s3 = s3 if s3 is not None else _s3()
    summary = Summary(input=f"s3://{bucket}/{key}")
    started = time.time()
    try:
        header = read_header(s3, bucket, key)
        check_file_header(service.get_model(), header, summary)
    except (FileRejected, ModelUnavailable) as error:
        summary.refuse(error)
    if summary.status != "complete":
        summary.seconds = round(time.time() - started, 3)
        write_file_problems(s3, bucket, OutputKeys.for_input(key), summary)
        return {"status": summary.status}
    assert summary.model_version is not None
    run = Run(bucket, key, run_id, header, summary.model_version, started)
    return {
        "status": "ready",
        "run": asdict(run),
        "warnings": summary.warnings,
        "map_prefix": f"{run.prefix}map",  # where the Map's ResultWriter reports
    }


def read_header(s3: Any, bucket: str, key: str) -> list[str]:
    """The header line, read by the row contract from a ranged GET of the file's first
    bytes (Step Functions reads headers of up to 10 KiB; never the whole file here)."""
    try:
        answer = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_HEADER_BYTES + 3}")
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        if code == "InvalidRange":  # an empty object has no first byte
            raise FileRejected([FieldProblem(FILE_FIELD, EMPTY_FILE)]) from error
        raise FileRejected([FieldProblem(FILE_FIELD, f"cannot be read from S3: {code}")]) from error
    head: bytes = answer["Body"].read()
    end = head.find(b"\n")
    if end < 0 and len(head) > MAX_HEADER_BYTES:
        message = f"the header line is longer than {MAX_HEADER_BYTES} bytes"
        raise FileRejected([FieldProblem(FILE_FIELD, message)])
    try:
        text = decode(head if end < 0 else head[: end + 1])
        header, _ = read_csv(io.StringIO(text, newline=""))
    except CsvError as error:
        raise FileRejected([FieldProblem(FILE_FIELD, error.message)]) from error
    return list(header)


# --- 2. the worker --------------------------------------------------------------------------


def score_batch(
    event: Mapping[str, Any], service_for: Callable[[str], ScoringService], s3: Any = None
) -> dict[str, Any]:
    """Score one Distributed Map batch, write its parts then its marker; return counts only."""
    s3 = s3 if s3 is not None else _s3()
    run = Run.from_dict(event["BatchInput"]["run"])
    service = service_for(run.model_version)
    model = service.get_model()
    check = batch_csv.header_of(model, run.header)  # prepare found it usable
    items = sorted(event["Items"], key=lambda item: int(item["index"]))
    rows = [row for row in _rows(items, run.header) if not is_blank(row[1])]
    scored = batch_csv.score_rows(service, model, rows, check)
    tally = reports.FileReport(model.manifest, model.version)  # this batch's drift counts
    tally.add(scored.table)
    results = batch_csv.results_csv(scored, header=False)
    errors = batch_csv.errors_csv(scored)
    counts = scored.table.counts
    first = int(items[0]["index"]) + FIRST_DATA_ROW
    last = int(items[-1]["index"]) + FIRST_DATA_ROW
    done = BatchDone(first, last, counts.total, counts.scored, counts.failed)
    s3.put_object(Bucket=run.bucket, Key=run.part("results", first), Body=results.encode())
    if errors:  # most batches have none: one request less (S3 requests are most of the cost)
        s3.put_object(Bucket=run.bucket, Key=run.part("errors", first), Body=errors.encode())
    marker = json.dumps(tally.counts.to_dict()).encode()  # the drift counts ride on it
    s3.put_object(Bucket=run.bucket, Key=run.marker(done), Body=marker)  # last: it is done
    return asdict(done)


def _rows(items: Sequence[Mapping[str, Any]], header: Sequence[str]) -> Iterator[batch_csv.Row]:
    """Each item as the row the CSV path would have read: its file row number, its cells.

    ItemReader gives every item the header's names (the first may carry a byte-order
    mark): the cells are then taken by name in one step; an item that differs, or holds a
    value that is not text, goes through :func:`_cells`."""
    keys = _item_keys(items, header)
    take = None if keys is None else itemgetter(*keys)
    for item in items:
        number = int(item["index"]) + FIRST_DATA_ROW
        row = item["row"]
        try:
            if take is None or len(row) != len(header):
                raise KeyError
            cells = list(take(row))
            "".join(cells)  # every cell is text (a TypeError otherwise)
        except (KeyError, TypeError):
            cells = _cells(row, header)
        yield number, cells


def _item_keys(items: Sequence[Mapping[str, Any]], header: Sequence[str]) -> list[str] | None:
    """The first item's keys as written, in the header's order, when they name the header's
    columns exactly once each (None: every item is read by :func:`_cells`)."""
    if not items or len(header) < 2:  # itemgetter of one key gives the value, not a tuple
        return None
    raw = list(items[0]["row"])
    names = [str(k).lstrip("\ufeff") for k in raw]
    unique = len(set(names)) == len(names) and len(set(header)) == len(header)
    if not unique or set(names) != set(header):
        return None
    written = dict(zip(names, raw, strict=True))
    return [written[name] for name in header]


def _cells(row: Mapping[str, Any], header: Sequence[str]) -> list[str]:
    """An item's cells by the header's names; an item without exactly the header's names
    (or with a value that is not text) is a ragged row of its values as they come."""
    values = {str(k).lstrip("\ufeff"): v for k, v in dict(row).items()}
    cells = [values.get(name) for name in header]
    if len(values) != len(header) or any(not isinstance(cell, str) for cell in cells):
        cells = list(values.values())  # as many cells as the line had: a ragged row
    return ["" if cell is None else str(cell) for cell in cells]


# --- 3. plan --------------------------------------------------------------------------------


@dataclass
class Plan:
    """What the batches delivered, and how their parts group into segments."""

    rows: int = 0
    scored: int = 0
    failed: int = 0
    batches: int = 0
    segments: int = 0
    missing_rows: list[list[int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def plan(run: Run, map_output: Mapping[str, Any] | None, s3: Any = None) -> dict[str, Any]:
    """Find what was delivered and what is missing; write the plan; return the segments."""
    s3 = s3 if s3 is not None else _s3()
    batches = sorted(_delivered(s3, run), key=lambda b: b.first)
    sizes = {kind: _part_sizes(s3, run, kind) for kind in ("results", "errors")}
    result = Plan(batches=len(batches))
    for batch in batches:
        result.rows += batch.rows
        result.scored += batch.scored
        result.failed += batch.failed
    undelivered, result.problems = _failed_rows(s3, map_output)
    result.missing_rows = _missing(batches, undelivered)
    groups = list(_segments(batches, sizes["results"]))
    result.segments = len(groups)
    for number, group in enumerate(groups):
        parts = [
            {
                "first": b.first,
                "results": sizes["results"][b.first],
                "errors": sizes["errors"].get(b.first, 0),
                "marker": run.marker(b),
            }
            for b in group
        ]
        _put_json(s3, run.bucket, run.plan_key(number), parts)
    _put_json(s3, run.bucket, run.plan_key(), asdict(result))
    return {"segments": list(range(result.segments))}


def _list(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    token: dict[str, str] = {}
    while True:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, **token)
        yield from page.get("Contents", [])
        if not page.get("IsTruncated"):
            return
        token = {"ContinuationToken": page["NextContinuationToken"]}


def _delivered(s3: Any, run: Run) -> Iterator[BatchDone]:
    for item in _list(s3, run.bucket, f"{run.prefix}batches/"):
        match = _MARKER.search(item["Key"])
        if match:
            yield BatchDone(*(int(g) for g in match.groups()))


def _part_sizes(s3: Any, run: Run, kind: str) -> dict[int, int]:
    sizes = {}
    for item in _list(s3, run.bucket, f"{run.prefix}{kind}/"):
        name = item["Key"].rsplit("/", 1)[-1].removesuffix(".csv")
        if name.isdigit():
            sizes[int(name)] = int(item["Size"])
    return sizes


def _failed_rows(s3: Any, map_output: Mapping[str, Any] | None) -> tuple[set[int], list[str]]:
    """Row numbers of the batches Step Functions reports FAILED or PENDING (ResultWriter)."""
    details = (map_output or {}).get("ResultWriterDetails")
    if not details:
        return set(), []
    manifest = _get_json(s3, details["Bucket"], details["Key"])
    rows: set[int] = set()
    problems: list[str] = []
    for status in ("FAILED", "PENDING"):
        for result_file in manifest.get("ResultFiles", {}).get(status, []):
            for execution in _get_json(s3, manifest["DestinationBucket"], result_file["Key"]):
                if "Input" not in execution:
                    problems.append(f"a {status.lower()} batch did not record its input")
                    continue
                batch = json.loads(execution["Input"])
                rows.update(int(i["index"]) + FIRST_DATA_ROW for i in batch.get("Items", []))
    return rows, problems


def _missing(batches: Sequence[BatchDone], undelivered: set[int]) -> list[list[int]]:
    """Inclusive row ranges no batch delivered: gaps between batches, and failed batches."""
    missing = set(undelivered)
    expected = FIRST_DATA_ROW
    for batch in batches:
        missing.update(range(expected, batch.first))
        expected = max(expected, batch.last + 1)
    for batch in batches:
        missing.difference_update(range(batch.first, batch.last + 1))
    return _ranges(sorted(missing))


def _ranges(numbers: Iterable[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for number in numbers:
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ranges


def _segments(batches: Sequence[BatchDone], sizes: Mapping[int, int]) -> Iterator[list[BatchDone]]:
    group: list[BatchDone] = []
    size = 0
    for batch in batches:
        group.append(batch)
        size += sizes.get(batch.first, 0)
        if size >= SEGMENT_BYTES:
            yield group
            group, size = [], 0
    if group:
        yield group


# --- 4. combine -----------------------------------------------------------------------------


def combine(run: Run, number: int, s3: Any = None) -> dict[str, Any]:
    """Join one segment's results parts, and its error parts, each into one object."""
    s3 = s3 if s3 is not None else _s3()
    parts = _get_json(s3, run.bucket, run.plan_key(number))
    joined = {}
    for kind in ("results", "errors"):
        sources = [s3_concat.Source(run.part(kind, p["first"]), p[kind]) for p in parts]
        stats = s3_concat.concatenate(s3, run.bucket, run.segment(kind, number), sources)
        joined[kind] = stats.bytes
    counts = [drift.DriftCounts.from_dict(_get_json(s3, run.bucket, p["marker"])) for p in parts]
    _put_json(s3, run.bucket, run.segment_counts(number), drift.merge(counts).to_dict())
    return {"segment": number, **joined}


# --- 5. finish ------------------------------------------------------------------------------


def finish(
    run: Run,
    warnings: list[str],
    service_for: Callable[[str], ScoringService],
    error: Mapping[str, Any] | None = None,
    s3: Any = None,
) -> dict[str, Any]:
    """Write the results file and error report from the segments, then the summary last.

    ``service_for`` gives the run's pinned model, whose drift reference the report uses."""
    s3 = s3 if s3 is not None else _s3()
    keys = OutputKeys.for_input(run.key)
    summary = Summary(input=run.input_uri, model_version=run.model_version, warnings=warnings)
    if error is not None:  # the map, plan or a join failed: nothing partial passes for a result
        cause = f"{error.get('Error', 'error')}: {error.get('Cause', '')}".strip(": ")
        summary.status = "failed"
        summary.problems = [FieldProblem(FILE_FIELD, f"the run stopped: {cause}")]
        summary.seconds = round(time.time() - run.started_at, 3)
        write_file_problems(s3, run.bucket, keys, summary)
        return {"status": summary.status}
    planned = Plan(**_get_json(s3, run.bucket, run.plan_key()))
    if planned.rows == 0 and not planned.missing_rows:  # a header and nothing else
        summary.status = "rejected"
        summary.problems = [FieldProblem(FILE_FIELD, NO_ROWS)]
        summary.seconds = round(time.time() - run.started_at, 3)
        write_file_problems(s3, run.bucket, keys, summary)
        return {"status": summary.status}
    for kind, key, columns in (
        ("errors", keys.errors, ERROR_COLUMNS),
        ("results", keys.results, results_header(asks_paths(run.header))),
    ):
        sources = [_segment_source(s3, run, kind, n) for n in range(planned.segments)]
        head = write_csv([columns]).encode()
        s3_concat.concatenate(s3, run.bucket, key, sources, head=head)
    summary.rows, summary.scored, summary.failed = planned.rows, planned.scored, planned.failed
    summary.missing_rows = planned.missing_rows
    summary.status = "partial" if planned.missing_rows or planned.problems else "complete"
    summary.problems = [FieldProblem(FILE_FIELD, p) for p in planned.problems]
    summary.results, summary.errors = keys.results, keys.errors
    if not planned.missing_rows:  # a report of part of a file would pass for the whole
        summary.report = _write_report(s3, run, planned, summary, service_for)
    summary.seconds = round(time.time() - run.started_at, 3)
    write_summary(s3, run.bucket, keys, summary)
    return {"status": summary.status, "rows": summary.rows, "missing": len(summary.missing_rows)}


def _write_report(
    s3: Any,
    run: Run,
    planned: Plan,
    summary: Summary,
    service_for: Callable[[str], ScoringService],
) -> str | None:
    """The drift report from the segments' counts against the drift reference of the model
    the run pinned (no migration: matching 100 M customers by id against the previous run
    would need both files whole). Never fails the file."""
    try:
        parts = [_get_json(s3, run.bucket, run.segment_counts(n)) for n in range(planned.segments)]
        manifest = service_for(run.model_version).get_model().manifest
        reference = drift.reference_of(manifest)
        counts = drift.merge([drift.DriftCounts.from_dict(p) for p in parts])
        report = drift.build_report(
            counts, reference, name=OutputKeys.name_of(run.key), created_at=reports.now_iso(),
            model_version=run.model_version, rows_in_file=planned.rows, source=run.input_uri,
        )  # fmt: skip
        return reports.ReportStore(run.bucket, s3).put(report)
    except (ClientError, ModelUnavailable, ValueError) as error:
        observability.logger.warning("drift report not written", extra={"error": str(error)})
        summary.warnings.append(f"the drift report could not be written: {error}")
        return None


def _segment_source(s3: Any, run: Run, kind: str, number: int) -> s3_concat.Source:
    key = run.segment(kind, number)
    size = int(s3.head_object(Bucket=run.bucket, Key=key)["ContentLength"])
    return s3_concat.Source(key, size)


# --- the Lambda entry point of the run function ---------------------------------------------


def run_step(
    event: Mapping[str, Any],
    service: ScoringService,
    service_for: Callable[[str], ScoringService],
) -> dict[str, Any]:
    """Dispatch the state machine's ``{"step": ..., ...}`` payloads (template.yaml)."""
    step = event["step"]
    if step == "prepare":
        return prepare(event["bucket"], event["key"], event["run_id"], service)
    run = Run.from_dict(event["run"])
    if step == "plan":
        return plan(run, event.get("map"))
    if step == "combine":
        return combine(run, int(event["segment"]))
    if step == "finish":
        return finish(run, list(event.get("warnings", [])), service_for, event.get("error"))
    raise ValueError(f"unknown step {step!r}")


def _put_json(s3: Any, bucket: str, key: str, data: Any) -> None:
    s3.put_object(
        Bucket=bucket, Key=key, Body=json.dumps(data).encode(), ContentType="application/json"
    )


def _get_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
