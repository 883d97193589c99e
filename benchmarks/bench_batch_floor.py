"""The README's ``infra/local_stack.py score-file`` against the batch floor, as whole processes.

A moto server on loopback holds the bundle (published as training publishes it) and the
local stage's batch bucket, as ``infra/local.sh`` sets them up. Each round runs, as fresh
processes and alternating:

- **floor**: ``benchmarks/batch_floor.py`` on the file (numpy + onnxruntime imports, read
  the CSV, both graphs once over all rows, one line per row to a local file);
- **score-file**: ``infra/local_stack.py score-file FILE`` as the README gives it (upload to
  the batch bucket, the batch function's code: model load from S3, scoring, results,
  error report, drift report and summary back to S3);
- **before** (``--before CHECKOUT``): the same command from another checkout (e.g. a
  worktree of main), on the same moto server and file.

Each round scores a copy of the file under a new name, so no run reads a previous run's
results for the migration section (a first run of a file, as in the README). One untimed
warm-up round first; every process compiles its imports into a scratch bytecode cache
(``PYTHONPYCACHEPREFIX``) there, so timed rounds import compiled code, as Lambda does.
Wall time per process, and its CPU time (``RUSAGE_CHILDREN``; the moto server's work is
not in it).

Usage: ``.venv/bin/python benchmarks/bench_batch_floor.py --bundle DIR [--rows 200000]
[--rounds 3] [--before CHECKOUT]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "functions")]

from bench_batch_files import resampled_csv  # noqa: E402

from tests.servers import OFFLINE_AWS_ENV, local_stage_env, start_moto_server  # noqa: E402


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one child process (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def setup(aws_url: str, bundle: Path) -> None:
    """The local stack's buckets and tables in moto, and the bundle published to them."""
    import boto3

    from training.registry import ModelRegistry

    stage = local_stage_env()
    env = {**os.environ, **OFFLINE_AWS_ENV, "AWS_ENDPOINT_URL": aws_url}
    command = [sys.executable, str(ROOT / "infra" / "local_stack.py"), "create-aws"]
    names = [
        stage["MODEL_BUCKET"],
        stage["CACHE_TABLE"],
        stage["HISTORY_TABLE"],
        stage["BATCH_BUCKET"],
    ]
    subprocess.run([*command, *names], env=env, check=True)
    s3 = boto3.client("s3", endpoint_url=aws_url)
    ModelRegistry(stage["MODEL_BUCKET"], stage["MODEL_PREFIX"], s3_client=s3).publish(bundle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another checkout's score-file, same run")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}; {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as scratch_dir, start_moto_server() as aws_url:
        scratch = Path(scratch_dir)
        source = scratch / "customers.csv"
        source.write_bytes(resampled_csv(args.rows))
        setup(aws_url, args.bundle)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(OFFLINE_AWS_ENV, AWS_ENDPOINT_URL=aws_url)
        env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
        kinds = {
            "floor": lambda f: [str(ROOT / "benchmarks" / "batch_floor.py"), "--bundle",
                                str(args.bundle), str(f), str(scratch / "floor.csv")],
            "score-file": lambda f: [str(ROOT / "infra" / "local_stack.py"), "score-file", str(f)],
        }  # fmt: skip
        if args.before:
            before = args.before.resolve() / "infra" / "local_stack.py"
            kinds["before"] = lambda f: [str(before), "score-file", str(f)]
        samples: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
        for round_ in range(args.rounds + 1):
            for kind, command in kinds.items():
                copy = scratch / f"{kind}-{round_}.csv"
                shutil.copyfile(source, copy)
                timing = run([sys.executable, *command(copy)], env, ROOT)
                copy.unlink()
                if round_:
                    samples[kind].append(timing)
            if round_:
                print(f"round {round_}: " + ", ".join(
                    f"{k} {samples[k][-1][0]:.2f} s" for k in kinds
                ) + f"; load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    report(args, samples)
    return 0


def report(args: argparse.Namespace, samples: dict[str, list[tuple[float, float]]]) -> None:
    print(f"\n{args.rows:,} customers, median of {args.rounds} rounds (wall / CPU of the process)")
    medians = {}
    for kind, values in samples.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        medians[kind] = (wall, cpu)
        print(f"  {kind:12s} wall {wall:7.2f} s   cpu {cpu:7.2f} s")
    floor = medians["floor"]
    for kind in samples:
        if kind != "floor":
            paired = [v[0] / f[0] for v, f in zip(samples[kind], samples["floor"], strict=True)]
            wall, cpu = medians[kind][0] / floor[0], medians[kind][1] / floor[1]
            per_round = statistics.median(paired)
            print(
                f"  {kind} / floor: wall {wall:.2f}x (per-round {per_round:.2f}x), cpu {cpu:.2f}x"
            )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
