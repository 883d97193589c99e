"""What customer history costs: DynamoDB calls and time, for one customer and a batch.

Run:  .venv/bin/python benchmarks/bench_history.py [--bundle DIR] [--requests N]
                                                  [--before REV] [--batches N]

Variants side by side in this run, each in its own interpreter (in turn, then again in
the reverse order, so all see the same machine load): "before" (the functions/ of git
revision ``--before``, exported with ``git archive``; default ``main``) and "after" (this
checkout's functions/) with each ``HISTORY_WRITES``: ``transactions`` (the default) and
``batch``. Each child prints JSON; this script prints the figures of all. Per variant:

- **DynamoDB calls** of one ``score_batch`` of 1,000 real customers with their
  ``CUST_ID`` (no cache): first sightings, then seen again; and of one ``score_one``
  (cache miss; cache hit), counted on the botocore client (``before-call`` events).
- **Client time per 1,000-row batch**: median of ``--batches``, DynamoDB answered at the
  botocore client (a ``before-call`` handler: every request is built and serialised as
  for AWS, then answered "all taken" and, for reads, "all found" or "none found"). That
  is our code plus botocore; a real table adds its round trips (the calls above) on top.
- **One customer per request** (``score_one``), in process against moto (``mock_aws``),
  p50 (p99) without history (DynamoDB cache only) and with it, paired call by call.
- **moto's TransactWriteItems**: one call of 100 puts on a table of 0 and of 2,000
  items. moto copies the whole table on every transaction, which is why the local stack
  records with ``HISTORY_WRITES=batch``.

Results go to docs/benchmarks.md ("Customer history").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
BATCH = 1000


def paired(
    first: Callable[[int], object], second: Callable[[int], object], n: int
) -> tuple[list[float], list[float]]:
    """``first(i)`` then ``second(i)`` for each i, timed separately (ms)."""
    a: list[float] = []
    b: list[float] = []
    for i in range(n):
        for work, out in ((first, a), (second, b)):
            start = time.perf_counter()
            work(i)
            out.append((time.perf_counter() - start) * 1000)
    return a, b


class Calls:
    """The DynamoDB operations a botocore client sends, by name."""

    def __init__(self, client: Any) -> None:
        self.sent: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        self.sent[event_name.rsplit(".", 1)[-1]] += 1

    def during(self, work: Callable[[], object]) -> dict[str, int]:
        self.sent.clear()
        work()
        return dict(self.sent)


def stores(client: Any, writes: str) -> tuple[Callable[[str], Any], Callable[[str], Any]]:
    """Makers of a DynamoDB cache and history by table name, for either variant's API."""
    from chalicelib.scoring.scored import scored_from_text, scored_to_text
    from chalicelib.stores.cache import DynamoDBCache
    from chalicelib.stores.history import DynamoDBHistory

    texts: dict[str, Any] = {"encode": scored_to_text, "decode": scored_from_text}
    try:
        from chalicelib.config import HistoryWrites
        from chalicelib.stores.dynamodb import Table
    except ImportError:  # before the one DynamoDB layer: adapters took a name and a client
        cache_of: Any = DynamoDBCache  # (typed as today's)
        history_of: Any = DynamoDBHistory
        return (lambda name: cache_of(name, client, **texts)), (
            lambda name: history_of(name, client=client)
        )
    mode = HistoryWrites(writes)
    return (lambda name: DynamoDBCache(Table(name, client), **texts)), (
        lambda name: DynamoDBHistory(Table(name, client), writes=mode)
    )


class Answered:
    """DynamoDB answered at the botocore client, after the request is built: every write
    taken, every read "all found" (``found``) or "none found"."""

    def __init__(self, client: Any) -> None:
        self.found = False
        client.meta.events.register("before-call.dynamodb", self._answer)

    def _answer(self, event_name: str, params: dict[str, Any], **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        operation = event_name.rsplit(".", 1)[-1]
        body = json.loads(params["body"])
        answer: dict[str, Any] = {}
        if operation == "BatchGetItem":
            ((table, request),) = body["RequestItems"].items()
            found = [{**key, **SIGHTING} for key in request["Keys"]] if self.found else []
            answer = {"Responses": {table: found}, "UnprocessedKeys": {}}
        elif operation == "BatchWriteItem":
            answer = {"UnprocessedItems": {}}
        elif operation == "PutItem" and body.get("ReturnValues") == "ALL_OLD" and self.found:
            answer = {"Attributes": body["Item"]}
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), answer


