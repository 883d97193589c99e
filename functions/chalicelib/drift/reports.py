"""Drift reports of scored files: where they live in S3, how a file's report is made.

``s3://<BATCH_BUCKET>/batch/reports/<name>.report.json`` for the input
``batch/input/<name>.csv``: a prefix of their own, so the API function can be allowed to
read reports and nothing else of the batch bucket (template.yaml).

:class:`FileReport` follows one file being scored (chunk by chunk, through
:mod:`chalicelib.drift.stats`) and writes its report once the file is complete. When a report
of the same name exists already, the previous run's results file is read back before it
is replaced, and the customers are matched by ``CUST_ID`` between the two runs.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import observability
from chalicelib.contract.bundle import Manifest
from chalicelib.contract.row import ID_FIELD
from chalicelib.drift import stats as drift
from chalicelib.scoring.scored import ScoredTable
from chalicelib.stores import aws

REPORTS_PREFIX = "batch/reports/"
REPORT_SUFFIX = ".report.json"
SEGMENT_COLUMN = "segment_id"
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
FETCH_THREADS = 8
MAX_NAME_LENGTH = 512


def report_key(name: str) -> str:
    return f"{REPORTS_PREFIX}{name}{REPORT_SUFFIX}"


def valid_name(name: str) -> bool:
    """A name a report can have: what is left of an input key (no ``..``, no control chars)."""
    return (
        0 < len(name) <= MAX_NAME_LENGTH
        and ".." not in name.split("/")
        and not name.startswith("/")
        and all(ch.isprintable() for ch in name)
    )


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ReportStore:
    """Reads and writes reports in the batch bucket; the S3 client is made on first use."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("s3")
        return self._client

    def put(self, report: Mapping[str, Any]) -> str:
        key = report_key(str(report["name"]))
        body = json.dumps(report, indent=1, allow_nan=False).encode()
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"
        )
        return key

    def get(self, name: str) -> dict[str, Any] | None:
        """The report, or None when there is none of that name."""
        if not valid_name(name):
            return None
        key = report_key(name)
        # Listed first: without a ListBucket grant on the key itself, S3 answers a missing
        # key with 403, and the grant is conditioned on the reports' prefix.
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        if not any(item["Key"] == key for item in listing.get("Contents", [])):
            return None
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as error:  # deleted between the two calls
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        loaded: dict[str, Any] = json.loads(body.read())
        return loaded

    def latest(self, limit: int = DEFAULT_LIST_LIMIT) -> list[dict[str, Any]]:
        """Summaries of the ``limit`` most recently written reports, newest first."""
        objects = [
            item
            for page in self._pages()
            for item in page.get("Contents", [])
            if item["Key"].endswith(REPORT_SUFFIX)
        ]
        objects.sort(key=lambda item: item["LastModified"], reverse=True)
        names = [o["Key"][len(REPORTS_PREFIX) : -len(REPORT_SUFFIX)] for o in objects[:limit]]
        with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
            found = list(pool.map(self.get, names))
        return [drift.summary_of(report) for report in found if report is not None]

    def _pages(self) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": REPORTS_PREFIX}
        while True:
            page: dict[str, Any] = self.client.list_objects_v2(**request)
            yield page
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]


_last_reference: list[tuple[Manifest, drift.Reference]] = []


def _reference(manifest: Manifest) -> drift.Reference:
    """The manifest's drift reference, kept for the last manifest asked: a Distributed Map
    worker counts every 200-row batch against the same one (a manifest is immutable)."""
    if not _last_reference or _last_reference[0][0] is not manifest:
        _last_reference[:] = [(manifest, drift.reference_of(manifest))]
    return _last_reference[0][1]


class FileReport:
    """The drift counts of one file being scored, and its report at the end."""

    def __init__(self, manifest: Manifest, model_version: str) -> None:
        self.reference = _reference(manifest)
        self.counts = drift.new_counts(self.reference)
        self.model_version = model_version

    def add(self, table: ScoredTable) -> None:
        """Count a chunk's scored rows: their validated values (in the reference's feature
        order, the model's) and how each was scored."""
        columns = table.columns
        drift.add_rows(
            self.counts,
            self.reference,
            table.values,
            [segment.id for segment in columns.segments],
            columns.typicality,
        )

    def write(
        self,
        store: ReportStore,
        name: str,
        *,
        source: str,
        rows_in_file: int,
        results: IO[bytes],
        previous_results_key: str,
    ) -> str:
        """Build and store the report (migration included when a previous one exists)."""
        previous = store.get(name)
        moved = None
        if previous is not None:
            moved = self._migration(store, previous, results, previous_results_key)
        report = drift.build_report(
            self.counts,
            self.reference,
            name=name,
            created_at=now_iso(),
            model_version=self.model_version,
            rows_in_file=rows_in_file,
            migration=moved,
            source=source,
        )
        return store.put(report)

    @staticmethod
    def _migration(
        store: ReportStore, previous: Mapping[str, Any], results: IO[bytes], previous_key: str
    ) -> dict[str, Any] | None:
        run = {
            "created_at": previous.get("created_at"),
            "model_version": previous.get("model_version"),
        }
        try:
            body = store.client.get_object(Bucket=store.bucket, Key=previous_key)["Body"]
        except (BotoCoreError, ClientError) as error:  # e.g. expired by the lifecycle rule
            observability.logger.warning(
                "previous results unreadable; no migration", extra={"error": str(error)}
            )
            return None
        previous_pairs = _assignments(io.TextIOWrapper(body, encoding="utf-8", newline=""))
        results.flush()
        results.seek(0)
        text = io.TextIOWrapper(results, encoding="utf-8", newline="")
        try:
            return drift.migration(previous_pairs, _assignments(text), previous_run=run)
        finally:
            text.detach()


def _assignments(text: IO[str]) -> Iterator[tuple[str, int]]:
    """``(CUST_ID, segment id)`` of every line of a results file (by column name)."""
    reader = csv.reader(text)
    header = next(reader, [])
    if ID_FIELD not in header or SEGMENT_COLUMN not in header:
        return
    id_at, segment_at = header.index(ID_FIELD), header.index(SEGMENT_COLUMN)
    for cells in reader:
        if len(cells) > max(id_at, segment_at) and cells[segment_at]:
            yield cells[id_at], int(cells[segment_at])
