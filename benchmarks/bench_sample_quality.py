"""What fitting on a sample costs: sample fits against a fit on every row, in one run.

Run (results in docs/training.md, "Training on a whole customer base"; this script only
prints them)::

    .venv/bin/python benchmarks/bench_sample_quality.py --data FILE.csv \\
        [--samples 25000 50000 100000 200000] [--seed 42]

``FILE.csv`` is e.g. the 1,000,000-row file ``bench_whole_base.py --keep`` generates. The
file is read once (as training reads it); then, with one native thread:

- **full fit**: training's stages on every row: preprocessing fitted on every row, the
  elbow over k = 1..10 (exact KMeans, n_init 10) and its knee, the bootstrap stability
  rule, the final KMeans;
- **sample fits**: the same stages on seeded uniform samples of each size (the sample
  training draws: ``training.sampling.Reservoir`` with the same seed);

and for each sample fit: the knee's k and the final k against the full fit's; the
adjusted Rand index between the labels the two fits give **every row** (each through
its own preprocessing); and the within-cluster sum of squares of the two partitions of
every row, both measured in the full fit's model space (the sample fit's relative to the
full fit's; positive = worse). When a sample chooses another k, it is also refitted at
the full fit's k so the partitions can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def wcss(scaled: Any, labels: Any) -> float:
    """Within-cluster sum of squares of ``labels`` over ``scaled`` (cluster means)."""
    import numpy as np

    total = 0.0
    for label in np.unique(labels):
        members = scaled[labels == label]
        total += float(((members - members.mean(axis=0)) ** 2).sum())
    return total


def fit(raw: Any, seed: int, k: int | None = None) -> dict[str, Any]:
    """Training's stages up to the final KMeans on ``raw``; the fitted pieces and seconds."""
    from training import stages

    options = stages.Options(k, (1, 10), seed, scalable=False, progress=False)
    started = time.perf_counter()
    data = stages.preprocess(raw)
    first = stages.choose_k(data, options)
    stable = stages.check_stability(data, first, options)
    clusters = stages.cluster(data, stable.chosen, options, None)
    return {
        "data": data,
        "clusters": clusters,
        "knee": first.knee,
        "k": stable.chosen.k,
        "seconds": round(time.perf_counter() - started, 1),
    }


def labels_of(fitted: dict[str, Any], raw: Any) -> Any:
    """Every row's segment under a fit (through that fit's own preprocessing)."""
    import numpy as np

    scaled = fitted["data"].preprocessor.transform(raw)
    return np.asarray(fitted["clusters"].model.predict(scaled))


def compare(data: Path, samples: list[int], seed: int) -> dict[str, Any]:
    import numpy as np
    from sklearn.metrics import adjusted_rand_score
    from threadpoolctl import threadpool_limits

    from training.sampling import Reservoir, Rows
    from training.sources import open_data
    from training.validation import scan

    scanned = scan(open_data(str(data)).reader, sample=None)
    raw, lines = scanned.sample.values, scanned.sample.lines
    result: dict[str, Any] = {"rows": len(raw), "load_start": _load()}
    with threadpool_limits(limits=1):
        full = fit(raw, seed)
        full_labels = np.asarray(full["clusters"].labels)
        full_space = full["data"].scaled
        full_wcss = wcss(full_space, full_labels)
        result["full"] = {"knee": full["knee"], "k": full["k"], "seconds": full["seconds"],
                          "wcss": round(full_wcss, 1)}  # fmt: skip
        for size in samples:
            reservoir = Reservoir(size, seed, raw.shape[1])
            reservoir.offer(Rows(raw, lines, None))
            part = reservoir.sample().values
            fitted = fit(part, seed)
            entry: dict[str, Any] = {"knee": fitted["knee"], "k": fitted["k"],
                                     "seconds": fitted["seconds"]}  # fmt: skip
            if fitted["k"] != full["k"]:
                fitted = fit(part, seed, k=full["k"])
                entry["refitted_at_k"] = full["k"]
            labels = labels_of(fitted, raw)
            entry["ari_every_row"] = round(float(adjusted_rand_score(full_labels, labels)), 5)
            entry["wcss_vs_full"] = round(wcss(full_space, labels) / full_wcss - 1, 5)
            result[f"sample_{size}"] = entry
            print(json.dumps({size: entry}), file=sys.stderr, flush=True)
    result["load_end"] = _load()
    return result


def _load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument(
        "--samples", type=int, nargs="+", default=[25_000, 50_000, 100_000, 200_000]
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(json.dumps(compare(args.data, args.samples, args.seed)))


if __name__ == "__main__":
    main()
