"""Degraded-mode benchmark: request latency on the local stack while the moto server hangs.

Run:  .venv/bin/python benchmarks/bench_degraded.py [--bundle DIR] [--before REV]
                                                     [--paused-requests N]

For each variant, side by side in this run -- "before" (the functions/ of git revision
``--before``, exported with ``git archive``; default: main just before issue 12) and "after"
(this checkout's functions/) -- on a fresh local stack (moto server + ``chalice local``,
the ``local`` stage: refresh every 5 s, every other setting at its default):

1. healthy: p50 of a cache miss and of a cache hit (``POST /v1/segment``, distinct rows);
2. moto paused with SIGSTOP (S3 and DynamoDB hang), then a wait past the refresh
   interval, then ``--paused-requests`` requests one after another: status, ``cache``
   field, p50 / p99 / max latency, and ``/v1/health`` latency;
3. SIGCONT, then a request every 50 ms until one answers ``cache`` other than ``bypass``:
   the time to recover.

Latencies are wall-clock times of HTTP requests on loopback, client included. Results go to
docs/benchmarks.md ("Degraded modes"); this script only prints them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

from bench_serving import machine, real_rows, train_bundle  # noqa: E402

from tests.servers import (  # noqa: E402
    FUNCTIONS_DIR,
    local_stage_env,
    moto_server,
    start_chalice_local,
)
from training.registry import ModelRegistry  # noqa: E402

# main just before the first commit of issue 12 (the circuit breaker).
DEFAULT_BEFORE = "9ffafba"
HEALTHY_REQUESTS = 40
REFRESH_SECONDS = 5.0  # the local stage's MODEL_REFRESH_SECONDS
RECOVERY_LIMIT_SECONDS = 180.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed_post(api: str, row: dict[str, Any]) -> tuple[float, int, str]:
    started = time.perf_counter()
    response = requests.post(f"{api}/v1/segment", json=row, timeout=120)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, response.status_code, response.json().get("cache", "?")


def timed_health(api: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    response = requests.get(f"{api}/v1/health", timeout=120)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, response.status_code, response.json().get("cache", "?")


def run_variant(
    name: str, functions_dir: Path, bundle: Path, rows: list[dict[str, Any]], paused_n: int
) -> dict[str, Any]:
    stage = local_stage_env()
    fresh = iter(rows)
    with moto_server() as moto:
        s3 = boto3.client("s3", endpoint_url=moto.url)
        s3.create_bucket(Bucket=stage["MODEL_BUCKET"])
        boto3.client("dynamodb", endpoint_url=moto.url).create_table(
            TableName=stage["CACHE_TABLE"],
            AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ModelRegistry(stage["MODEL_BUCKET"], s3_client=s3).publish(bundle)
        with start_chalice_local(moto.url, functions_dir=functions_dir) as api:
            timed_post(api, next(fresh))  # the cold load
            healthy_rows = [next(fresh) for _ in range(HEALTHY_REQUESTS)]
            misses = [timed_post(api, row) for row in healthy_rows]
            hits = [timed_post(api, row) for row in healthy_rows]
            assert {m[2] for m in misses} == {"miss"} and {h[2] for h in hits} == {"hit"}
            with moto.paused():
                time.sleep(REFRESH_SECONDS + 1)
                paused = [timed_post(api, next(fresh)) for _ in range(paused_n)]
                health = [timed_health(api) for _ in range(5)]
            resumed = time.perf_counter()
            recovery = None
            while time.perf_counter() - resumed < RECOVERY_LIMIT_SECONDS:
                _, status, cache = timed_post(api, next(fresh))
                if status == 200 and cache != "bypass":
                    recovery = time.perf_counter() - resumed
                    break
                time.sleep(0.05)
    paused_ms = [p[0] for p in paused]
    return {
        "name": name,
        "miss_p50": statistics.median(m[0] for m in misses),
        "hit_p50": statistics.median(h[0] for h in hits),
        "paused_p50": statistics.median(paused_ms),
        "paused_p99": pct(paused_ms, 99),
        "paused_max": max(paused_ms),
        "paused_outcomes": sorted({(p[1], p[2]) for p in paused}),
        "health_max": max(h[0] for h in health),
        "health_cache": sorted({h[2] for h in health}),
        "recovery_s": recovery,
    }


def export_functions(rev: str, target: Path) -> Path:
    """``functions/`` as it was at ``rev`` (git archive: no checkout, no worktree)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "functions"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "functions"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, help="bundle directory (default: train one)")
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="git revision of 'before'")
    parser.add_argument("--paused-requests", type=int, default=15)
    args = parser.parse_args()
    rows = real_rows()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle or train_bundle(Path(tmp))
        before_dir = export_functions(args.before, Path(tmp))
        print(f"machine: {machine()}")
        print(f"load at start: {uptime()}")
        results = [
            run_variant(f"before ({args.before})", before_dir, bundle, rows, args.paused_requests),
            run_variant("after (this checkout)", FUNCTIONS_DIR, bundle, rows, args.paused_requests),
        ]
        print(f"load at end: {uptime()}")
    print(
        f"\nPOST /v1/segment on the local stack, moto paused past the refresh interval "
        f"({args.paused_requests} requests in a row), ms"
    )
    header = (
        "variant",
        "miss p50",
        "hit p50",
        "paused p50",
        "paused p99",
        "paused max",
        "health max",
        "recover s",
    )
    print(" | ".join(header))
    for r in results:
        recover = "n/a" if r["recovery_s"] is None else f"{r['recovery_s']:.1f}"
        print(
            f"{r['name']} | {r['miss_p50']:.1f} | {r['hit_p50']:.1f} | {r['paused_p50']:.1f} | "
            f"{r['paused_p99']:.1f} | {r['paused_max']:.1f} | {r['health_max']:.1f} | {recover}"
        )
    for r in results:
        ratio = r["paused_p50"] / r["miss_p50"]
        print(
            f"{r['name']}: paused p50 / healthy miss p50 = {ratio:.2f}x; paused answers "
            f"{r['paused_outcomes']}; health cache {r['health_cache']}"
        )


if __name__ == "__main__":
    main()
