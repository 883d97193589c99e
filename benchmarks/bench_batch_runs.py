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
[--rounds 3] [--code CHECKOUT]`` (DIR from ``python -m training train --data
data/CC_GENERAL.csv --out DIR``; ``--code``: run another checkout's ``functions/``, e.g. a
worktree of main, for a before/after). Wall and CPU time are both printed.
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
if __name__ == "__main__" and "--code" in sys.argv:  # before chalicelib is imported below
    sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--code") + 1]).resolve() / "functions"))
sys.path.insert(1 if "--code" in sys.argv else 0, str(ROOT / "functions"))
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


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(started: tuple[float, float]) -> tuple[float, float]:
    """Wall and CPU seconds since ``started`` (a :func:`clock` reading)."""
    return time.perf_counter() - started[0], time.process_time() - started[1]


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


class TimedS3:
    """An S3 client that adds up the wall and CPU time of its calls: what the writes to
    moto cost, apart from the work of a path (in AWS they wait on the network instead)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.spent = [0.0, 0.0]

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.client, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return call(*args, **kwargs)
            finally:
                wall, cpu = since(started)
                self.spent[0] += wall
                self.spent[1] += cpu

        return timed

    def take(self) -> tuple[float, float]:
        """The time spent since the last take."""
        spent, self.spent = (self.spent[0], self.spent[1]), [0.0, 0.0]
        return spent


Timings = dict[str, list[tuple[float, float]]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose functions/ runs")
    args = parser.parse_args()
    batcher = state_machine.definition()["States"]["Score"]["ItemBatcher"]
    size = batcher["MaxItemsPerBatch"]
    header, rows = resampled(args.rows)
    content = csv_bytes(header, rows)
    work = batches(header, rows, size)
    payloads = [len(json.dumps({"BatchInput": {}, "Items": b})) for b in work]
    times: Timings = {name: [] for name in ("whole", "whole S3", "worker", "worker S3", "join")}
    with mock_aws(), redirect_stdout(io.StringIO()):  # Powertools' EMF lines stay out
        client = boto3.client("s3")
        client.create_bucket(Bucket=MODELS)
        client.create_bucket(Bucket=BATCH)
        ModelRegistry(MODELS, "models/", s3_client=client).publish(args.bundle)
        store = ModelLoader(BundleReader(MODELS, "models/", s3_client=client), ScoringModel)
        service = ScoringService(store.get, None)
        store.get()  # load the model before timing anything
        s3 = TimedS3(client)
        for round_ in range(args.rounds + 1):  # round 0 warms up, untimed
            key = f"{batch_files.INPUT_PREFIX}bench-{round_}.csv"  # no earlier run: no migration
            client.put_object(Bucket=BATCH, Key=key, Body=content)
            one_round(round_ > 0, service, s3, key, work, times)
    report(args, times, len(content), len(work), size, max(payloads))
    return 0


def one_round(
    timed: bool, service: Any, s3: TimedS3, key: str, work: list[Any], times: Timings
) -> None:
    """One invocation over the file, then the workers over its batches, then the joins."""
    s3.take()
    started = clock()
    summary = batch_files.score_file(BATCH, key, service, s3_client=s3)
    whole, whole_s3 = since(started), s3.take()
    assert summary.status == "complete", summary

    prepared = batch_runs.prepare(BATCH, key, f"run-{key}", service, s3=s3)
    run = batch_runs.Run.from_dict(prepared["run"])
    s3.take()
    started = clock()
    for batch in work:
        event = {"BatchInput": {"run": prepared["run"]}, "Items": batch}
        batch_runs.score_batch(event, lambda _version: service, s3=s3)
    worker, worker_s3 = since(started), s3.take()

    started = clock()
    plan = batch_runs.plan(run, None, s3=s3)
    for segment in plan["segments"]:
        batch_runs.combine(run, segment, s3=s3)
    finished = batch_runs.finish(run, prepared["warnings"], lambda _v: service, s3=s3)
    join = since(started)
    assert finished["status"] == "complete", finished
    if timed:
        for name, value in (("whole", whole), ("whole S3", whole_s3), ("worker", worker),
                            ("worker S3", worker_s3), ("join", join)):  # fmt: skip
            times[name].append(value)


def report(
    args: argparse.Namespace, times: Timings, size: int, batches: int, per_batch: int, payload: int
) -> None:
    median = {
        name: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
        for name, values in times.items()
    }
    print(
        f"{args.rows:,} customers ({size / 1e6:.1f} MB CSV), {batches} batches of {per_batch} "
        f"rows (payload {payload / 1024:.0f} KiB at most), median of {args.rounds}, code "
        f"{args.code}, load {os.getloadavg()[0]:.1f}"
    )
    for label, name in (("one invocation: S3 CSV -> results (baseline)", "whole"),
                        ("workers, one after another (one vCPU)", "worker")):  # fmt: skip
        (wall, cpu), (s3_wall, s3_cpu) = median[name], median[f"{name} S3"]
        print(f"  {label}")
        print(f"    all            wall {wall:6.2f} s {args.rows / wall:8,.0f} rows/s   "
              f"cpu {cpu:6.2f} s {args.rows / cpu:8,.0f} rows/s")  # fmt: skip
        print(f"    S3 calls alone wall {s3_wall:6.2f} s, cpu {s3_cpu:6.2f} s (moto in process)")
        print(f"    without them   wall {wall - s3_wall:6.2f} s "
              f"{args.rows / (wall - s3_wall):8,.0f} rows/s   cpu {cpu - s3_cpu:6.2f} s "
              f"{args.rows / (cpu - s3_cpu):8,.0f} rows/s")  # fmt: skip
    worker, whole = median["worker"], median["whole"]
    worker_s3, whole_s3 = median["worker S3"], median["whole S3"]
    ms = [1000 * value / batches for value in (worker[0], worker[1], worker_s3[1])]
    print(f"  per batch of {per_batch}: {ms[0]:.1f} ms wall, {ms[1]:.1f} ms cpu "
          f"(S3 calls {ms[2]:.1f} ms cpu)")  # fmt: skip
    print(f"  plan + combine + finish (joins, summary)   wall {median['join'][0]:6.2f} s")
    print(f"  workers / one invocation, rows/s: all {whole[0] / worker[0]:.2f}x wall, "
          f"{whole[1] / worker[1]:.2f}x cpu; without S3 calls "
          f"{(whole[1] - whole_s3[1]) / (worker[1] - worker_s3[1]):.2f}x cpu")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
