"""Large files on the Distributed Map: prepare, workers, plan, combine, finish under moto.

Step Functions' own part is played by tests/functions/batch/distributed_map.py with the numbers
of the deployed definition and the event shapes of fixtures/distributed_map/ (from the AWS
documentation, cited in its README). What a run writes is compared byte for byte with what
the one-invocation path (``batch_files.score_file``) writes for the same file.
"""

from __future__ import annotations

import csv
import io
import json
import random
from typing import Any

import pytest

from tests.functions.batch.distributed_map import LocalMap, fixture
from tests.functions.batch.test_files import (  # fixtures and helpers, not tests
    BATCH_BUCKET,
    BatchStack,
    csv_bytes,
    published,
    real_rows,
    stack,
)
from tests.infra import state_machine

from chalicelib.batch import files as batch_files  # isort: skip
from chalicelib.batch import runs as batch_runs  # isort: skip
from chalicelib import composition  # isort: skip
from chalicelib.contract.row import RESULT_COLUMNS  # isort: skip

__all__ = ["published", "real_rows", "stack"]  # pytest fixtures used by name below

Rows = tuple[list[str], list[list[str]]]


def local_map(stack: BatchStack, **limits: int) -> LocalMap:
    """A run that always takes the Distributed Map (unless told otherwise)."""
    values = {**state_machine.limits(), "whole_file_max_bytes": 0, **limits}
    return LocalMap(stack.s3, composition.get_service(), composition.get_service_for, limits=values)


def resampled(rows: Rows, count: int, seed: int) -> list[list[str]]:
    _, data = rows
    rng = random.Random(seed)
    return [
        [f"{data[i][0]}-{n}", *data[i][1:]]
        for n, i in enumerate(rng.choices(range(len(data)), k=count))
    ]


def with_bad_rows(header: list[str], sample: list[list[str]]) -> list[list[str]]:
    """Some rows the validator refuses, so the error reports are not empty."""
    sample = [list(row) for row in sample]
    sample[3][header.index("BALANCE")] = "abc"
    sample[40][header.index("TENURE")] = ""
    sample[41] = sample[41] + ["surplus"]
    sample[-2][header.index("PAYMENTS")] = "-5"
    return sample


def one_invocation(stack: BatchStack, name: str, content: bytes) -> dict[str, bytes]:
    """The same content scored by the one-invocation path: its results and error files."""
    key = stack.put(f"{name}.csv", content)
    batch_files.score_file(BATCH_BUCKET, key, composition.get_service(), s3_client=stack.s3)
    return outputs(stack, name)


def outputs(stack: BatchStack, name: str) -> dict[str, bytes]:
    found = {}
    for kind in ("results", "errors"):
        key = f"batch/output/{name}.{kind}.csv"
        if stack.exists(key):
            found[kind] = stack.s3.get_object(Bucket=BATCH_BUCKET, Key=key)["Body"].read()
    return found


def report_of(stack: BatchStack, name: str) -> dict[str, Any]:
    """A drift report without what names its file and its time."""
    body = json.loads(stack.text(f"batch/reports/{name}.report.json"))
    return {k: v for k, v in body.items() if k not in {"name", "source", "created_at"}}


def data_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode(), newline="")))[1:]


def test_the_worker_answers_the_documented_batch_event_through_the_app(
    stack: BatchStack, published: str
) -> None:
    event = json.loads(
        json.dumps(fixture("worker_batch.json")).replace("${MODEL_VERSION}", published)
    )
    event["BatchInput"]["run"]["bucket"] = BATCH_BUCKET
    answer = stack.client.lambda_.invoke("score_batch_rows", event).payload
    assert answer == {"first": 2, "last": 4, "rows": 3, "scored": 3, "failed": 0}  # file rows
    run = batch_runs.Run.from_dict(event["BatchInput"]["run"])
    part = stack.s3.get_object(Bucket=BATCH_BUCKET, Key=run.part("results", 2))["Body"].read()
    header = event["BatchInput"]["run"]["header"]
    rows = [[item["row"][h] for h in header] for item in event["Items"]]
    expected = one_invocation(stack, "three", csv_bytes(header, rows))["results"]
    assert part == expected.split(b"\r\n", 1)[1]  # the same lines, without the header


