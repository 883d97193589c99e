"""What customer history adds to a request: cache miss and hit, one customer and a batch.

Run:  .venv/bin/python benchmarks/bench_history.py [--bundle DIR] [--requests N]

In process, DynamoDB is moto's (``mock_aws``): the figures are our code plus botocore plus
moto's in-process handling, not a network round trip (a real DynamoDB call adds a few ms
on top, once per request for history: see docs/benchmarks.md). Two services score the
same real customers (with their ``CUST_ID``) side by side, call by call, so both see the
same machine load:

- A: DynamoDB result cache, no history (what the API did before history);
- B: the same, plus the DynamoDB history table (one PutItem returning the old item, one
  PutItem for the sighting).

First pass over the customers: every request is a cache miss and a first sighting.
Second pass: every request is a cache hit and a second sighting (history is still
recorded on a hit). Then a batch of 1,000 customers (no cache) without and with history
(BatchGetItem + BatchWriteItem). Results go to docs/benchmarks.md ("Customer history").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "functions"), str(ROOT / "benchmarks")]

from bench_serving import (  # noqa: E402
    load_bundle_model,
    machine,
    pct,
    quiet_stdout,
    real_rows,
    train_bundle,
)

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


def create_tables(client: Any, cache_tables: list[str], history_table: str) -> None:
    from chalicelib.stores import cache, history

    for name in cache_tables:
        client.create_table(TableName=name, **cache.TABLE_DEFINITION)
    client.create_table(TableName=history_table, **history.TABLE_DEFINITION)


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


def line(label: str, without: list[float], with_history: list[float]) -> str:
    p50_a, p50_b = pct(without, 50), pct(with_history, 50)
    return (
        f"  {label:<26} without {p50_a:7.3f} ms (p99 {pct(without, 99):7.3f})   "
        f"with {p50_b:7.3f} ms (p99 {pct(with_history, 99):7.3f})   "
        f"added p50 {p50_b - p50_a:+.3f} ms   (n={len(without)})"
    )


def run(bundle_dir: Path, n: int) -> list[str]:
    import boto3
    from chalicelib.scoring.service import ScoringService
    from chalicelib.stores.cache import DynamoDBCache
    from chalicelib.stores.dynamodb import Table
    from chalicelib.stores.history import DynamoDBHistory
    from moto import mock_aws

    model = load_bundle_model(bundle_dir)
    rows = [r for r in real_rows() if r.get("CUST_ID")]
    sample = rows[:n]
    warm = rows[n : n + 50]
    out: list[str] = []
    print = out.append
    with mock_aws():
        client = boto3.client("dynamodb")
        create_tables(client, ["cache-a", "cache-b"], "history")
        without = ScoringService(lambda: model, DynamoDBCache(Table("cache-a", client)))
        history = DynamoDBHistory(Table("history", client))
        with_history = ScoringService(
            lambda: model, DynamoDBCache(Table("cache-b", client)), history
        )
        for row in warm:
            without.score_one(row)
            with_history.score_one(row)
        print("\none customer per request (service.score_one), in process, moto DynamoDB")
        for label in ("cache miss, first sighting", "cache hit, second sighting"):
            a, b = paired(
                lambda i: without.score_one(sample[i]),
                lambda i: with_history.score_one(sample[i]),
                len(sample),
            )
            print(line(label, a, b))
        check = with_history.score_one(sample[0]).to_json()
        assert check["cache"] == "hit" and check["history"]["moved"] is False, check

        # Our code alone (sighting objects, answers): in-memory cache and history.
        from chalicelib.stores.cache import InMemoryCache
        from chalicelib.stores.history import InMemoryHistory

        bare = ScoringService(lambda: model, InMemoryCache(max_items=100_000))
        kept = ScoringService(lambda: model, InMemoryCache(max_items=100_000), InMemoryHistory())
        print("\nthe same, in-memory cache and history (our code only, no botocore or moto)")
        for label in ("cache miss, first sighting", "cache hit, second sighting"):
            a, b = paired(
                lambda i: bare.score_one(sample[i]),
                lambda i: kept.score_one(sample[i]),
                len(sample),
            )
            print(line(label, a, b))

        batch = rows[:1000]
        plain = ScoringService(lambda: model, None)
        recorded = ScoringService(lambda: model, None, history)
        times_a: list[float] = []
        times_b: list[float] = []
        for _ in range(5):
            a, b = paired(
                lambda _: plain.score_batch(batch), lambda _: recorded.score_batch(batch), 1
            )
            times_a += a
            times_b += b
        print("\nbatch of 1,000 customers (service.score_batch, no cache), median of 5")
        med_a, med_b = statistics.median(times_a), statistics.median(times_b)
        print(
            f"  without {med_a:.1f} ms   with history {med_b:.1f} ms   "
            f"added {med_b - med_a:+.1f} ms ({(med_b - med_a) / len(batch):.3f} ms per row)"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, help="bundle directory (default: train one)")
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = args.bundle or train_bundle(Path(tmp))
        print(f"bundle: {bundle_dir}")
        with quiet_stdout():  # warnings and metrics go to fd 1, as in Lambda
            lines = run(bundle_dir, args.requests)
        print("\n".join(lines))


if __name__ == "__main__":
    main()
