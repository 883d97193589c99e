"""The path columns of a batch file with a ``TARGET_SEGMENT`` column: the same cells on
every path (the S3 batch file, the Distributed Map, the CSV route), each row's path the
one ``POST /v1/segment/path`` answers, and a file without the column unchanged."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from chalice.test import Client

from tests.functions.batch.test_files import (  # fixtures and helpers, not tests
    BATCH_BUCKET,
    BatchStack,
    csv_bytes,
    published,
    real_rows,
    stack,
)
from tests.functions.batch.test_runs import local_map, one_invocation, outputs
from tests.functions.conftest import BUCKET, PREFIX, TrainedBundle, copy_bundle, post_json
from training.registry import ModelRegistry

from chalicelib.contract.row import PATH_COLUMNS, RESULT_COLUMNS, parse_cell  # isort: skip

__all__ = ["published", "real_rows", "stack"]  # pytest fixtures used by name below

Rows = tuple[list[str], list[list[str]]]
TARGET = "TARGET_SEGMENT"


def with_targets(rows: Rows, count: int = 30) -> tuple[list[str], list[list[str]]]:
    """The first rows with a TARGET_SEGMENT column: every target, some empty, some wrong,
    short-tenure rows (some with no path), one invalid row."""
    header, data = rows
    targets = ["0", "1", "2", "", "7", "x", "1.0", "NA"]
    sample = [[*row, targets[i % len(targets)]] for i, row in enumerate(data[:count])]
    for short in (8, 9, 10):  # targets 0, 1, 2: a 6-month tenure is out of reach of some
        sample[short][header.index("TENURE")] = "6"
    sample[17][header.index("BALANCE")] = "abc"  # refused: no path cells either
    return [*header, TARGET], sample


def table(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode(), newline="")))


def test_every_path_gives_the_same_path_cells(
    stack: BatchStack, published: str, real_rows: Rows
) -> None:
    header, sample = with_targets(real_rows)
    content = csv_bytes(header, sample)
    whole = one_invocation(stack, "targets", content)["results"]
    local_map(stack).run(BATCH_BUCKET, stack.put("mapped.csv", content))
    assert outputs(stack, "mapped")["results"] == whole  # the Distributed Map: same bytes
    route = stack.client.http.post(
        "/v1/segment/batch",
        headers={"content-type": "text/csv", "accept": "text/csv"},
        body=content,
    )
    assert route.status_code == 200 and route.body == whole  # the CSV route: same bytes
    lines = table(whole)
    assert list(lines[0]) == [*RESULT_COLUMNS, *PATH_COLUMNS]
    statuses = [line["path_status"] for line in lines]
    assert statuses[:8] == ["found", "found", "found", "", "invalid", "invalid", "found", ""]
    assert statuses[17] == "" and lines[17]["status"] == "error"
    assert lines[4]["path_reason"] == "TARGET_SEGMENT: must be a segment id from 0 to 2, got 7"
    assert lines[5]["path_reason"] == "TARGET_SEGMENT: must be a segment id from 0 to 2, got 'x'"


def test_a_rows_path_is_what_the_path_route_answers(
    stack: BatchStack, published: str, real_rows: Rows
) -> None:
    header, sample = with_targets(real_rows)
    lines = table(one_invocation(stack, "targets", csv_bytes(header, sample))["results"])
    found = refused = 0
    for line, row in zip(lines, sample, strict=True):
        if line["path_status"] not in {"found", "no_path"}:
            continue
        customer = {
            name: parse_cell(cell) for name, cell in zip(header, row, strict=True) if name != TARGET
        }
        target = int(float(row[-1]))
        answer = post_json(
            stack.client, "/v1/segment/path", {"customer": customer, "target_segment": target}
        )
        assert line["path_target_id"] == str(target)
        if line["path_status"] == "found":
            found += 1
            body = answer.json_body
            changes = ";".join(f"{c['feature']}={_number(c['to'])}" for c in body["changes"])
            assert line["path_changes"] == changes
            assert float(line["path_cost"]) == body["cost"]
            assert line["path_check"] == body["check"]["typicality"]["label"]
            assert line["path_target_name"] == body["target_segment"]["name"]
        else:
            refused += 1
            assert answer.status_code == 422
            assert line["path_reason"].startswith(answer.json_body["reason"] + ": ")
    assert found > 10 and refused >= 1


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def test_a_row_already_in_its_target_has_no_changes(
    stack: BatchStack, published: str, real_rows: Rows
) -> None:
    header, data = real_rows
    scored = table(one_invocation(stack, "plain", csv_bytes(header, data[:5]))["results"])
    rows = [[*row, scored[i]["segment_id"]] for i, row in enumerate(data[:5])]
    lines = table(one_invocation(stack, "own", csv_bytes([*header, TARGET], rows))["results"])
    assert [line["path_status"] for line in lines] == ["found"] * 5
    assert [line["path_changes"] for line in lines] == [""] * 5
    assert [line["path_cost"] for line in lines] == ["0.0"] * 5
    assert [line["path_check"] for line in lines] == [s["typicality_label"] for s in scored]


def test_the_json_answer_of_a_csv_body_carries_each_rows_path(
    stack: BatchStack, published: str, real_rows: Rows
) -> None:
    header, sample = with_targets(real_rows)
    client: Client = stack.client
    body = client.http.post(
        "/v1/segment/batch", headers={"content-type": "text/csv"}, body=csv_bytes(header, sample)
    ).json_body
    paths = [entry["path"] for entry in body["results"]]
    assert [list(p) for p in paths] == [list(PATH_COLUMNS)] * len(sample)
    assert [p["path_status"] for p in paths[:8]] == [
        "found", "found", "found", None, "invalid", "invalid", "found", None,
    ]  # fmt: skip
    assert body["warnings"] == []  # TARGET_SEGMENT is known, not an ignored column


def test_without_a_model_space_the_rows_say_unavailable(
    stack: BatchStack, bundle: TrainedBundle, real_rows: Rows, tmp_path: Path
) -> None:
    """A bundle trained before the scaler's numbers (its manifest without them): the file is
    scored, each row that asks for a path says why it has none."""
    features = [
        {k: v for k, v in f.items() if k not in {"scaler_mean", "scaler_scale"}}
        for f in bundle.manifest["features"]
    ]
    old = copy_bundle(bundle, tmp_path / "old", "20200101T000000Z-0ld0ld00", features=features)
    ModelRegistry(BUCKET, PREFIX, s3_client=stack.s3).publish(old)
    header, sample = with_targets(real_rows)
    lines = table(one_invocation(stack, "old", csv_bytes(header, sample[:3]))["results"])
    assert [line["model_version"] for line in lines] == ["20200101T000000Z-0ld0ld00"] * 3
    assert [line["status"] for line in lines] == ["scored"] * 3
    assert [line["path_status"] for line in lines] == ["unavailable"] * 3
    assert "retrain" in lines[0]["path_reason"]