@pytest.mark.slow
def test_fifty_thousand_rows_in_batches_give_exactly_the_one_invocation_files(
    stack: BatchStack, published: str, real_rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    header, _ = real_rows
    content = csv_bytes(header, resampled(real_rows, 50_000, seed=11))
    expected = one_invocation(stack, "whole", content)
    # Segments of 6 MiB: the finish step joins them by multipart copy, not by reading them.
    monkeypatch.setattr(batch_runs, "SEGMENT_BYTES", 6 * 1024 * 1024)
    runner = local_map(stack)
    state = runner.run(BATCH_BUCKET, stack.put("mapped.csv", content))

    assert outputs(stack, "mapped") == expected  # row for row, byte for byte
    summary = stack.summary("batch/output/mapped.summary.json")
    assert (summary["status"], summary["rows"], summary["scored"], summary["failed"]) == (
        "complete", 50_000, 50_000, 0,
    )  # fmt: skip
    assert summary["model_version"] == published and summary["missing_rows"] == []
    assert state["plan"]["segments"] == [0, 1]  # 12 MB of results in two segments
    # Full batches of MaxItemsPerBatch: the byte cap never bound on real rows.
    assert [len(batch["Items"]) for batch in runner.batches] == [200] * 250


def test_a_batch_that_fails_twice_then_succeeds_leaves_no_duplicate_rows(
    stack: BatchStack, published: str, real_rows: Rows
) -> None:
    header, _ = real_rows
    # A BOM, as spreadsheet exports write it: the reader keeps it in the first column name.
    content = b"\xef\xbb\xbf" + csv_bytes(header, resampled(real_rows, 2_000, 3))
    expected = one_invocation(stack, "clean", content)
    faults = {1: "marker", 3: "lost", 4: "before"}  # parts written twice, answers lost twice...
    runner = local_map(stack)
    runner.faults = lambda batch, attempt: faults.get(batch) if attempt <= 2 else None
    runner.run(BATCH_BUCKET, stack.put("retried.csv", content))

    assert outputs(stack, "retried") == expected
    # The drift report: the workers' counts merged give the one-invocation path's report.
    mine, theirs = report_of(stack, "retried"), report_of(stack, "clean")
    assert mine["rows"] == 2_000 and mine["features"] and mine == theirs
    summary = stack.summary("batch/output/retried.summary.json")
    assert summary["report"] == "batch/reports/retried.report.json"
    assert (summary["status"], summary["rows"], summary["scored"]) == ("complete", 2_000, 2_000)
    assert runner.attempts == len(runner.batches) + 2 * len(faults)


def test_bad_rows_are_reported_as_on_the_one_invocation_path(
    stack: BatchStack, published: str, real_rows: Rows
) -> None:
    """Invalid rows are not scored, so the valid rows after them sit at other positions in
    the ONNX calls of each path; onnxruntime's float32 kernels then round a few distances
    differently (a row's bits depend on its position mod 4 in a call). Everything else is
    identical; the derived floats agree to the last digit printed, give or take one."""
    header, _ = real_rows
    content = csv_bytes(header, with_bad_rows(header, resampled(real_rows, 2_000, 9)))
    expected = one_invocation(stack, "checked", content)
    local_map(stack).run(BATCH_BUCKET, stack.put("mapped.csv", content))
    found = outputs(stack, "mapped")
    assert found["errors"] == expected["errors"]
    got, want = data_rows(found["results"]), data_rows(expected["results"])
    assert len(got) == len(want) == 2_000  # every row, scored or not
    floats = {RESULT_COLUMNS.index(c) for c in ("margin", "map_x", "map_y")}
    for mine, theirs in zip(got, want, strict=True):
        assert [c for i, c in enumerate(mine) if i not in floats] == [
            c for i, c in enumerate(theirs) if i not in floats
        ]
        for i in floats:
            if mine[i] or theirs[i]:
                assert abs(float(mine[i]) - float(theirs[i])) <= 1.5e-4, (mine, theirs)


def test_the_row_contracts_conformance_cells_read_the_same_on_the_distributed_map(
    stack: BatchStack, published: str
) -> None:
    """The conformance table's cells (tests/functions/test_conformance.py: bad numbers,
    missing tokens, ragged rows, a blank line, formula-like ids): the same results table
    and error report, byte for byte, as the one-invocation path."""
    from tests.functions.test_conformance import cell_file

    data, _ = cell_file()
    expected = one_invocation(stack, "cells", data)
    local_map(stack).run(BATCH_BUCKET, stack.put("cells-map.csv", data))
    assert outputs(stack, "cells-map") == expected
    assert stack.summary("batch/output/cells-map.summary.json")["status"] == "complete"


def test_a_batch_failing_for_good_ends_partial_and_names_its_rows(
    stack: BatchStack, published: str, real_rows: Rows
) -> None:
    header, _ = real_rows
    content = csv_bytes(header, resampled(real_rows, 2_000, 5))
    clean = one_invocation(stack, "clean", content)
    runner = local_map(stack, tolerated_failure_percentage=50)
    last = len(runner_batches(stack, runner, content)) - 1
    doomed = {2: "before", last: "marker"}  # the last batch's parts exist, its marker never
    runner.faults = lambda batch, attempt: doomed.get(batch)
    runner.run(BATCH_BUCKET, stack.put("holes.csv", content))

    lost = [runner.batches[2], runner.batches[last]]
    ranges = [[b["Items"][0]["index"] + 2, b["Items"][-1]["index"] + 2] for b in lost]
    summary = stack.summary("batch/output/holes.summary.json")
    assert summary["status"] == "partial"
    assert summary["report"] is None  # no drift report of part of a file
    assert summary["missing_rows"] == ranges  # the middle batch's rows and the last batch's
    missing = {n for first, final in ranges for n in range(first, final + 1)}
    assert summary["rows"] == 2_000 - len(missing)
    results = data_rows(outputs(stack, "holes")["results"])
    assert results == [r for r in data_rows(clean["results"]) if int(r[0]) not in missing]


def runner_batches(stack: BatchStack, runner: LocalMap, content: bytes) -> list[Any]:
    """How the definition batches this content (without running anything)."""
    from tests.functions.batch.distributed_map import batched

    key = stack.put("probe.csv", content)
    batcher = runner.definition["States"]["Score"]["ItemBatcher"]
    return list(batched(runner.read_items(BATCH_BUCKET, key), batcher))


def test_past_the_tolerated_failures_the_run_fails_without_a_results_file(
    stack: BatchStack, published: str, real_rows: Rows
) -> None:
    header, _ = real_rows
    runner = local_map(stack, tolerated_failure_percentage=0)
    runner.faults = lambda batch, attempt: "before" if batch == 0 else None
    runner.run(
        BATCH_BUCKET, stack.put("stopped.csv", csv_bytes(header, resampled(real_rows, 800, 7)))
    )

    assert "results" not in outputs(stack, "stopped")
    summary = stack.summary("batch/output/stopped.summary.json")
    assert summary["status"] == "failed" and summary["results"] is None
    assert "States.ExceedToleratedFailureThreshold" in summary["problems"][0]["message"]


def test_a_missing_required_column_is_rejected_before_any_batch(
    stack: BatchStack, published: str, real_rows: Rows
) -> None:
    header, rows = real_rows
    keep = [i for i, name in enumerate(header) if name not in {"BALANCE", "TENURE"}]
    content = csv_bytes([header[i] for i in keep], [[row[i] for i in keep] for row in rows[:50]])
    runner = local_map(stack)
    state = runner.run(BATCH_BUCKET, stack.put("cut.csv", content))

    assert state["prepared"]["status"] == "rejected" and runner.batches == []
    assert "results" not in outputs(stack, "cut")
    summary = stack.summary("batch/output/cut.summary.json")
    assert (summary["status"], summary["results"]) == ("rejected", None)
    errors = stack.table("batch/output/cut.errors.csv")
    assert [(e["field"], e["message"]) for e in errors] == [
        ("BALANCE", "required column is missing"),
        ("TENURE", "required column is missing"),
    ]


def test_small_files_take_the_one_invocation_path(
    stack: BatchStack, published: str, real_rows: Rows
) -> None:
    header, rows = real_rows
    runner = LocalMap(stack.s3, composition.get_service(), composition.get_service_for)
    state = runner.run(BATCH_BUCKET, stack.put("small.csv", csv_bytes(header, rows[:100])))
    assert state["whole_file"] == {"status": "complete"} and "prepared" not in state
    assert stack.summary("batch/output/small.summary.json")["rows"] == 100
    assert "Contents" not in stack.s3.list_objects_v2(
        Bucket=BATCH_BUCKET, Prefix=batch_runs.RUNS_PREFIX
    )
