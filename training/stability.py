"""Bootstrap stability of the clustering: would the segments come out the same on new data?

For each resample ``b`` (fixed seeds), rows are drawn with replacement from the training
data, a clustering with the same k is fitted on them, and the rows drawn are labelled by
both the resample's clustering and the full-data clustering:

- per k, the **stability** is the mean adjusted Rand index (ARI) between the two
  labellings over the resamples (1 = identical partitions, 0 = chance agreement);
- per segment of the chosen k, the **Jaccard stability** is the mean, over resamples, of
  the best Jaccard index between the segment (restricted to the rows drawn) and any
  cluster of the resample (Hennig's ``clusterboot``). Below ~0.6 a segment is not a
  pattern of the data but an artefact of this fit.

The knee stays the rule for k; :func:`choose_k` only moves to the nearest stable k when
the rule's k is unstable (mean ARI below :data:`STABLE_ARI`).

Cost: one fit per resample and k. Resamples are ``sample_size`` rows (not n) and fitted
with fewer k-means++ restarts than the final model, which keeps the real data's 20
resamples x 9 values of k to a few seconds; both are parameters so tests can use less.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from chalicelib.contract.training_report import SegmentStability, Stability
from numpy.typing import NDArray
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.cluster import contingency_matrix
from tqdm import tqdm

from training.clustering import KMeansModel
from training.elbow import ElbowResult

#: A k whose mean bootstrap ARI is below this is unstable (Hennig 2007 and common
#: practice treat agreement of 0.85-0.9 and above as a stable partition).
STABLE_ARI = 0.90
#: A segment whose mean Jaccard stability is below this is flagged as not reproducible.
STABLE_JACCARD = 0.75
#: Resamples for a real run; the issue asks for at least 20.
RESAMPLES = 20
#: Rows drawn per resample (with replacement); fewer when the data has fewer rows.
SAMPLE_SIZE = 3_000
#: k-means++ restarts per resample fit (the final model uses 10).
RESAMPLE_N_INIT = 3


@dataclass(frozen=True)
class Resample:
    """One resample's fit at one k: the distinct rows drawn and the labels it gave them."""

    rows: NDArray[np.intp]
    labels: NDArray[np.int64]


@dataclass(frozen=True)
class StabilityResult:
    """Mean/min ARI per k and the resample fits (kept for the per-segment Jaccard)."""

    resamples: int
    sample_size: int
    n_init: int
    seed: int
    ari_mean: dict[int, float]
    ari_min: dict[int, float]
    samples: list[NDArray[np.intp]] = field(repr=False, compare=False)
    runs: dict[int, list[Resample]] = field(repr=False, compare=False)

    def is_stable(self, k: int) -> bool:
        return self.ari_mean.get(k, 0.0) >= STABLE_ARI


def draws(n: int, *, seed: int, resamples: int, sample_size: int) -> list[NDArray[np.intp]]:
    """The row indices of every resample, drawn with replacement from a fixed seed."""
    rng = np.random.default_rng(seed)
    size = min(n, sample_size)
    return [rng.integers(0, n, size=size) for _ in range(resamples)]


def _resample_model(k: int, seed: int, n_init: int, scalable: bool) -> KMeansModel:
    if scalable:
        return MiniBatchKMeans(n_clusters=k, n_init=n_init, batch_size=4096, random_state=seed)
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed)


def resample_fits(
    scaled: NDArray[np.float64],
    k: int,
    samples: list[NDArray[np.intp]],
    *,
    seed: int,
    n_init: int = RESAMPLE_N_INIT,
    scalable: bool = False,
) -> list[Resample]:
    """Fit k clusters on each resample and label the distinct rows it drew."""
    runs = []
    for b, sample in enumerate(samples):
        model = _resample_model(k, seed + 1 + b, n_init, scalable).fit(scaled[sample])
        rows = np.unique(sample)
        runs.append(Resample(rows, np.asarray(model.predict(scaled[rows]), dtype=np.int64)))
    return runs


def assess(
    scaled: NDArray[np.float64],
    labels_by_k: dict[int, NDArray[np.int64]],
    *,
    seed: int = 42,
    resamples: int = RESAMPLES,
    sample_size: int = SAMPLE_SIZE,
    n_init: int = RESAMPLE_N_INIT,
    scalable: bool = False,
    progress: bool = False,
) -> StabilityResult:
    """Bootstrap ARI of every k >= 2 in ``labels_by_k`` (the full-data labels per k)."""
    if resamples < 1 or sample_size < 2:
        raise ValueError(
            f"need resamples >= 1 and sample_size >= 2, got {resamples} and {sample_size}"
        )
    samples = draws(len(scaled), seed=seed, resamples=resamples, sample_size=sample_size)
    ari_mean: dict[int, float] = {}
    ari_min: dict[int, float] = {}
    runs: dict[int, list[Resample]] = {}
    for k in tqdm(sorted(labels_by_k), desc="stability: k", disable=not progress, leave=False):
        if k < 2:
            continue
        runs[k] = resample_fits(scaled, k, samples, seed=seed, n_init=n_init, scalable=scalable)
        scores = [adjusted_rand_score(labels_by_k[k][r.rows], r.labels) for r in runs[k]]
        ari_mean[k], ari_min[k] = float(np.mean(scores)), float(np.min(scores))
    return StabilityResult(
        resamples=resamples,
        sample_size=min(len(scaled), sample_size),
        n_init=n_init,
        seed=seed,
        ari_mean=ari_mean,
        ari_min=ari_min,
        samples=samples,
        runs=runs,
    )