SIGHTING = {
    "scored_at": {"S": "2026-01-01T00:00:00.000000Z"},
    "model_version": {"S": "v0"},
    "segment": {"N": "1"},
    "segment_name": {"S": "a segment"},
    "expires_at": {"N": "9999999999"},
}


def batch_figures(model: Any, batch: list[dict[str, Any]], batches: int, writes: str) -> Any:
    """Calls and client time of 1,000-row batches, DynamoDB answered at the client."""
    import boto3
    from chalicelib.scoring.service import ScoringService

    client = boto3.client("dynamodb")
    calls = Calls(client)  # first: the answer stops the event at its handler
    answered = Answered(client)
    _, make_history = stores(client, writes)
    service = ScoringService(lambda: model, None, make_history("history"))
    plain = ScoringService(lambda: model, None)
    out: dict[str, Any] = {}
    for label, found in (("first", False), ("again", True)):
        answered.found = found
        out[f"batch_calls_{label}"] = calls.during(lambda: service.score_batch(batch))
    times: dict[str, list[float]] = {"without": [], "first": [], "again": []}
    for _ in range(batches):
        for label, work, found in (
            ("without", plain, False),
            ("first", service, False),
            ("again", service, True),
        ):
            answered.found = found
            start = time.perf_counter()
            work.score_batch(batch)
            times[label].append((time.perf_counter() - start) * 1000)
    out["batch_ms"] = {label: statistics.median(v) for label, v in times.items()}
    return out


def single_figures(model: Any, rows: list[dict[str, Any]], n: int, writes: str) -> Any:
    """Calls and p50 (p99) of one customer per request, against moto in process."""
    import boto3
    from bench_serving import pct
    from chalicelib.scoring.service import ScoringService
    from chalicelib.stores import cache, history

    sample, warm = rows[:n], rows[n : n + 50]
    client = boto3.client("dynamodb")
    calls = Calls(client)
    for name in ("cache-a", "cache-b"):
        client.create_table(TableName=name, **cache.TABLE_DEFINITION)
    client.create_table(TableName="history", **history.TABLE_DEFINITION)
    make_cache, make_history = stores(client, writes)
    without = ScoringService(lambda: model, make_cache("cache-a"))
    with_history = ScoringService(lambda: model, make_cache("cache-b"), make_history("history"))
    for row in warm:
        without.score_one(row)
        with_history.score_one(row)
    out: dict[str, Any] = {
        "single_calls_miss": calls.during(lambda: with_history.score_one(sample[0])),
        "single_calls_hit": calls.during(lambda: with_history.score_one(sample[0])),
    }
    for label in ("miss", "hit"):  # first pass: misses and first sightings; then hits
        a, b = paired(
            lambda i: without.score_one(sample[i + 1]),
            lambda i: with_history.score_one(sample[i + 1]),
            len(sample) - 1,
        )
        out[f"single_{label}"] = {
            "without_p50": pct(a, 50),
            "without_p99": pct(a, 99),
            "with_p50": pct(b, 50),
            "with_p99": pct(b, 99),
            "n": len(a),
        }
    return out


def moto_transaction_seconds() -> dict[str, float]:
    """One TransactWriteItems of 100 puts, on moto tables of 0 and 2,000 items."""
    import boto3
    from chalicelib.stores import history

    client: Any = boto3.client("dynamodb")
    client.create_table(TableName="probe", **history.TABLE_DEFINITION)
    seconds: dict[str, float] = {}
    for size in (0, 2000):
        have = client.scan(TableName="probe", Select="COUNT")["Count"]
        fill = [{"customer_id": {"S": f"f{i}"}, "sk": {"S": "x"}} for i in range(have, size)]
        for start in range(0, len(fill), 25):
            chunk = [{"PutRequest": {"Item": item}} for item in fill[start : start + 25]]
            client.batch_write_item(RequestItems={"probe": chunk})
        puts = [
            {
                "Put": {
                    "TableName": "probe",
                    "Item": {"customer_id": {"S": f"t{size}-{i}"}, "sk": {"S": "y"}},
                }
            }
            for i in range(100)
        ]
        started = time.perf_counter()
        client.transact_write_items(TransactItems=puts)
        seconds[str(size)] = time.perf_counter() - started
    return seconds


