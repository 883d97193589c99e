"""Step Functions' part of a BatchRuns execution, played locally against moto.

moto stores state machines but does not run Distributed Maps, so this driver does what the
service does for our definition (tests/infra/state_machine.py): route by size, read the CSV
as the ``ItemReader`` does (header in the first row, every value a string), apply the
``ItemSelector``, batch with the definition's ``MaxItemsPerBatch`` and
``MaxInputBytesPerBatch``, invoke the worker with the definition's retry count, stop past
``ToleratedFailurePercentage``, export child results as ``ResultWriter`` does, then run plan,
combine and finish. Every event has the shape of the fixtures in fixtures/distributed_map/.
The functions it calls are the real ones (chalicelib.batch.files / batch_runs).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.functions.conftest import FUNCTIONS_DIR  # noqa: F401  (functions/ on sys.path)
from tests.infra import state_machine

from chalicelib.batch import files as batch_files  # isort: skip
from chalicelib.batch import runs as batch_runs  # isort: skip
from chalicelib.scoring.service import ScoringService  # isort: skip

FIXTURES = Path(__file__).resolve().parents[2] / "infra" / "fixtures" / "distributed_map"
PAYLOAD_LIMIT = 256 * 1024  # bytes of a state's input or output

# (batch number, attempt) -> raise before, during or after the worker? See LocalMap.faults.
Fault = Callable[[int, int], str | None]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class LocalMap:
    """One BatchRuns execution. ``faults(batch, attempt)`` may return ``"before"`` (the
    worker fails without writing), ``"marker"`` (its parts are written, then the marker
    write fails) or ``"lost"`` (it finishes but its answer is lost), for attempt 1, 2, ...
    """

    s3: Any
    service: ScoringService
    service_for: Callable[[str], ScoringService]
    limits: dict[str, int] = field(default_factory=state_machine.limits)
    definition: dict[str, Any] = field(default_factory=state_machine.definition)
    faults: Fault = lambda batch, attempt: None
    batches: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0

    # --- the states ---------------------------------------------------------------------

    def run(self, bucket: str, key: str) -> dict[str, Any]:
        """Start the execution as EventBridge does; returns the final state."""
        event = fixture("eventbridge_object_created.json")
        size = self.s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        event["detail"]["bucket"]["name"] = bucket
        event["detail"]["object"].update(key=key, size=size)
        state = {  # Configure
            "bucket": event["detail"]["bucket"]["name"],
            "key": event["detail"]["object"]["key"],
            "size": event["detail"]["object"]["size"],
            "run_id": str(uuid.uuid4()),
            "limits": self.limits,
        }
        if state["size"] <= state["limits"]["whole_file_max_bytes"]:  # Route
            summary = batch_files.score_file(bucket, key, self.service, s3_client=self.s3)
            return {**state, "whole_file": {"status": summary.status}}
        prepared = batch_runs.prepare(bucket, key, state["run_id"], self.service, s3=self.s3)
        state["prepared"] = {"status": prepared["status"], "output": prepared}
        if prepared["status"] != "ready":
            return state  # Answered
        run, warnings = prepared["run"], prepared["warnings"]
        try:
            state["map"] = self.score(state)
        except MapFailed as failure:
            state["map_error"] = failure.error
            return {**state, "finished": batch_runs.finish(
                batch_runs.Run.from_dict(run), warnings, self.service_for, failure.error, s3=self.s3
            )}  # fmt: skip
        planned = batch_runs.plan(batch_runs.Run.from_dict(run), state["map"], s3=self.s3)
        for segment in planned["segments"]:  # Combine (an inline Map)
            batch_runs.combine(batch_runs.Run.from_dict(run), segment, s3=self.s3)
        finished = batch_runs.finish(
            batch_runs.Run.from_dict(run), warnings, self.service_for, s3=self.s3
        )
        return {**state, "plan": planned, "finished": finished}

    def score(self, state: dict[str, Any]) -> dict[str, Any]:
        """The Distributed Map state ``Score``: returns its output (ResultWriter details)."""
        score = self.definition["States"]["Score"]
        batcher = score["ItemBatcher"]
        run = state["prepared"]["output"]["run"]
        succeeded: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        items = self.read_items(state["bucket"], state["key"])
        for number, batch in enumerate(batched(items, batcher)):
            event = {"BatchInput": {"run": run}, "Items": batch}
            size = len(json.dumps(event).encode())
            assert size <= PAYLOAD_LIMIT, f"batch {number}: {size} bytes"
            self.batches.append(event)
            outcome = self.invoke_worker(number, event, score)
            (succeeded if outcome["Status"] == "SUCCEEDED" else failed).append(outcome)
        total = len(succeeded) + len(failed)
        if total and 100 * len(failed) / total > state["limits"]["tolerated_failure_percentage"]:
            raise MapFailed(fixture("map_error_tolerated_failure.json"))
        return self.write_results(state, succeeded, failed)

    def read_items(self, bucket: str, key: str) -> Iterator[dict[str, Any]]:
        """The CSV ``ItemReader`` (FIRST_ROW) then the ``ItemSelector`` of the definition."""
        selector = self.definition["States"]["Score"]["ItemSelector"]
        assert selector == {"index.$": "$$.Map.Item.Index", "row.$": "$$.Map.Item.Value"}
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        reader = csv.reader(io.StringIO(body, newline=""))
        header = next(reader)
        for index, cells in enumerate(reader):
            row = dict(zip(header, cells or [""] * len(header), strict=False))
            row.update({f"(extra {n})": c for n, c in enumerate(cells[len(header) :])})
            yield {"index": index, "row": row}

    def invoke_worker(
        self, number: int, event: dict[str, Any], score: dict[str, Any]
    ) -> dict[str, Any]:
        task = score["ItemProcessor"]["States"]["ScoreRows"]
        (catch_all,) = [r for r in task["Retry"] if r["ErrorEquals"] == ["States.ALL"]]
        error: Exception | None = None
        for attempt in range(1, catch_all["MaxAttempts"] + 2):
            self.attempts += 1
            try:
                counts = self.attempt(number, attempt, event)
                return {
                    "Status": "SUCCEEDED",
                    "Input": json.dumps(event),
                    "Output": json.dumps(counts),
                }
            except Exception as failure:  # what Lambda reports as the task's error
                error = failure
        entry = copy.deepcopy(fixture("result_writer_failed.json")[0])
        entry.update(Input=json.dumps(event), Error="States.TaskFailed", Cause=repr(error))
        return entry

    def attempt(self, number: int, attempt: int, event: dict[str, Any]) -> dict[str, Any]:
        fault = self.faults(number, attempt)
        if fault == "before":
            raise RuntimeError(f"batch {number}: worker crashed (attempt {attempt})")
        s3 = MarkerFailingS3(self.s3) if fault == "marker" else self.s3
        counts = batch_runs.score_batch(copy.deepcopy(event), self.service_for, s3=s3)
        if fault == "lost":
            raise TimeoutError(f"batch {number}: the answer was lost (attempt {attempt})")
        return counts

    def write_results(
        self, state: dict[str, Any], succeeded: list[Any], failed: list[Any]
    ) -> dict[str, Any]:
        """What ``ResultWriter`` exports, and the Map's output pointing at it."""
        writer = self.definition["States"]["Score"]["ResultWriter"]["Parameters"]
        assert writer == {"Bucket.$": "$.bucket", "Prefix.$": "$.prepared.output.map_prefix"}
        bucket, map_run = state["bucket"], str(uuid.uuid4())
        base = f"{state['prepared']['output']['map_prefix']}/{map_run}"
        manifest = fixture("result_writer_manifest.json")
        manifest.update(
            DestinationBucket=bucket, ResultFiles={"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        )
        for status, entries in (("SUCCEEDED", succeeded), ("FAILED", failed)):
            if entries:
                body = json.dumps(entries).encode()
                key = f"{base}/{status}_0.json"
                self.s3.put_object(Bucket=bucket, Key=key, Body=body)
                manifest["ResultFiles"][status].append({"Key": key, "Size": len(body)})
        self.s3.put_object(
            Bucket=bucket, Key=f"{base}/manifest.json", Body=json.dumps(manifest).encode()
        )
        output = fixture("map_output_result_writer.json")
        output["ResultWriterDetails"] = {"Bucket": bucket, "Key": f"{base}/manifest.json"}
        return dict(output)


class MapFailed(Exception):
    def __init__(self, error: dict[str, str]) -> None:
        super().__init__(error["Error"])
        self.error = error


class MarkerFailingS3:
    """The S3 client, except that writing a batch marker fails (after the parts were written)."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def put_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"].endswith(".done"):
            raise ConnectionError("S3 unreachable while writing the marker")
        return self.s3.put_object(**kwargs)


def batched(
    items: Iterator[dict[str, Any]], batcher: dict[str, Any]
) -> Iterator[list[dict[str, Any]]]:
    """``ItemBatcher``: at most MaxItemsPerBatch items and MaxInputBytesPerBatch bytes each."""
    max_items, max_bytes = batcher["MaxItemsPerBatch"], batcher["MaxInputBytesPerBatch"]
    batch: list[dict[str, Any]] = []
    size = 2  # the brackets of the Items array
    for item in items:
        item_bytes = len(json.dumps(item).encode()) + 1
        if batch and (len(batch) == max_items or size + item_bytes > max_bytes):
            yield batch
            batch, size = [], 2
        batch.append(item)
        size += item_bytes
    if batch:
        yield batch
