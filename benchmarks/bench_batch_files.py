"""Throughput of the S3 batch function, and what one 15-minute invocation can score.

A real bundle is published to moto; a CSV of N customers resampled from the real data is
scored by ``chalicelib.batch.files.score_file`` (CSV parsing, validation, scoring in chunks
of 1,000, result files). The baseline, measured in the same run on the same rows, is the
scoring service alone (``ScoringService.score_batch`` on ready-made dicts, 1,000 at a time,
no CSV, no S3): the difference is what files and S3 cost.

Usage: ``.venv/bin/python benchmarks/bench_batch_files.py --bundle DIR [--rows 50000]``
(build DIR with ``python -m training train --data data/CC_GENERAL.csv --out DIR``).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))
for name, value in {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}.items():
    os.environ[name] = value
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib.batch import files as batch_files  # noqa: E402  # isort: skip
from chalicelib.scoring.loader import BundleReader, ModelLoader  # noqa: E402  # isort: skip
from chalicelib.scoring.model import ScoringModel  # noqa: E402  # isort: skip
from chalicelib.scoring.service import ScoringService  # noqa: E402  # isort: skip
from training.registry import ModelRegistry as ModelRegistry  # noqa: E402

MODELS, BATCH = "bench-models", "bench-batch"
LAMBDA_SECONDS = 900


def resampled_csv(rows: int, seed: int = 3) -> tuple[bytes, list[dict[str, Any]]]:
    with (ROOT / "data" / "CC_GENERAL.csv").open(newline="") as handle:
        header, *data = list(csv.reader(handle))
    rng = random.Random(seed)
    picked = [data[rng.randrange(len(data))] for _ in range(rows)]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(picked)
    dicts = [
        {k: (v if k == "CUST_ID" else float(v)) for k, v in zip(header, row, strict=True) if v}
        for row in picked
    ]
    return buffer.getvalue().encode(), dicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    content, dicts = resampled_csv(args.rows)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=MODELS)
        s3.create_bucket(Bucket=BATCH)
        ModelRegistry(MODELS, "models/", s3_client=s3).publish(args.bundle)
        store = ModelLoader(BundleReader(MODELS, "models/", s3_client=s3), ScoringModel)
        service = ScoringService(store.get, None)
        store.get()  # load the model before timing anything

        # Powertools prints its metrics (EMF) to stdout every 100 values: keep them out.
        with redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            for start in range(0, len(dicts), batch_files.CHUNK_ROWS):
                service.score_batch(dicts[start : start + batch_files.CHUNK_ROWS])
            service_seconds = time.perf_counter() - started

            key = f"{batch_files.INPUT_PREFIX}bench.csv"
            s3.put_object(Bucket=BATCH, Key=key, Body=content)
            started = time.perf_counter()
            summary = batch_files.score_file(BATCH, key, service, s3_client=s3)
            file_seconds = time.perf_counter() - started
    assert summary.status == "complete" and summary.scored == args.rows, summary

    print(
        f"{args.rows:,} customers ({len(content) / 1e6:.1f} MB CSV), model {summary.model_version}"
    )
    for label, seconds in (
        ("scoring service only (baseline)", service_seconds),
        ("batch file: S3 CSV -> results", file_seconds),
    ):
        rate = args.rows / seconds
        print(f"  {label:33s} {seconds:7.2f} s  {rate:9,.0f} rows/s")
    overhead = file_seconds / service_seconds - 1
    print(f"  files and S3 add {overhead:.0%} to the scoring time")
    per_invocation = args.rows / file_seconds * LAMBDA_SECONDS
    print(f"  one 15-minute invocation at this rate: about {per_invocation / 1e6:.1f} M rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
