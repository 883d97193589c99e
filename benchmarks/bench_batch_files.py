"""Throughput of the S3 batch function against its floor, measured in the same run.

A real bundle is published to moto; a CSV of N customers resampled from the real data is
scored by ``chalicelib.batch.files.score_file`` (S3 read, CSV parsing, validation, scoring in
chunks of 1,000, results and error files, drift counts and report, S3 writes). The floor,
on the same bytes in the same process, rounds alternating, is ``batch_floor.Floor``: read
the CSV, run the segmenter and limit graphs once over all rows, write one line per row.
Wall and CPU time are both printed (the machine is shared: CPU time moves less with load).

Usage: ``.venv/bin/python benchmarks/bench_batch_files.py --bundle DIR [--rows 10000]
[--rounds 5] [--code CHECKOUT]`` (DIR from ``python -m training train --data
data/CC_GENERAL.csv --out DIR``; ``--code``: score with another checkout's ``functions/``,
e.g. a worktree of main, for a before/after against the same floor).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
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

MODELS, BATCH = "bench-models", "bench-batch"
LAMBDA_SECONDS = 900


def resampled_csv(rows: int, seed: int = 3) -> bytes:
    with (ROOT / "data" / "CC_GENERAL.csv").open(newline="") as handle:
        header, *data = list(csv.reader(handle))
    rng = random.Random(seed)
    picked = [data[rng.randrange(len(data))] for _ in range(rows)]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([f"{row[0]}-{n}", *row[1:]] for n, row in enumerate(picked))
    return buffer.getvalue().encode()


def timed(work: Callable[[], Any]) -> tuple[tuple[float, float], Any]:
    """Wall and CPU seconds of one call, and what it returned."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return (time.perf_counter() - wall, time.process_time() - cpu), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose functions/ runs")
    args = parser.parse_args()
    sys.path[:0] = [str(args.code.resolve() / "functions"), str(ROOT), str(ROOT / "benchmarks")]
    import boto3
    from batch_floor import Floor
    from chalicelib.batch import files as batch_files
    from chalicelib.scoring.loader import BundleReader, ModelLoader
    from chalicelib.scoring.model import ScoringModel
    from chalicelib.scoring.service import ScoringService
    from moto import mock_aws

    from training.registry import ModelRegistry

    content = resampled_csv(args.rows)
    floor = Floor(args.bundle)
    samples: dict[str, list[tuple[float, float]]] = {"floor": [], "file": []}
    with mock_aws(), redirect_stdout(io.StringIO()):  # Powertools' EMF lines stay out
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=MODELS)
        s3.create_bucket(Bucket=BATCH)
        ModelRegistry(MODELS, "models/", s3_client=s3).publish(args.bundle)
        store = ModelLoader(BundleReader(MODELS, "models/", s3_client=s3), ScoringModel)
        service = ScoringService(store.get, None)
        store.get()  # load the model before timing anything
        for round_ in range(args.rounds + 1):  # round 0 warms up, untimed
            key = f"{batch_files.INPUT_PREFIX}bench-{round_}.csv"  # no earlier run: no migration
            s3.put_object(Bucket=BATCH, Key=key, Body=content)
            floor_time, _ = timed(lambda: floor.score_bytes(content))
            file_time, summary = timed(partial(batch_files.score_file, BATCH, key, service, s3))
            assert summary.status == "complete" and summary.scored == args.rows, summary
            if round_:
                samples["floor"].append(floor_time)
                samples["file"].append(file_time)
    report(args, samples, len(content))
    return 0


def report(
    args: argparse.Namespace, samples: dict[str, list[tuple[float, float]]], size: int
) -> None:
    print(f"{args.rows:,} customers ({size / 1e6:.1f} MB CSV), code {args.code}, "
          f"median of {args.rounds} rounds, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    medians = {}
    for label, key in (
        ("floor: read, both graphs, write", "floor"),
        ("batch file: S3 CSV -> results", "file"),
    ):
        wall = statistics.median(s[0] for s in samples[key])
        cpu = statistics.median(s[1] for s in samples[key])
        medians[key] = (wall, cpu)
        print(f"  {label:32s} wall {wall:6.3f} s ({args.rows / wall:8,.0f} rows/s)  "
              f"cpu {cpu:6.3f} s ({1e6 * cpu / args.rows:5.1f} us/row)")  # fmt: skip
    paired = [f[0] / b[0] for f, b in zip(samples["file"], samples["floor"], strict=True)]
    print(f"  batch file / floor: wall {medians['file'][0] / medians['floor'][0]:.2f}x "
          f"(per-round median {statistics.median(paired):.2f}x), "
          f"cpu {medians['file'][1] / medians['floor'][1]:.2f}x")  # fmt: skip
    per_invocation = args.rows / medians["file"][0] * LAMBDA_SECONDS
    print(f"  one 15-minute invocation at this rate: about {per_invocation / 1e6:.1f} M rows")


if __name__ == "__main__":
    sys.exit(main())
