"""Training benchmark: time and peak memory on the real data and on 1,000,000 rows.

Run:  .venv/bin/python benchmarks/bench_training.py [--rows 1000000] [--threads N]

Each case runs in a fresh subprocess (so ``ru_maxrss`` is that case's peak resident
memory; tracemalloc misses numpy's allocations): validate the CSV as the CLI does, then
``build_bundle``. Cases, side by side in one run:

- real data (8,950 rows), exact KMeans (the default below 200k rows);
- real data, scalable mode forced (MiniBatchKMeans): the baseline for what the scalable
  estimators cost in quality and buy in time on small data;
- N rows generated from the real data (bootstrap resample, lognormal noise on amounts,
  scores clipped to their valid range, counts rounded), scalable mode (automatic);
- on the same N rows, one exact KMeans fit vs one MiniBatchKMeans fit at the chosen k,
  and on the real data exact vs sampled silhouette: the two scalable choices, measured.

Results go to docs/benchmarks.md ("Training"); this script only prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "CC_GENERAL.csv"
sys.path.insert(0, str(ROOT))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_s() -> float:
    """User + system CPU seconds of this process: a fairer figure than wall time on a
    shared machine, where other jobs take turns on the same cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 1)


def make_large_csv(rows: int, path: Path, seed: int = 0) -> None:
    """Write ``rows`` customers resampled from the real data with noise (valid values)."""
    import numpy as np
    import pandas as pd

    from training.schema import FEATURES

    real = pd.read_csv(DATA)
    rng = np.random.default_rng(seed)
    sample = real.iloc[rng.integers(0, len(real), size=rows)].reset_index(drop=True)
    for feature in FEATURES:
        column = sample[feature.name].to_numpy(dtype=np.float64)
        if feature.kind == "months":
            continue
        noisy = column * rng.lognormal(0.0, 0.05, size=rows)
        if feature.integer:
            noisy = np.round(noisy)
        if feature.valid_max is not None:
            noisy = np.minimum(noisy, feature.valid_max)
        sample[feature.name] = noisy
    sample["CUST_ID"] = [f"G{i:07d}" for i in range(rows)]
    sample.to_csv(path, index=False)


def run_case(csv: Path, scalable: bool | None) -> dict[str, Any]:
    """Validate + build a bundle; return timings, peak memory and the chosen model."""
    from training.pipeline import build_bundle
    from training.validation import validate_file

    started = time.perf_counter()
    result = validate_file(csv)
    validated = time.perf_counter()
    assert result.frame is not None, result.report.format()
    with tempfile.TemporaryDirectory() as out:
        summary = build_bundle(result.frame, Path(out), scalable=scalable, progress=False)
    finished = time.perf_counter()
    manifest = summary.manifest
    return {
        "rows": summary.rows,
        "validate_s": round(validated - started, 2),
        "train_s": round(finished - validated, 2),
        "total_s": round(finished - started, 2),
        "cpu_s": _cpu_s(),
        "peak_mb": round(_peak_mb()),
        "algorithm": summary.algorithm,
        "k": summary.k,
        "silhouette_at_k": manifest.elbow.extra["silhouette"].get(str(summary.k)),
        "silhouette_sample": manifest.elbow.extra["silhouette_sample_size"],
        "segments": list(summary.segment_names),
        "parity": manifest.parity.passed,
        "step_seconds": manifest.training.step_seconds,
    }


