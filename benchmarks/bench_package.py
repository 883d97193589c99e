"""What the bytecode in the Lambda package buys: importing the app cold, with and without it.

Builds nothing: run ``infra/build_package.py`` first (it leaves ``build/lambda/``). Each
sample is a fresh interpreter importing ``app`` from the package alone (``-S``: no
site-packages; boto3 and friends from this environment stand in for the Lambda runtime),
with bytecode writing disabled as on Lambda's read-only /var/task. The baseline is the
same package with every ``__pycache__`` removed, measured in the same run.

Usage: ``.venv/bin/python benchmarks/bench_package.py [--runs 7]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "build" / "lambda"
IMPORT_APP = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"


def load_build_script() -> object:
    spec = importlib.util.spec_from_file_location(
        "build_package", ROOT / "infra" / "build_package.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_seconds(package: Path, runtime: Path) -> float:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{package}{os.pathsep}{runtime}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MODEL_BUCKET": "bench",
    }
    run = subprocess.run(
        [sys.executable, "-S", "-c", IMPORT_APP],
        capture_output=True, text=True, check=True, env=env, cwd=package,
    )  # fmt: skip
    return float(run.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not (PACKAGE / "app.py").exists():
        print("bench: build the package first: .venv/bin/python infra/build_package.py")
        return 1
    build = load_build_script()
    with tempfile.TemporaryDirectory() as scratch:
        runtime = build.runtime_stub(Path(scratch) / "runtime")  # type: ignore[attr-defined]
        plain = Path(scratch) / "plain"
        shutil.copytree(PACKAGE, plain, symlinks=True)
        for cache in sorted(plain.rglob("__pycache__"), reverse=True):
            shutil.rmtree(cache)
        # Alternate the two so background load affects both alike.
        timings: dict[str, list[float]] = {"with .pyc": [], "without .pyc": []}
        for _ in range(args.runs):
            timings["with .pyc"].append(import_seconds(PACKAGE, runtime))
            timings["without .pyc"].append(import_seconds(plain, runtime))
    print(f"import app from the Lambda package, {args.runs} cold interpreters each:")
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for name, values in timings.items():
        print(
            f"  {name:13s} median {medians[name] * 1000:7.0f} ms   "
            f"min {min(values) * 1000:7.0f} ms   max {max(values) * 1000:7.0f} ms"
        )
    baseline = medians["without .pyc"]
    saved = baseline - medians["with .pyc"]
    print(f"  bytecode saves {saved * 1000:.0f} ms per cold start ({saved / baseline:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
