"""Training on a whole customer base: wall time and peak memory from 1 to 20 million rows.

Run (results go to docs/benchmarks.md, "Training on a whole customer base"; this script
only prints them)::

    .venv/bin/python benchmarks/bench_whole_base.py --work /work/tmp-16/bench \\
        --rows 1000000 5000000 10000000 [--before /work/main] [--before-cap-gb 8] \\
        [--before-rows 1000000 5000000] [--keep]

For each size N: generate N customers (real rows resampled with noise, as
``bench_training.py`` does, written a million rows at a time), then, each in its own child
process (peak memory = that child's ``ru_maxrss``, from ``os.wait4``):

- **after**: ``python -m training train --data FILE --out DIR --no-reference --threads 1
  --no-progress``, this checkout (the read that validates and samples, the fit on the
  sample, the read that scores every row); per-step seconds from the manifest;
- **before** (``--before DIR``, another checkout with its own ``.venv``, e.g. main before
  this change): the same command there, its address space capped at ``--before-cap-gb``
  so a size it cannot hold fails with MemoryError instead of pushing the shared machine
  into swap or the OOM killer ("as far as it runs");
- **pandas**: ``pandas.read_csv(FILE)`` once, the floor for reading the file at all.

``--reads``: the two reads alone (validate + sample; score every row), wall and CPU
seconds each, in one child per size: CPU time per million rows is the figure a busy shared
machine does not blur, so it shows whether time grows linearly.

What a sample costs in quality is measured by ``bench_sample_quality.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "CC_GENERAL.csv"
sys.path.insert(0, str(ROOT))

GENERATE_CHUNK = 1_000_000


def generate(rows: int, path: Path, seed: int = 0) -> None:
    """``rows`` customers resampled from the real data with noise, a million at a time
    (the same recipe as ``bench_training.make_large_csv``; valid values, unique ids)."""
    import numpy as np
    import pandas as pd

    from training.schema import FEATURES

    real = pd.read_csv(DATA)
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as handle:
        for start in range(0, rows, GENERATE_CHUNK):
            size = min(GENERATE_CHUNK, rows - start)
            part = real.iloc[rng.integers(0, len(real), size=size)].reset_index(drop=True)
            for feature in FEATURES:
                if feature.kind == "months":
                    continue
                noisy = part[feature.name].to_numpy(np.float64) * rng.lognormal(0, 0.05, size)
                if feature.integer:
                    noisy = np.round(noisy)
                if feature.valid_max is not None:
                    noisy = np.minimum(noisy, feature.valid_max)
                part[feature.name] = noisy
            part["CUST_ID"] = [f"G{i:09d}" for i in range(start, start + size)]
            part.to_csv(handle, index=False, header=start == 0)


def run_child(
    command: list[str],
    cwd: Path,
    *,
    cap_bytes: int | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``command``; its wall time, peak resident memory (``ru_maxrss`` of this child
    alone, from ``os.wait4``) and exit code."""

    def limit() -> None:
        if cap_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=err,
            preexec_fn=limit,
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = code = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    return {
        "exit": code,
        "wall_s": round(wall, 1),
        "peak_mb": round(usage.ru_maxrss / 1024),
        "stdout_tail": stdout.strip().splitlines()[-2:],
        "stderr_tail": stderr.strip().splitlines()[-3:] if code else [],
    }


def train(checkout: Path, data: Path, out: Path, cap_bytes: int | None) -> dict[str, Any]:
    """``python -m training train`` of ``checkout`` (its own .venv) on ``data``."""
    python = checkout / ".venv" / "bin" / "python"
    command = [str(python), "-m", "training", "train", "--data", str(data), "--out", str(out)]
    command += ["--no-reference", "--threads", "1", "--no-progress"]
    result = run_child(command, checkout, cap_bytes=cap_bytes, env={"OMP_NUM_THREADS": "1"})
    manifest = out / "manifest.json"
    if result["exit"] == 0 and manifest.exists():
        body = json.loads(manifest.read_text())
        run = body["training"]
        result["build_bundle_s"] = run["seconds"]
        result["read_s"] = run.get("read_seconds")  # the first read (absent 'before')
        result["steps"] = run["step_seconds"]
        result["k"] = body["k"]
        result["rows"] = body["data"]["rows"]
        result["sample_rows"] = body["data"].get("sample", {}).get("rows", body["data"]["rows"])
    shutil.rmtree(out, ignore_errors=True)
    return result