def run_kmeans_baseline(csv: Path, k: int) -> dict[str, Any]:
    """Exact KMeans vs MiniBatchKMeans at ``k`` (3 restarts each) on the same model space."""
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans

    from training.clustering import make_kmeans
    from training.preprocess import make_preprocessor
    from training.schema import FEATURE_NAMES

    raw = pd.read_csv(csv, usecols=list(FEATURE_NAMES))[list(FEATURE_NAMES)].to_numpy(np.float64)
    scaled = make_preprocessor().fit_transform(raw)
    timings: dict[str, Any] = {"rows": len(raw), "k": k}
    for name, model in (
        ("kmeans_exact_n_init3", KMeans(n_clusters=k, n_init=3, random_state=42)),
        ("minibatch", make_kmeans(k, 42, scalable=True)),
    ):
        started = time.perf_counter()
        model.fit(scaled)
        timings[f"{name}_s"] = round(time.perf_counter() - started, 2)
        timings[f"{name}_wcss"] = float(model.inertia_)
    timings["cpu_s"] = _cpu_s()
    timings["peak_mb"] = round(_peak_mb())
    return timings


def run_silhouette_baseline() -> dict[str, Any]:
    """Exact silhouette on all real rows vs the sampled one training uses."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import silhouette_score

    from training.clustering import make_kmeans
    from training.elbow import SILHOUETTE_MAX_ROWS
    from training.preprocess import make_preprocessor
    from training.schema import FEATURE_NAMES

    raw = pd.read_csv(DATA)[list(FEATURE_NAMES)].to_numpy(np.float64)
    scaled = make_preprocessor().fit_transform(raw)
    out: dict[str, Any] = {"rows": len(raw), "sample": SILHOUETTE_MAX_ROWS}
    for k in (3, 4, 6):
        labels = make_kmeans(k, 42, scalable=False).fit_predict(scaled)
        started = time.perf_counter()
        exact = silhouette_score(scaled, labels)
        middle = time.perf_counter()
        sampled = silhouette_score(scaled, labels, sample_size=SILHOUETTE_MAX_ROWS, random_state=42)
        done = time.perf_counter()
        out[str(k)] = {
            "exact": round(float(exact), 4),
            "exact_s": round(middle - started, 2),
            "sampled": round(float(sampled), 4),
            "sampled_s": round(done - middle, 2),
        }
    return out


def _worker(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=["bundle", "kmeans", "silhouette"])
    parser.add_argument("--csv", type=Path, default=DATA)
    parser.add_argument("--scalable", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args(argv)
    if args.case == "bundle":
        scalable = {"auto": None, "yes": True, "no": False}[args.scalable]
        result = run_case(args.csv, scalable)
    elif args.case == "kmeans":
        result = run_kmeans_baseline(args.csv, args.k)
    else:
        result = run_silhouette_baseline()
    print(json.dumps(result))


def _spawn(args: list[str], threads: int | None) -> dict[str, Any]:
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run(
        [sys.executable, __file__, "--worker", *args],
        env=env,
        text=True,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        return {"failed": done.returncode, "stderr_tail": done.stderr.strip().splitlines()[-5:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"load average at start {load}"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="OMP_NUM_THREADS for the workers (default: the environment's)",
    )
    parser.add_argument("--skip-large", action="store_true", help="real-data cases only")
    args = parser.parse_args()
    threads = args.threads or os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"machine: {_machine()}; OMP_NUM_THREADS={threads}")

    cases: list[tuple[str, list[str]]] = [
        ("real data, default (exact KMeans)", ["bundle", "--scalable", "auto"]),
        ("real data, scalable forced (MiniBatchKMeans)", ["bundle", "--scalable", "yes"]),
        ("real data, silhouette exact vs sampled", ["silhouette"]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        large = Path(tmp) / "large.csv"
        if not args.skip_large:
            started = time.perf_counter()
            make_large_csv(args.rows, large)
            print(
                f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f}s "
                f"({large.stat().st_size / 1e6:.0f} MB CSV)"
            )
            cases += [
                (f"{args.rows:,} rows, default (scalable)", ["bundle", "--csv", str(large)]),
                (
                    f"{args.rows:,} rows, one KMeans fit: exact vs MiniBatch",
                    ["kmeans", "--csv", str(large), "--k", "3"],
                ),
            ]
        for title, worker_args in cases:
            result = _spawn(worker_args, args.threads)
            print(f"{title}: {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
