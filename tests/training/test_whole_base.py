"""Training on a file larger than its sample, from any source and format.

One small file (the first 3,000 customers of the real data), fitted on a sample of 1,000:
the manifest counts every row, the segment sizes are every row's segments under the
exported graph, and the same file as gzip CSV, Parquet, or on S3 (moto) gives the same
bundle figures. Bad rows at the first, a middle and the last line are reported with
their line numbers; an interrupted whole-base read leaves no manifest.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chalicelib.contract.bundle import DataSource, Manifest
from moto import mock_aws

from tests.training.conftest import REAL_DATA
from training.chunks import ChunkReader, RawChunk
from training.cli import EXIT_INVALID, EXIT_OK, main
from training.csv_chunks import CsvChunks
from training.data import DataFileError
from training.duplicates import confirm, hash_ids
from training.pipeline import FROM_EVERY_ROW, FROM_SAMPLE, build_bundle
from training.s3_files import S3Object
from training.schema import FEATURE_NAMES
from training.sources import LocalFile
from training.validation import scan, validate_file
from training.whole_base import Base

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ROWS = 3000
SAMPLE = 1000
FAST = ["--k-max", "4", "--stability-resamples", "2", "--stability-rows", "300", "--threads", "1"]
BUCKET = "customer-data"


def small_csv(tmp_path: Path, edits: dict[int, tuple[str, str]] | None = None) -> Path:
    """The first ``ROWS`` customers of the real data; ``edits``: line -> (column, cell)."""
    lines = REAL_DATA.read_text().splitlines()[: ROWS + 1]
    header = lines[0].split(",")
    for line, (column, cell) in (edits or {}).items():
        cells = lines[line - 1].split(",")
        cells[header.index(column)] = cell
        lines[line - 1] = ",".join(cells)
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def train(
    data: str, out: Path, s3: S3Client | None = None, *, progress: bool = False
) -> dict[str, Any]:
    argv = ["train", "--data", data, "--out", str(out), "--sample-rows", str(SAMPLE)]
    argv += [*FAST, "--no-reference"] + ([] if progress else ["--no-progress"])
    assert main(argv, s3_client=s3) == EXIT_OK
    body: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return body


def figures(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without what names the run or the stored file (time, hashes, name)."""
    body = copy.deepcopy(manifest)
    for key in ("version", "created_at", "files", "libraries"):
        body.pop(key)
    for timing in ("seconds", "step_seconds", "read_seconds"):
        body["training"].pop(timing)
    body["data"].pop("file")
    body["data"].pop("sha256")
    return body


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The plain local CSV, trained on a sample: the figures every other source must give."""
    where = tmp_path_factory.mktemp("reference")
    path = small_csv(where)
    return path, train(str(path), where / "bundle")


def test_the_manifest_counts_every_row_and_fits_on_the_sample(
    reference: tuple[Path, dict[str, Any]],
) -> None:
    _, manifest = reference
    data = manifest["data"]
    assert data["rows"] == ROWS and manifest["drift_reference"]["rows"] == ROWS
    sample = data["sample"]
    assert (sample["rows"], sample["capacity"], sample["seed"]) == (SAMPLE, SAMPLE, 42)
    assert sum(sample["segment_sizes"]) == SAMPLE and manifest["parity"]["rows"] == SAMPLE
    assert manifest["training"]["read_seconds"] > 0  # the first read, before build_bundle
    assert sample["from_sample"] == list(FROM_SAMPLE)
    assert sample["from_every_row"] == list(FROM_EVERY_ROW)
    sizes = [s["size"] for s in manifest["segments"]]
    assert sum(sizes) == ROWS
    assert sum(s["share"] for s in manifest["segments"]) == pytest.approx(1.0, abs=1e-5)
    shares = [s["share"] for s in manifest["drift_reference"]["segment_shares"]]
    assert shares == [size / ROWS for size in sizes]


def test_segment_sizes_are_every_rows_segment_under_the_exported_graph(
    reference: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, manifest = reference
    frame = validate_file(path).frame
    assert frame is not None
    graph = path.parent / "bundle" / "segmenter.onnx"
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    raw = frame[list(FEATURE_NAMES)].to_numpy(np.float32)
    (labels,) = session.run(["label"], {"features": raw})
    expected = np.bincount(labels, minlength=manifest["k"]).tolist()
    assert [s["size"] for s in manifest["segments"]] == expected
    minimum = frame[list(FEATURE_NAMES)].min().tolist()
    assert [f["train_min"] for f in manifest["features"]] == minimum


def as_parquet(csv: Path) -> Path:
    """The same customers as Parquet: numbers as float64 (null = missing), ids as text."""
    frame = validate_file(csv).frame
    assert frame is not None
    path = csv.with_suffix(".parquet")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=700)
    return path


def as_gzip(csv: Path) -> Path:
    path = csv.with_suffix(".csv.gz")
    path.write_bytes(gzip.compress(csv.read_bytes()))
    return path


@pytest.mark.parametrize("source", ["gzip", "parquet", "s3-csv", "s3-parquet"])
def test_every_source_and_format_gives_the_same_bundle_figures(
    reference: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    source: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, expected = reference
    csv = tmp_path / path.name
    csv.write_bytes(path.read_bytes())
    if source == "gzip":  # with progress on stderr, for both reads
        manifest = train(str(as_gzip(csv)), tmp_path / "bundle", progress=True)
        err = capsys.readouterr().err
        assert "read: validate + sample" in err and "whole base: scoring" in err
        assert f"{ROWS:,} rows" in err and "rows/s" in err
    elif source == "parquet":
        manifest = train(str(as_parquet(csv)), tmp_path / "bundle")
    else:
        stored = as_parquet(csv) if source == "s3-parquet" else csv
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            s3.upload_file(str(stored), BUCKET, f"exports/{stored.name}")
            manifest = train(f"s3://{BUCKET}/exports/{stored.name}", tmp_path / "bundle", s3)
        assert manifest["data"]["file"] == stored.name
    assert figures(manifest) == figures(expected)


BAD = {2: ("BALANCE", "abc"), 1501: ("PAYMENTS", "-5"), ROWS + 1: ("TENURE", "1.5")}


def test_bad_rows_at_the_first_a_middle_and_the_last_line_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = small_csv(tmp_path, BAD)
    out = tmp_path / "bundle"
    argv = ["train", "--data", str(path), "--out", str(out), "--sample-rows", str(SAMPLE)]
    assert main([*argv, "--no-progress", "--no-reference"]) == EXIT_INVALID
    report = capsys.readouterr().out
    assert "BALANCE: must be a number: 1 row, line 2 ('abc')" in report
    assert "PAYMENTS: must not be negative: 1 row, line 1501 (-5)" in report
    assert "TENURE: must be a whole number: 1 row, line 3001 (1.5)" in report
    assert not out.exists() or not (out / "manifest.json").exists()


def test_small_blocks_give_the_same_report(tmp_path: Path) -> None:
    """Read in blocks of 4 KB (dozens of chunks, both roads): the same verdicts."""
    path = small_csv(tmp_path, BAD)
    whole = validate_file(path).report
    reader = CsvChunks(lambda: path.open("rb"), block_bytes=4096)
    chunked = scan(reader, sample=SAMPLE).report
    assert chunked == whole
    assert [(e.line, e.field) for e in chunked.row_errors] == [
        (2, "BALANCE"),
        (1501, "PAYMENTS"),
        (3001, "TENURE"),
    ]


def test_duplicate_ids_across_chunks_are_found_and_quoted(tmp_path: Path) -> None:
    path = small_csv(tmp_path, {1500: ("CUST_ID", "C10001"), ROWS + 1: ("CUST_ID", "C10001")})
    reader = CsvChunks(lambda: path.open("rb"), block_bytes=4096)
    issue = next(i for i in scan(reader, sample=SAMPLE).report.errors if i.column == "CUST_ID")
    assert (
        issue.describe() == "CUST_ID: duplicate customer id: 3 rows, lines 2, 1500, 3001 ('C10001')"
    )


def test_a_hash_shared_by_different_ids_is_not_a_duplicate(tmp_path: Path) -> None:
    """Suspect hashes are checked against the ids themselves (here: a unique id's hash)."""
    path = small_csv(tmp_path)
    reader = CsvChunks(lambda: path.open("rb"), block_bytes=4096)
    suspects = hash_ids(np.array(["C10005"], dtype=object))
    assert confirm(reader, 0, 18, suspects) == (0, (), ())


class Interrupted:
    """A reader that is interrupted (Ctrl-C) in the middle of its second read."""

    def __init__(self, reader: ChunkReader) -> None:
        self._reader = reader
        self._reads = 0
        self.header = reader.header
        self.total_bytes = reader.total_bytes

    def sha256(self) -> str:
        return self._reader.sha256()

    def chunks(self, positions: Sequence[int]) -> Iterator[RawChunk]:
        self._reads += 1
        for number, chunk in enumerate(self._reader.chunks(positions)):
            if self._reads == 2 and number == 1:
                raise KeyboardInterrupt
            yield chunk


def test_an_interrupted_whole_base_read_leaves_no_manifest(tmp_path: Path) -> None:
    path = small_csv(tmp_path)
    reader = Interrupted(CsvChunks(lambda: path.open("rb"), block_bytes=4096))
    scanned = scan(reader, sample=SAMPLE, seed=42)
    out = tmp_path / "bundle"
    with pytest.raises(KeyboardInterrupt):
        build_bundle(
            scanned.frame(),
            out,
            k=3,
            k_range=(2, 4),
            progress=False,
            stability_resamples=1,
            stability_sample_size=200,
            base=Base(reader, scanned.population, SAMPLE),
        )
    assert not (out / "manifest.json").exists()


def test_a_missing_s3_object_is_invalid_data(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        argv = ["train", "--data", f"s3://{BUCKET}/nope.csv", "--out", "/nonexistent/b"]
        assert main([*argv, "--no-progress", "--no-reference"], s3_client=s3) == EXIT_INVALID
    assert f"no such S3 object: s3://{BUCKET}/nope.csv" in capsys.readouterr().out


def test_a_file_changed_between_the_reads_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n")
    local = LocalFile(path)
    path.write_bytes(b"a,b\n1,2\n3,4\n")
    with pytest.raises(DataFileError, match="changed while training"):
        local.open()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="data.csv", Body=b"a,b\n1,2\n")
        stored = S3Object(f"s3://{BUCKET}/data.csv", s3)
        s3.put_object(Bucket=BUCKET, Key="data.csv", Body=b"a,b\n1,2\n3,4\n")
        with pytest.raises(DataFileError, match="changed while training"):
            stored.open().read()


def test_older_manifests_without_a_sample_still_read(
    reference: tuple[Path, dict[str, Any]],
) -> None:
    _, manifest = reference
    typed = Manifest.from_json(manifest)
    assert typed.data.sample is not None and typed.data.sample.rows == SAMPLE
    older = copy.deepcopy(manifest)
    del older["data"]["sample"]
    assert Manifest.from_json(older).data == DataSource(
        typed.data.file, typed.data.sha256, ROWS, None
    )
    assert "sample" not in Manifest.from_json(older).to_json()["data"]