def pandas_read(data: Path) -> dict[str, Any]:
    code = f"import pandas as pd, time; t = time.perf_counter(); pd.read_csv({str(data)!r}); "
    code += "print(round(time.perf_counter() - t, 1))"
    result = run_child([sys.executable, "-c", code], ROOT)
    result["read_s"] = float(result["stdout_tail"][-1]) if result["exit"] == 0 else None
    return result


READS_WORKER = "--reads-worker"


def reads_worker(data: Path, bundle: Path) -> None:
    """In a child: the two reads alone, wall and CPU seconds each (prints JSON)."""
    import numpy as np
    from chalicelib.contract.bundle import Manifest

    from training.sources import open_data
    from training.validation import scan
    from training.whole_base import Base, count

    reader = open_data(str(data)).reader
    wall, cpu = time.perf_counter(), time.process_time()
    scanned = scan(reader, sample=200_000, seed=42)
    first = (time.perf_counter() - wall, time.process_time() - cpu)
    manifest = Manifest.loads((bundle / "manifest.json").read_bytes())
    assert manifest.drift_reference is not None
    edges = [np.asarray(f.edges) for f in manifest.drift_reference.features]
    graph = (bundle / manifest.segmenter.file).read_bytes()
    wall, cpu = time.perf_counter(), time.process_time()
    counts = count(Base(reader, scanned.population, 200_000), graph, manifest.k, edges)
    second = (time.perf_counter() - wall, time.process_time() - cpu)
    assert counts.rows == scanned.report.rows
    seconds = {"read1_wall_s": first[0], "read1_cpu_s": first[1]}
    seconds |= {"read2_wall_s": second[0], "read2_cpu_s": second[1]}
    print(json.dumps({key: round(value, 1) for key, value in seconds.items()}))


def reads(args: argparse.Namespace) -> None:
    """The two reads alone at each size (a real-data bundle's graph scores the rows)."""
    bundle = args.work / "reads-bundle"
    command = [sys.executable, "-m", "training", "train", "--data", str(DATA), "--out"]
    command += [str(bundle), "--no-reference", "--no-progress", "--threads", "1"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    for rows in args.rows:
        data = args.work / f"customers_{rows}.csv"
        if not data.exists():
            generate(rows, data)
        case: dict[str, Any] = {"rows": rows, "load_start": load()}
        done = run_child([sys.executable, __file__, READS_WORKER, str(data), str(bundle)], ROOT)
        case |= {"peak_mb": done["peak_mb"], "exit": done["exit"], "load_end": load()}
        if done["exit"] == 0:
            case |= json.loads(done["stdout_tail"][-1])
        print(json.dumps(case), flush=True)
        if not args.keep:
            data.unlink()


def machine() -> dict[str, Any]:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "model": model,
        "python": platform.python_version(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def timing(args: argparse.Namespace) -> None:
    cap = int(args.before_cap_gb * 2**30)
    for rows in args.rows:
        data = args.work / f"customers_{rows}.csv"
        if not data.exists():
            started = time.perf_counter()
            generate(rows, data)
            print(f"# generated {rows:,} rows in {time.perf_counter() - started:.0f} s")
        case: dict[str, Any] = {"rows": rows, "bytes": data.stat().st_size, "load_start": load()}
        case["after"] = train(ROOT, data, args.work / "bundle-after", None)
        case["pandas"] = pandas_read(data)
        if args.before is not None and rows in (args.before_rows or args.rows):
            case["before"] = train(args.before, data, args.work / "bundle-before", cap)
        case["load_end"] = load()
        print(json.dumps(case), flush=True)
        if not args.keep:
            data.unlink()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == READS_WORKER:
        reads_worker(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch directory (big files)")
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--before", type=Path, help="checkout to measure as 'before'")
    parser.add_argument("--before-cap-gb", type=float, default=8.0)
    parser.add_argument(
        "--before-rows", type=int, nargs="+", help="sizes to run 'before' at (default: all)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument(
        "--reads", action="store_true", help="the two reads alone: wall and CPU per size"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(json.dumps({"machine": machine(), "load": load()}))
    if args.reads:
        reads(args)
    else:
        timing(args)


if __name__ == "__main__":
    main()
