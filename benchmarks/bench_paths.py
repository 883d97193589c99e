"""Paths to a segment (issue 17): per-call latency, the route's, and the whole-data sweep.

Run:  .venv/bin/python benchmarks/bench_paths.py --bundle <bundle dir> [--requests 500]
                                                  [--sweep] [--seed 0]

Measured in this run, side by side:
- one path (``PathFinder.find``: a customer, one other segment, the default may_change)
  against scoring the same customer (``ScoringModel.score``, what /v1/segment does
  without cache and history): wall-clock and CPU-time p50/p99 over ``--requests``
  random real (customer, other segment) pairs, after a warm-up;
- the route ``POST /v1/segment/path`` against ``POST /v1/segment`` (no cache, no
  history: the model's work), each pair of requests alternating so both see the same
  load: in process (the route bodies, ``api.paths.path_body`` and
  ``ScoringService.score_one``) and through the real Lambda handler (an API Gateway proxy
  event into ``app.handler``: middleware, routing, JSON, logs);
- a 1,000-row CSV body with a ``TARGET_SEGMENT`` on every row against the same body without
  (the CSV route's code, in process);
- the cost of the feature in the Lambda package: no dependency (numpy only), the size of
  ``chalicelib/paths`` and the import time of ``chalicelib.paths`` in a fresh interpreter;
- with ``--sweep``: every real customer to every other segment (``find_many`` in chunks of
  2,000): share of pairs with a path, median number of variables changed, refusal reasons,
  and pairs per second.
Prints only; results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
DATA = ROOT / "data" / "CC_GENERAL.csv"
sys.path[:0] = [str(ROOT), str(FUNCTIONS), str(ROOT / "benchmarks")]

from bench_serving import machine  # noqa: E402  (sets the offline AWS environment too)

Row = tuple[float | None, ...]


def load(bundle_dir: Path) -> tuple[Any, Any]:
    """The scoring model of a bundle directory and its path finder."""
    from chalicelib.contract.bundle import MANIFEST_NAME, Manifest
    from chalicelib.paths import path_finder
    from chalicelib.scoring.loader import Bundle
    from chalicelib.scoring.model import ScoringModel

    manifest = Manifest.loads((bundle_dir / MANIFEST_NAME).read_bytes())
    files = {name: (bundle_dir / name).read_bytes() for name in manifest.scoring_files()}
    model = ScoringModel(Bundle(manifest.version, manifest, files))
    return model, path_finder(model)


def raw_rows() -> list[dict[str, Any]]:
    """The real customers as JSON bodies (what a client sends)."""
    with DATA.open(newline="") as handle:
        return [
            {k: v if k == "CUST_ID" else (None if v == "" else float(v)) for k, v in row.items()}
            for row in csv.DictReader(handle)
        ]


def customers(model: Any) -> list[Row]:
    return [model.validator.validate(row).values for row in raw_rows()]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def percentiles(name: str, values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"what": name, "n": len(values), "p50_ms": at(0.5), "p99_ms": at(0.99),
            "mean_ms": round(statistics.fmean(values), 3)}  # fmt: skip


def timed(work: Callable[[int], object], n: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of ``work(i)`` for i < n (after a warm-up)."""
    for i in range(min(20, n)):
        work(i)
    wall, cpu = [], []
    for i in range(n):
        w0, c0 = time.perf_counter(), time.process_time()
        work(i)
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu


def latency(model: Any, finder: Any, rows: list[Row], n: int, seed: int) -> list[dict[str, Any]]:
    from chalicelib.scoring.validator import ValidRecord

    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(rows), n, replace=False).tolist()
    labels = [landing.segment for landing in finder.check([rows[i] for i in chosen])]
    targets = [
        int(rng.choice([t for t in range(finder.space.k) if t != label])) for label in labels
    ]
    path_wall, path_cpu = timed(lambda i: finder.find(rows[chosen[i]], targets[i]), n)
    score_wall, score_cpu = timed(lambda i: model.score([ValidRecord(rows[chosen[i]])]), n)
    return [
        percentiles("path, wall", path_wall),
        percentiles("path, cpu", path_cpu),
        percentiles("score one customer, wall", score_wall),
        percentiles("score one customer, cpu", score_cpu),
    ]


def route_latency(
    model: Any, rows: list[dict[str, Any]], n: int, seed: int
) -> list[dict[str, Any]]:
    """p50/p99 of the path route and of /v1/segment on the same customers, alternating."""
    from bench_serving import LambdaContext, _FixedStore, api_event, interleaved, quiet_stdout
    from chalicelib import composition
    from chalicelib.api import paths as path_api
    from chalicelib.scoring.service import ScoringService

    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(rows), n, replace=False).tolist()
    customers = [rows[i] for i in chosen]
    own = [s.segment.id for s in model.score([model.validator.validate(c) for c in customers])]
    bodies = [
        {"customer": c, "target_segment": int(rng.choice([t for t in range(model.k) if t != o]))}
        for c, o in zip(customers, own, strict=True)
    ]
    service = ScoringService(lambda: model, None)
    finder_of = composition.get_path_finder
    composition.reset(model_loader=_FixedStore(model))

    def path_in_process(i: int) -> None:
        with contextlib.suppress(Exception):  # a 422 is an answer too
            path_api.path_body(model, finder_of, bodies[i])

    sys.modules.pop("app", None)
    import app as app_module  # the functions/ app

    entry = app_module.handler  # the API function's entry point (template.yaml)
    context = LambdaContext()
    path_events = [api_event("/v1/segment/path", body) for body in bodies]
    segment_events = [api_event("/v1/segment", body["customer"]) for body in bodies]
    results = []
    with quiet_stdout():
        path, segment = interleaved(path_in_process, lambda i: service.score_one(customers[i]), n)
        results += [
            summary("route in process: /v1/segment/path", path),
            summary("route in process: /v1/segment (no cache)", segment),
        ]
        path, segment = interleaved(
            lambda i: entry(path_events[i], context),
            lambda i: entry(segment_events[i], context),
            n,
        )
        statuses = Counter(entry(e, context)["statusCode"] for e in path_events[:100])
    results += [
        summary("Lambda handler: /v1/segment/path", path),
        summary("Lambda handler: /v1/segment (no cache)", segment),
        {"what": "path route statuses, first 100", **{str(k): v for k, v in statuses.items()}},
    ]
    return results


