"""What importing the bundle contract and reading a real manifest cost, before and after a
change to ``chalicelib/contract``, in one run.

Run:  .venv/bin/python benchmarks/bench_manifest.py --before main [--bundle DIR] [--runs 21]

The contract at ``--before`` (a git revision, via ``git archive``) and the working tree's
are copied side by side into a scratch directory and byte-compiled as the Lambda package
ships them (unchecked-hash pycs: no compiling at import, as in ``build/lambda``). Then,
interleaved round by round so both see the same machine, a fresh interpreter per side and
round (``-S``: the contract needs the standard library only) times, in CPU time of the
process (``time.process_time``: on a shared machine, other jobs' load does not count):

- **import**: ``import chalicelib.contract.bundle, chalicelib.contract.row`` (what the
  loader pulls in), once with the standard-library modules they use counted (json,
  dataclasses, typing...: most of it, and shared with what Lambda imports anyway), once
  with those imported beforehand (the contract's own modules alone);
- **first loads**: the process's first ``Manifest.loads`` of the bundle's
  ``manifest.json`` (anything built on first use is included: the codec's readers);
- **warm loads**: the same call again, best of 5 blocks of 50 (the refresh path).

The manifest is the one of ``--bundle`` (default: trained here from data/CC_GENERAL.csv,
about a minute). Medians over ``--runs``; results go to docs/benchmarks.md ("Manifest
reading"); this script only prints them.
"""

from __future__ import annotations

import argparse
import compileall
import io
import json
import os
import platform
import py_compile
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = Path("functions") / "chalicelib" / "contract"
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

PROBE = """
import sys, time
if sys.argv[2] == "contract only":  # the standard library the contract uses, beforehand
    import collections.abc, csv, dataclasses, io, json, types, typing
clock = time.process_time  # CPU time: other processes on a loaded machine do not count
start = clock()
import chalicelib.contract.bundle, chalicelib.contract.row
imported = clock()
import json, timeit
Manifest = chalicelib.contract.bundle.Manifest
raw = open(sys.argv[1], "rb").read()
first = clock()
Manifest.loads(raw)
done = clock()
warm = min(timeit.repeat(lambda: Manifest.loads(raw), number=50, repeat=5, timer=clock)) / 50
key = "import, " + sys.argv[2]
print(json.dumps({key: imported - start, "first loads": done - first, "warm loads": warm}))
"""
MODES = ("with stdlib", "contract only")


def contract_at(revision: str | None, target: Path) -> Path:
    """``chalicelib`` holding only the contract of ``revision`` (None: the working tree),
    byte-compiled; returns the directory to put on ``sys.path``."""
    package = target / "chalicelib"
    if revision is None:
        shutil.copytree(ROOT / CONTRACT, package / "contract")
    else:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision, str(CONTRACT)],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target / "tree", filter="data")
        shutil.copytree(target / "tree" / CONTRACT, package / "contract")
    (package / "__init__.py").write_text('"""The contract alone, for this benchmark."""\n')
    compileall.compile_dir(
        package, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    return target


def probe(path: Path, manifest: Path, mode: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, str(manifest), mode],
        cwd=path,
        env={**env, "PYTHONPATH": str(path)},
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision of the baseline")
    parser.add_argument("--bundle", type=Path, help="a bundle directory (default: train one)")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-manifest-") as scratch:
        work = Path(scratch)
        bundle = args.bundle
        if bundle is None:
            from bench_serving import train_bundle

            bundle = train_bundle(work)
        manifest = bundle / "manifest.json"
        sides = {
            "before": contract_at(args.before, work / "before"),
            "after": contract_at(None, work / "after"),
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
        for _ in range(args.runs):
            for name, path in sides.items():
                figures = [probe(path, manifest, mode) for mode in MODES]
                results[name].append(figures[0] | figures[1])  # loads: the second process's
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"manifest: {manifest.stat().st_size:,} bytes; median of {args.runs} rounds, ms")
    print(f"{'':12}" + "".join(f"{name:>10}" for name in sides) + "     after/before")
    for phase in results["before"][0]:
        medians = [statistics.median(r[phase] for r in results[name]) * 1e3 for name in sides]
        cells = "".join(f"{m:10.3f}" for m in medians)
        print(f"{phase:12}{cells}     {medians[1] / medians[0]:.2f}x")


if __name__ == "__main__":
    main()