def runs_for(
    result: StabilityResult, scaled: NDArray[np.float64], k: int, *, scalable: bool = False
) -> list[Resample]:
    """The resample fits at ``k``: reused from :func:`assess`, or fitted on the same draws
    when ``k`` was outside the elbow range (an override)."""
    if k in result.runs:
        return result.runs[k]
    return resample_fits(
        scaled, k, result.samples, seed=result.seed, n_init=result.n_init, scalable=scalable
    )


def segment_jaccard(labels: NDArray[np.int64], k: int, runs: list[Resample]) -> list[float]:
    """Per segment id 0..k-1: mean over ``runs`` of its best Jaccard with a resample cluster.

    ``labels`` are the full-data (final, canonical) segment ids of every row.
    """
    totals = np.zeros(k)
    for run in runs:
        full = labels[run.rows]
        table = contingency_matrix(full, run.labels)  # rows: sorted ids present in ``full``
        present = np.unique(full)
        sizes_full = table.sum(axis=1, keepdims=True)
        sizes_resample = table.sum(axis=0, keepdims=True)
        jaccard = table / (sizes_full + sizes_resample - table)
        totals[present] += jaccard.max(axis=1)  # a segment not drawn at all scores 0
    return [float(t / len(runs)) for t in totals]


def choose_k(
    rule_k: int, rule: str, k_values: list[int], result: StabilityResult
) -> tuple[int, str | None]:
    """Keep ``rule_k`` when stable, else the nearest stable k (the smaller one on a tie).

    Returns (k, reason); reason is None when the rule's k was kept because it is stable.
    An override is never changed; when no k is stable the rule's k is kept, and said so.
    """
    ari = result.ari_mean.get(rule_k)
    if rule == "override":
        if ari is not None and ari < STABLE_ARI:
            return rule_k, (
                f"k={rule_k} set by override although unstable (mean ARI {ari:.3f} < {STABLE_ARI})"
            )
        return rule_k, None
    if ari is None or ari >= STABLE_ARI:
        return rule_k, None
    stable = [k for k in k_values if k >= 2 and result.is_stable(k)]
    if not stable:
        return rule_k, (
            f"{rule} k={rule_k} is unstable (mean ARI {ari:.3f} < {STABLE_ARI}) but no k in "
            f"{k_values[0]}..{k_values[-1]} is stable; kept k={rule_k}"
        )
    nearest = min(stable, key=lambda k: (abs(k - rule_k), k))
    return nearest, (
        f"{rule} k={rule_k} is unstable (mean bootstrap ARI {ari:.3f} < {STABLE_ARI}); "
        f"used the nearest stable k={nearest} (mean ARI {result.ari_mean[nearest]:.3f})"
    )


def apply_choice(chosen: ElbowResult, result: StabilityResult) -> tuple[ElbowResult, str | None]:
    """The elbow decision after the stability rule: k and notes updated, and the reason.

    ``k_source`` becomes ``"stability"`` when k moved off the rule's k.
    """
    k, reason = choose_k(chosen.k, chosen.k_source, chosen.k_values, result)
    if reason is None:
        return chosen, None
    notes = [*chosen.notes, reason]
    if k == chosen.k:
        return replace(chosen, notes=notes), reason
    return replace(chosen, k=k, k_source="stability", notes=notes), reason


def section(
    result: StabilityResult,
    *,
    rule: str,
    rule_k: int,
    k: int,
    reason: str | None,
    jaccard: list[float],
) -> Stability:
    """The manifest's ``stability`` section (dict keys for k are strings, as JSON needs)."""
    ari = result.ari_mean.get(rule_k)
    why = "" if ari is None else f" (mean ARI {ari:.3f} >= {STABLE_ARI})"
    return Stability(
        method="bootstrap: mean adjusted Rand index of resample clusterings vs the "
        "full-data clustering on the rows drawn; per segment, mean best Jaccard",
        resamples=result.resamples,
        sample_size=result.sample_size,
        n_init=result.n_init,
        seed=result.seed,
        threshold=STABLE_ARI,
        jaccard_threshold=STABLE_JACCARD,
        ari_mean={str(key): v for key, v in result.ari_mean.items()},
        ari_min={str(key): v for key, v in result.ari_min.items()},
        stable_k=tuple(key for key in sorted(result.ari_mean) if result.is_stable(key)),
        rule=rule,
        rule_k=rule_k,
        k=k,
        reason=reason or f"{rule} k={rule_k} kept{why}",
        segments=tuple(
            SegmentStability(id=segment, jaccard=value, stable=value >= STABLE_JACCARD)
            for segment, value in enumerate(jaccard)
        ),
    )
