"""What users run: the README's training command as written, before and after, idle and loaded.

Run:  .venv/bin/python benchmarks/bench_training_defaults.py [--before REF] [--runs N]

Each sample is ``python -m training train --data data/CC_GENERAL.csv --out DIR`` (no
``--threads``, no OpenMP variables: the defaults) in a fresh process, from two code trees:
``before`` (``git archive REF``, default ``main``) and ``after`` (this working tree). Both
run with the same interpreter and packages. They alternate, first without and then with a
CPU-burning neighbour (one busy-looping process per core, as other jobs on a shared
machine would be), so both sides see the same machine. Printed per case: wall time of the
whole command (imports included), its CPU time (user + system; on a shared machine more
threads also win a larger share of the cores) and the manifest's ``step_seconds``.
Results go to docs/benchmarks.md ("Training").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ["-m", "training", "train", "--data", "data/CC_GENERAL.csv", "--no-progress"]
# Variables that would change the defaults being measured.
OVERRIDES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def export_tree(ref: str, target: Path) -> Path:
    """The code at ``ref`` (the data file comes along: it is committed)."""
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


@contextlib.contextmanager
def burners(count: int) -> Iterator[None]:
    """``count`` processes that spin on a core until the block ends."""
    spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for process in spinning:
            process.kill()
            process.wait()


def train_once(tree: Path, out: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    env["PYTHONPATH"] = str(tree)  # this tree's training package, not the installed one
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *COMMAND, "--out", str(out)],
        cwd=tree, env=env, check=True, capture_output=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    steps = json.loads((out / "manifest.json").read_text())["training"]["step_seconds"]
    return {"wall": wall, "cpu": cpu, **{name: float(s) for name, s in steps.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git ref of the baseline code")
    parser.add_argument("--runs", type=int, default=2, help="samples per case")
    parser.add_argument("--neighbours", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}; {os.cpu_count()} cores")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"before": export_tree(args.before, Path(scratch) / "before"), "after": ROOT}
        for condition in ("as found", f"+{args.neighbours} CPU burners"):
            loaded = condition != "as found"
            with burners(args.neighbours) if loaded else contextlib.nullcontext():
                for run in range(args.runs):
                    for name, tree in trees.items():
                        out = Path(scratch) / f"{name}-{loaded}-{run}"
                        sample = train_once(tree, out)
                        results.setdefault((condition, name), []).append(sample)
                        print(
                            f"  {condition:<16} {name:<6} wall {sample['wall']:6.1f} s  "
                            f"cpu {sample['cpu']:6.1f} s  "
                            f"limit models {sample.get('limit models', float('nan')):6.1f} s  "
                            f"load {os.getloadavg()[0]:.1f}",
                            flush=True,
                        )
    print("\nmedians (s):")
    steps = sorted({k for samples in results.values() for k in samples[0]})
    print(f"  {'case':<30}" + "".join(f"{s[:14]:>16}" for s in steps))
    for (condition, name), samples in results.items():
        medians = [statistics.median(s[k] for s in samples) for k in steps]
        print(f"  {condition + ', ' + name:<30}" + "".join(f"{m:16.2f}" for m in medians))
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
