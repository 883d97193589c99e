"""Stability benchmark: what the bootstrap stability step adds to training on the real data.

Run:  .venv/bin/python benchmarks/bench_stability.py [--resamples 20] [--rows 3000]

In one process, with one native thread (so CPU time is what an idle core needs): the elbow
step (10 KMeans fits, n_init 10, and the indices) as the baseline, then the stability step
with the training defaults, then the alternatives weighed when choosing them (1 restart
per resample; resamples as large as the data). Prints CPU and wall seconds and the mean
ARI per k of each, so cost and answer are compared side by side. Results go to
docs/benchmarks.md ("Training"); this script only prints them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "CC_GENERAL.csv"
sys.path.insert(0, str(ROOT))


def main() -> None:
    from threadpoolctl import threadpool_limits

    from training import elbow, stability
    from training.preprocess import make_preprocessor
    from training.schema import FEATURE_NAMES
    from training.validation import validate_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=stability.RESAMPLES)
    parser.add_argument("--rows", type=int, default=stability.SAMPLE_SIZE)
    args = parser.parse_args()

    frame = validate_file(DATA).frame
    assert frame is not None
    raw = frame.loc[:, list(FEATURE_NAMES)].to_numpy()
    scaled = make_preprocessor().fit_transform(raw)
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {len(raw)} rows")
    with threadpool_limits(1):
        cpu, wall = time.process_time(), time.perf_counter()
        chosen = elbow.analyse(scaled, (1, 10), seed=42, progress=False)
        print(
            f"baseline elbow (k 1..10): cpu {time.process_time() - cpu:.2f} s, "
            f"wall {time.perf_counter() - wall:.2f} s"
        )
        labels = {k: model.predict(scaled) for k, model in chosen.models.items()}
        cases = [
            ("default", args.rows, stability.RESAMPLE_N_INIT),
            ("1 restart", args.rows, 1),
            ("all rows", len(raw), stability.RESAMPLE_N_INIT),
        ]
        for name, rows, n_init in cases:
            cpu, wall = time.process_time(), time.perf_counter()
            result = stability.assess(
                scaled,
                labels,
                seed=42,
                resamples=args.resamples,
                sample_size=rows,
                n_init=n_init,
            )
            ari = " ".join(f"{k}:{v:.3f}" for k, v in result.ari_mean.items())
            print(
                f"stability {name} ({args.resamples} x {min(rows, len(raw))} rows, "
                f"n_init {n_init}): cpu {time.process_time() - cpu:.2f} s, "
                f"wall {time.perf_counter() - wall:.2f} s; mean ARI {ari}"
            )


if __name__ == "__main__":
    main()
