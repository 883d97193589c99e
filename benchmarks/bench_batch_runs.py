"""Rows per second of one Distributed Map worker, against the one-invocation path, same run.

A real bundle is published to moto; N customers resampled from the real data are cut into
the batches the deployed definition makes (MaxItemsPerBatch of template.yaml, ItemSelector
shape), and each batch goes through ``batch_runs.score_batch`` exactly as Lambda would run
it: rows from strings through the row contract, scoring, the results and error parts and
the marker written to S3 (moto). The baseline, on the same rows in the same run, is
``batch_files.score_file`` (one invocation reading the whole CSV from S3). Then plan,
combine and finish join the parts; their time is printed too. Rounds alternate the two
paths; the median is reported.

Usage: ``.venv/bin/python benchmarks/bench_batch_runs.py --bundle DIR [--rows 20000]
[--rounds 3]`` (DIR from ``python -m training train --data data/CC_GENERAL.csv --out DIR``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import statistics
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT))
for name, value in {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    # The finish step reads the pinned model's manifest (its drift reference) from the store.
    "MODEL_BUCKET": "bench-models",
    "MODEL_PREFIX": "models/",
    "CACHE_TABLE": "",
}.items():
    os.environ[name] = value
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib.batch import files as batch_files  # noqa: E402  # isort: skip
from chalicelib.batch import runs as batch_runs  # noqa: E402  # isort: skip
from chalicelib.scoring.loader import BundleReader, ModelLoader  # noqa: E402  # isort: skip
from chalicelib.scoring.model import ScoringModel  # noqa: E402  # isort: skip
from chalicelib.scoring.service import ScoringService  # noqa: E402  # isort: skip
from tests.infra import state_machine  # noqa: E402
from training.registry import ModelRegistry as ModelRegistry  # noqa: E402

MODELS, BATCH = "bench-models", "bench-batch"


def resampled(rows: int, seed: int = 3) -> tuple[list[str], list[list[str]]]:
    with (ROOT / "data" / "CC_GENERAL.csv").open(newline="") as handle:
        header, *data = list(csv.reader(handle))
    rng = random.Random(seed)
    return header, [[f"{r[0]}-{n}", *r[1:]] for n, r in enumerate(rng.choices(data, k=rows))]


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def batches(header: list[str], rows: list[list[str]], size: int) -> list[list[dict[str, Any]]]:
    """What ItemReader + ItemSelector + ItemBatcher hand the workers."""
    items = [{"index": i, "row": dict(zip(header, r, strict=True))} for i, r in enumerate(rows)]
    return [items[start : start + size] for start in range(0, len(items), size)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    batcher = state_machine.definition()["States"]["Score"]["ItemBatcher"]
    size = batcher["MaxItemsPerBatch"]
    header, rows = resampled(args.rows)
    content = csv_bytes(header, rows)
    work = batches(header, rows, size)
    payloads = [len(json.dumps({"BatchInput": {}, "Items": b})) for b in work]
    worker_s, whole_s, join_s = [], [], []
    with mock_aws(), redirect_stdout(io.StringIO()):  # Powertools' EMF lines stay out
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=MODELS)
        s3.create_bucket(Bucket=BATCH)
        ModelRegistry(MODELS, "models/", s3_client=s3).publish(args.bundle)
        store = ModelLoader(BundleReader(MODELS, "models/", s3_client=s3), ScoringModel)
        service = ScoringService(store.get, None)
        key = f"{batch_files.INPUT_PREFIX}bench.csv"
        s3.put_object(Bucket=BATCH, Key=key, Body=content)
        for round_ in range(args.rounds):
            started = time.perf_counter()
            summary = batch_files.score_file(BATCH, key, service, s3_client=s3)
            whole_s.append(time.perf_counter() - started)
            assert summary.status == "complete", summary

            prepared = batch_runs.prepare(BATCH, key, f"run-{round_}", service, s3=s3)
            run = batch_runs.Run.from_dict(prepared["run"])
            started = time.perf_counter()
            for batch in work:
                event = {"BatchInput": {"run": prepared["run"]}, "Items": batch}
                batch_runs.score_batch(event, lambda _version: service, s3=s3)
            worker_s.append(time.perf_counter() - started)

            started = time.perf_counter()
            plan = batch_runs.plan(run, None, s3=s3)
            for segment in plan["segments"]:
                batch_runs.combine(run, segment, s3=s3)
            finished = batch_runs.finish(run, prepared["warnings"], lambda _v: service, s3=s3)
            join_s.append(time.perf_counter() - started)
            assert finished["status"] == "complete", finished
            assert s3.list_objects_v2(Bucket=BATCH, Prefix="batch/reports/")["KeyCount"] == 1
    worker, whole, join = (statistics.median(x) for x in (worker_s, whole_s, join_s))
    print(
        f"{args.rows:,} customers ({len(content) / 1e6:.1f} MB CSV), {len(work)} batches of "
        f"{size} rows (payload {max(payloads) / 1024:.0f} KiB at most), median of {args.rounds}"
    )
    for label, seconds in (
        ("one invocation: S3 CSV -> results (baseline)", whole),
        ("workers, one after another (one vCPU)", worker),
    ):
        print(f"  {label:45s} {seconds:6.2f} s  {args.rows / seconds:8,.0f} rows/s")
    print(f"  per batch of {size}: {1000 * worker / len(work):.1f} ms (its S3 writes included)")
    print(f"  {'plan + combine + finish (joins, summary)':45s} {join:6.2f} s")
    print(f"  workers against one invocation: {whole / worker:.2f}x its rate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
