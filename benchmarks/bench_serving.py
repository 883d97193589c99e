"""Serving benchmark: warm latency (miss and hit), batch throughput, cold start.

Run:  .venv/bin/python benchmarks/bench_serving.py [--bundle DIR] [--requests N]

Everything is measured in this run on this machine, side by side:
- warm request latency, in process, through the real Lambda handler (an API Gateway
  proxy event into ``app.handler``, the API function's entry point) and at the service
  level, for a cache miss (no cache: the DynamoDB round trip is excluded) and a cache hit
  (in-memory cache);
- the same per-request model work done with scikit-learn (preprocessing pipeline, KMeans,
  three HistGradientBoosting quantile models), fitted here on the real data;
- batch throughput for 1,000 rows (``score_batch``).
Cold starts are measured by bench_cold_start.py, on the built Lambda package. Results go to
docs/benchmarks.md ("Serving"); this script only prints them.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
DATA = ROOT / "data" / "CC_GENERAL.csv"
sys.path[:0] = [str(ROOT), str(FUNCTIONS)]

from tests.servers import OFFLINE_AWS_ENV  # noqa: E402

os.environ.update(OFFLINE_AWS_ENV)
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "false")


def real_rows() -> list[dict[str, Any]]:
    with DATA.open(newline="") as handle:
        return [
            {k: v if k == "CUST_ID" else (None if v == "" else float(v)) for k, v in row.items()}
            for row in csv.DictReader(handle)
        ]


_quiet_depth = 0


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Logs and EMF metrics go to fd 1 as in Lambda (the cost is kept, the noise dropped)."""
    global _quiet_depth
    if _quiet_depth:
        yield
        return
    _quiet_depth += 1
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            _quiet_depth -= 1