def measure(bundle_dir: Path, n: int, batches: int, writes: str) -> dict[str, Any]:
    """The child's work: every figure of one variant (its chalicelib first on sys.path)."""
    from bench_serving import load_bundle_model, real_rows
    from moto import mock_aws

    model = load_bundle_model(bundle_dir)
    rows = [r for r in real_rows() if r.get("CUST_ID")]
    with mock_aws():  # (the batch figures never reach moto: answered at the client)
        out = batch_figures(model, rows[:BATCH], batches, writes)
    with mock_aws():
        out |= single_figures(model, rows, n, writes)
    if writes == "transactions":
        with mock_aws():
            out["moto_transaction_s"] = moto_transaction_seconds()
    return out


def child(functions_dir: Path, bundle_dir: Path, n: int, batches: int, writes: str) -> None:
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    sys.path[:0] = [str(ROOT), str(BENCHMARKS)]
    from bench_serving import quiet_stdout  # puts this checkout's functions/ on the path...

    sys.path.insert(0, str(functions_dir))  # ...after which the variant's comes first
    import chalicelib

    assert Path(chalicelib.__file__).parent.parent == functions_dir, chalicelib.__file__
    with quiet_stdout():  # warnings and metrics go to fd 1, as in Lambda
        figures = measure(bundle_dir, n, batches, writes)
    print(json.dumps(figures))


def run_child(
    functions_dir: Path, writes: str, bundle_dir: Path, n: int, batches: int
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(functions_dir), "--bundle", str(bundle_dir)]
    command += ["--requests", str(n), "--batches", str(batches), "--writes", writes]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def calls_line(label: str, calls: dict[str, int]) -> str:
    parts = ", ".join(f"{count} {name}" for name, count in sorted(calls.items()))
    return f"    {label:<30} {sum(calls.values()):>3} calls ({parts})"


def report(name: str, runs: list[dict[str, Any]]) -> list[str]:
    """The figures of one variant: calls (the same every run) and the runs' times."""
    first = runs[0]
    lines = [f"{name}:", "  DynamoDB calls"]
    lines.append(calls_line("batch of 1,000, first sightings", first["batch_calls_first"]))
    lines.append(calls_line("batch of 1,000, seen again", first["batch_calls_again"]))
    lines.append(calls_line("one customer, cache miss", first["single_calls_miss"]))
    lines.append(calls_line("one customer, cache hit", first["single_calls_hit"]))
    for run in runs:
        ms = run["batch_ms"]
        lines.append(
            f"  batch of 1,000, client time (median): without history {ms['without']:.0f} ms, "
            f"first sightings {ms['first']:.0f} ms (+{ms['first'] - ms['without']:.0f}), "
            f"seen again {ms['again']:.0f} ms (+{ms['again'] - ms['without']:.0f})"
        )
        for label in ("miss", "hit"):
            s = run[f"single_{label}"]
            lines.append(
                f"  one customer, cache {label} (moto): without {s['without_p50']:.2f} ms "
                f"(p99 {s['without_p99']:.2f}), with history {s['with_p50']:.2f} ms "
                f"(p99 {s['with_p99']:.2f}), added {s['with_p50'] - s['without_p50']:+.2f} ms "
                f"(n={s['n']})"
            )
        if "moto_transaction_s" in run:
            probe = run["moto_transaction_s"]
            lines.append(
                "  moto TransactWriteItems of 100 puts: "
                + ", ".join(
                    f"{sec:.3f} s on a table of {size} items" for size, sec in probe.items()
                )
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, help="bundle directory (default: train one)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--before", default="main", help="git revision of 'before'")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--writes", default="batch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.bundle, args.requests, args.batches, args.writes)
        return
    sys.path[:0] = [str(ROOT), str(ROOT / "functions"), str(BENCHMARKS)]
    from bench_degraded import export_functions, uptime
    from bench_serving import machine, train_bundle

    print(f"machine: {machine()}")
    print(f"uptime before: {uptime()}")
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = args.bundle or train_bundle(Path(tmp))
        before = export_functions(args.before, Path(tmp))
        variants = {  # name: (functions/, HISTORY_WRITES)
            f"before ({args.before})": (before, "batch"),
            "after, HISTORY_WRITES=transactions": (ROOT / "functions", "transactions"),
            "after, HISTORY_WRITES=batch": (ROOT / "functions", "batch"),
        }
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for order in (list(variants), list(variants)[::-1]):
            for name in order:
                functions, writes = variants[name]
                runs[name].append(
                    run_child(functions, writes, bundle_dir, args.requests, args.batches)
                )
    print(f"uptime after: {uptime()}")
    for name, figures in runs.items():
        print("\n".join(report(name, figures)))


if __name__ == "__main__":
    main()