def summary(name: str, values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "what": name,
        "n": len(values),
        "p50_ms": round(float(np.percentile(ordered, 50)), 3),
        "p99_ms": round(float(np.percentile(ordered, 99)), 3),
    }


def batch_cost(model: Any, rounds: int = 3) -> dict[str, Any]:
    """A 1,000-row CSV body (the first real customers) scored by the CSV route's code, with
    a ``TARGET_SEGMENT`` column on every row (segment ``row % k``) and, as the baseline in
    the same run, without it; median wall seconds of ``rounds``, alternating."""
    from chalicelib.api import csv_body
    from chalicelib.scoring.service import ScoringService

    service = ScoringService(lambda: model, None)
    lines = DATA.read_text().splitlines()[:1001]
    plain = "\n".join(lines).encode()
    rows = [f"{line},{i % model.k}" for i, line in enumerate(lines[1:])]
    targeted = "\n".join([lines[0] + ",TARGET_SEGMENT", *rows]).encode()

    def seconds(body: bytes) -> float:
        start = time.perf_counter()
        csv_body.results_csv(csv_body.score_body(service, body, 2, typed=False).scored)
        return time.perf_counter() - start

    timed = [(seconds(plain), seconds(targeted)) for _ in range(rounds)]
    without = statistics.median(t[0] for t in timed)
    with_paths = statistics.median(t[1] for t in timed)
    return {
        "what": "1,000-row CSV body, every row with a TARGET_SEGMENT",
        "without_s": round(without, 3),
        "with_paths_s": round(with_paths, 3),
        "ms_per_row_for_paths": round((with_paths - without), 3),
    }


def package_cost() -> dict[str, Any]:
    """Bytes of chalicelib/paths and the import time of chalicelib.paths after scoring's
    imports (fresh process, bytecode written and reused as in the Lambda package; best of
    5): numpy and onnxruntime are already loaded by scoring."""
    package = FUNCTIONS / "chalicelib" / "paths"
    size = sum(p.stat().st_size for p in package.glob("*.py"))
    code = (
        f"import sys, time; sys.path.insert(0, {str(FUNCTIONS)!r}); "
        "import chalicelib.scoring.model; t = time.perf_counter(); import chalicelib.paths; "
        "print((time.perf_counter() - t) * 1000)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    runs = []
    for _ in range(5):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        runs.append(float(done.stdout))
    return {
        "what": "package",
        "paths_source_bytes": size,
        "dependencies_added": 0,
        "import_ms_after_scoring": round(min(runs), 2),
    }


def sweep(finder: Any, rows: list[Row]) -> dict[str, Any]:
    from chalicelib.paths import Path as FoundPath
    from chalicelib.paths import PathRequest

    labels = [landing.segment for landing in finder.check(rows)]
    requests = [
        PathRequest(row, t)
        for row, label in zip(rows, labels, strict=True)
        for t in range(finder.space.k)
        if t != label
    ]
    start = time.perf_counter()
    results = []
    for first in range(0, len(requests), 2000):
        results += finder.find_many(requests[first : first + 2000])
    seconds = time.perf_counter() - start
    paths = [r for r in results if isinstance(r, FoundPath)]
    reasons = Counter(r.reason.value for r in results if not isinstance(r, FoundPath))
    changed = [len(p.changes) for p in paths]
    return {
        "what": "sweep",
        "pairs": len(requests),
        "with_path": len(paths),
        "share_with_path": round(len(paths) / len(requests), 4),
        "median_variables_changed": statistics.median(changed),
        "variables_changed": dict(sorted(Counter(changed).items())),
        "refusals": dict(reasons),
        "seconds": round(seconds, 1),
        "pairs_per_second": round(len(requests) / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    model, finder = load(args.bundle)
    rows = customers(model)
    print(json.dumps({"machine": machine(), "uptime": uptime()}))
    for line in latency(model, finder, rows, args.requests, args.seed):
        print(json.dumps(line))
    for line in route_latency(model, raw_rows(), args.requests, args.seed):
        print(json.dumps(line))
    print(json.dumps(batch_cost(model)))
    print(json.dumps(package_cost()))
    if args.sweep:
        print(json.dumps(sweep(finder, rows)))


if __name__ == "__main__":
    main()