def timings_ms(work: Callable[[int], object], n: int, warmup: int = 50) -> list[float]:
    for i in range(warmup):
        work(i)
    out = []
    for i in range(n):
        start = time.perf_counter()
        work(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def summary(name: str, values: list[float]) -> dict[str, Any]:
    return {"name": name, "p50_ms": pct(values, 50), "p99_ms": pct(values, 99), "n": len(values)}


def api_event(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A minimal API Gateway REST proxy event, as Lambda hands it to Chalice."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": "POST",
            "path": "/api" + path,
            "requestId": "bench",
            "stage": "api",
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


class LambdaContext:
    aws_request_id = "bench"
    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"


def load_bundle_model(bundle_dir: Path) -> Any:
    from chalicelib.contract.bundle import MANIFEST_NAME, Manifest
    from chalicelib.scoring.loader import Bundle
    from chalicelib.scoring.model import ScoringModel

    manifest = Manifest.loads((bundle_dir / MANIFEST_NAME).read_bytes())
    files = {name: (bundle_dir / name).read_bytes() for name in manifest.scoring_files()}
    return ScoringModel(Bundle(manifest.version, manifest, files))


def fit_sklearn_models(manifest: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The same per-request models with scikit-learn, fitted here on the real data: the
    training preprocessor, KMeans from the bundle's centroids, three quantile models."""
    from sklearn.cluster import KMeans
    from sklearn.ensemble import HistGradientBoostingRegressor

    from training.preprocess import make_preprocessor

    names = list(manifest.feature_names)
    limit_names = manifest.limit_model.features
    raw = np.array([[np.nan if r[n] is None else r[n] for n in names] for r in rows])
    preprocessor = make_preprocessor().fit(raw)
    centroids = np.array([s.centroid for s in manifest.segments])
    kmeans = KMeans(len(centroids), init=centroids, n_init=1, random_state=0)
    kmeans.fit(preprocessor.transform(raw))
    limit_columns = [names.index(n) for n in limit_names]
    target = raw[:, names.index(manifest.limit_model.target)]
    known = ~np.isnan(target)
    quantiles = [
        HistGradientBoostingRegressor(loss="quantile", quantile=q, random_state=42).fit(
            raw[known][:, limit_columns], target[known]
        )
        for q in manifest.limit_model.quantiles
    ]
    return {
        "features": names,
        "preprocessor": preprocessor,
        "kmeans": kmeans,
        "limit_columns": limit_columns,
        "quantiles": quantiles,
    }


def sklearn_score(models: dict[str, Any], x: np.ndarray) -> tuple[Any, ...]:
    """Labels, distances, scaled values and the three limit quantiles for rows ``x``."""
    scaled = models["preprocessor"].transform(x)
    distances = models["kmeans"].transform(scaled)
    labels = distances.argmin(axis=1)
    limits = [m.predict(x[:, models["limit_columns"]]) for m in models["quantiles"]]
    return labels, distances, scaled, limits


def as_matrix(record: Any) -> np.ndarray:
    """A validated record as float32 [1, 17], as the graphs take it (NaN for missing)."""
    return np.array([[np.nan if v is None else v for v in record.values]], dtype=np.float32)


def sklearn_pipeline(manifest: Any, rows: list[dict[str, Any]]) -> Callable[..., Any]:
    """The same per-request model work with scikit-learn, fitted here on the real data."""
    models = fit_sklearn_models(manifest, rows)
    return lambda x: sklearn_score(models, x)


def warm_latency(bundle_dir: Path, rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    from chalicelib import composition
    from chalicelib.scoring.service import ScoringService
    from chalicelib.stores.cache import InMemoryCache

    model = load_bundle_model(bundle_dir)
    results = []
    n = min(n, len(rows) - 50)
    sample = rows[:n]
    events = [api_event("/v1/segment", r) for r in sample]

    # A miss: a fresh in-memory cache and inputs it has never seen (key, lookup and store
    # are timed; the DynamoDB round trip is not). A hit: the same inputs asked again.
    # Warm-up uses other rows, so every timed miss is a first sighting.
    warmup = [api_event("/v1/segment", r) for r in rows[n : n + 50]]

    # Through the real Lambda handler (Chalice middleware, routing, JSON, logs, metrics).
    sys.modules.pop("app", None)
    import app as app_module  # the functions/ app

    context = LambdaContext()
    cache: InMemoryCache[Any] = InMemoryCache(ttl_seconds=3600, max_items=100_000)
    composition.reset(model_loader=_FixedStore(model), cache=cache)  # type: ignore[arg-type]
    entry = getattr(app_module, "handler", app_module.app)  # older checkouts: app.app
    for event in warmup:
        entry(event, context)
    for label in ("miss", "hit"):
        handler = timings_ms(lambda i: entry(events[i], context), n, warmup=0)
        results.append(summary(f"Lambda handler, cache {label}", handler))

    # Service level (no HTTP): validation + cache key and lookup + scoring + result body.
    service = ScoringService(lambda: model, InMemoryCache(ttl_seconds=3600, max_items=100_000))
    for row in rows[n : n + 50]:
        service.score_one(row)
    for label in ("miss", "hit"):
        timed = timings_ms(lambda i: service.score_one(sample[i]), n, warmup=0)
        results.append(summary(f"service.score_one, cache {label}", timed))

    # The model work alone: onnxruntime vs scikit-learn, one row per call.
    matrices = [as_matrix(model.validator.validate(r)) for r in sample]
    limit_cols = model._limit_columns
    segmenter = model._segmenter
    limit_session = model._limit_sessions[0]

    def onnx_work(i: int) -> None:
        x = matrices[i % len(matrices)]
        segmenter.run(["label", "distances", "scaled"], {"features": x})
        limit_session.run(
            ["p25", "p50", "p75"], {"features": np.ascontiguousarray(x[:, limit_cols])}
        )

    sk = sklearn_pipeline(model.manifest, rows)

    def sklearn_work(i: int) -> None:
        sk(matrices[i % len(matrices)].astype(np.float64))

    def sklearn_request(i: int) -> None:
        row = sample[i % len(sample)]
        sk(as_matrix(model.validator.validate(row)).astype(np.float64))

    # The machine is shared: A and B alternate call by call, so both see the same load.
    sk_n = max(200, n // 5)
    onnx_times, sk_times = interleaved(onnx_work, sklearn_work, sk_n)
    results.append(summary("model work only, onnxruntime", onnx_times))
    results.append(summary("model work only, scikit-learn", sk_times))
    for block, label in ((1, "paired"), (BLOCK, f"paired in blocks of {BLOCK}")):
        # A fresh cache each time, so every timed call is a miss.
        fresh = ScoringService(lambda: model, InMemoryCache(ttl_seconds=3600, max_items=100_000))
        miss_times, sk_request_times = interleaved(
            lambda i, service=fresh: service.score_one(sample[i]),  # type: ignore[misc]
            sklearn_request,
            sk_n,
            block,
        )
        results.append(summary(f"service.score_one, cache miss ({label})", miss_times))
        results.append(
            summary(f"validation + model work, scikit-learn ({label})", sk_request_times)
        )
    return results


def interleaved(
    first: Callable[[int], object], second: Callable[[int], object], n: int, block: int = 1
) -> tuple[list[float], list[float]]:
    """Time ``first(i)`` and ``second(i)`` alternately, ``block`` calls of each in turn.

    Both sides see the same machine load. With ``block=1`` each call also starts with
    caches the other side has just evicted, which costs the faster side most; blocks of a
    few dozen calls keep the load pairing (a block lasts milliseconds) without that.
    """
    for i in range(20):
        second(i)  # ``first`` may be a cache miss per new input: do not warm it on them
    a: list[float] = []
    b: list[float] = []
    for start in range(0, n, block):
        indices = range(start, min(start + block, n))
        for i in indices:
            began = time.perf_counter()
            first(i)
            a.append((time.perf_counter() - began) * 1000)
        for i in indices:
            began = time.perf_counter()
            second(i)
            b.append((time.perf_counter() - began) * 1000)
    return a, b


BLOCK = 25


class _FixedStore:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.version = model.version

    def get(self) -> Any:
        return self.model


def batch_throughput(bundle_dir: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from chalicelib.scoring.service import ScoringService

    model = load_bundle_model(bundle_dir)
    service = ScoringService(lambda: model, None)
    batch = rows[:1000]
    with quiet_stdout():
        service.score_batch(batch)
        times = [timings_ms(lambda i: service.score_batch(batch), 1, warmup=0)[0] for _ in range(7)]
    best = statistics.median(times)
    return {"batch_1000_ms_median": best, "rows_per_s": 1000 / (best / 1000)}


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} cores, load avg {load:.1f}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, help="bundle directory (default: train one)")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    rows = real_rows()
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = args.bundle or train_bundle(Path(tmp))
        print(f"machine: {machine()}")
        print(f"bundle: {bundle_dir}")
        import onnxruntime

        print(f"onnxruntime {onnxruntime.__version__}, numpy {np.__version__}")
        # Both sides single-threaded, as the Lambda sessions are (intra_op_num_threads=1).
        # threadpoolctl only limits libraries already loaded: load scikit-learn's first.
        import sklearn.cluster
        import sklearn.ensemble  # noqa: F401

        with quiet_stdout(), threadpool_limits(limits=1):
            lat = warm_latency(bundle_dir, rows, args.requests)
            batch = batch_throughput(bundle_dir, rows)
        print("\nwarm latency (in process, one customer per request)")
        for r in lat:
            print(
                f"  {r['name']:<48} p50 {r['p50_ms']:.3f} ms   "
                f"p99 {r['p99_ms']:.3f} ms   (n={r['n']})"
            )
        by_name = {r["name"]: r for r in lat}
        for label in ("paired", f"paired in blocks of {BLOCK}"):
            sk = by_name[f"validation + model work, scikit-learn ({label})"]["p50_ms"]
            ours = by_name[f"service.score_one, cache miss ({label})"]["p50_ms"]
            print(
                f"  scikit-learn (validation + model work) / score_one miss, {label} p50: "
                f"{sk / ours:.1f}x"
            )
        handler = by_name["Lambda handler, cache miss"]["p50_ms"]
        print(
            "  scikit-learn (validation + model work) / Lambda handler miss p50: "
            f"{sk / handler:.1f}x"
        )
        model_ratio = (
            by_name["model work only, scikit-learn"]["p50_ms"]
            / by_name["model work only, onnxruntime"]["p50_ms"]
        )
        print(f"  model work only, scikit-learn / onnxruntime p50: {model_ratio:.1f}x")
        print(
            "\nbatch of 1,000 rows (score_batch, no cache): "
            f"median {batch['batch_1000_ms_median']:.1f} ms, "
            f"{batch['rows_per_s']:,.0f} rows/s"
        )


def train_bundle(out: Path) -> Path:
    from training.data import file_sha256
    from training.pipeline import build_bundle
    from training.validation import validate_file

    result = validate_file(DATA)
    assert result.frame is not None
    with threadpool_limits(limits=1, user_api="openmp"):
        build_bundle(
            result.frame,
            out / "bundle",
            data_sha256=file_sha256(DATA),
            data_file=DATA.name,
            progress=False,
        )
    return out / "bundle"


if __name__ == "__main__":
    main()
