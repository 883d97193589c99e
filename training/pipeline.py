"""From a validated data frame to a verified bundle directory: the stages, in order.

preprocess -> elbow + knee -> bootstrap stability -> KMeans with canonical ids -> describe
(profiles, names, surrogate rules, map, drift reference, migration) -> limit models -> ONNX
export -> parity proof -> bundle files,
``manifest.json`` last. Each stage is a function of ``training.stages`` returning a small
typed result; this module only orders and times them.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from chalicelib.contract.bundle import Manifest
from chalicelib.contract.training_report import DataSource, Parity, Sample
from numpy.typing import NDArray
from tqdm import tqdm

from training import bundle_writer, stages, whole_base
from training.clustering import is_scalable
from training.elbow import ElbowResult
from training.parity import ParityError
from training.population import Population
from training.schema import FEATURE_NAMES

if TYPE_CHECKING:
    from training.migration import PublishedModel

__all__ = ["BundleSummary", "ParityError", "build_bundle"]


@dataclass(frozen=True)
class BundleSummary:
    """What a training run produced, for the CLI's summary line and for tests."""

    version: str
    k: int
    k_source: str
    out_dir: Path
    seconds: float
    rows: int
    sample_rows: int
    segment_names: tuple[str, ...]
    labels: NDArray[np.int64]
    algorithm: str
    parity_passed: bool
    manifest: Manifest

    def one_line(self) -> str:
        """One line for the end of a CLI run."""
        names = ", ".join(f"{i}={n}" for i, n in enumerate(self.segment_names))
        fitted = "" if self.sample_rows == self.rows else f" (fitted on {self.sample_rows})"
        return (
            f"bundle {self.version}: {self.rows} rows{fitted}, k={self.k} ({self.k_source}), "
            f"{self.algorithm}, parity ok, {self.seconds:.1f}s -> {self.out_dir} [{names}]"
        )


class StepClock:
    """A progress bar over the named stages that also records each one's seconds."""

    STEPS: tuple[str, ...] = (
        "preprocess",
        "elbow",
        "stability",
        "kmeans",
        "describe",
        "limit models",
        "export",
        "parity",
        "whole base",
        "bundle",
    )

    def __init__(self, progress: bool) -> None:
        self._bar = tqdm(total=len(self.STEPS), desc="training", disable=not progress, unit="step")
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name`` (recorded only if it completes)."""
        self._bar.set_postfix_str(name)
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 3)
        self._bar.update()

    def close(self) -> None:
        self._bar.close()


SAMPLE_METHOD = (
    "uniform without replacement: the rows with the smallest random keys, one key per row "
    "in file order from numpy.random.default_rng(seed); kept in file order"
)
#: Manifest figures computed on the rows fitted on (the sample).
FROM_SAMPLE = (
    "features[].default",
    "segments[].medians",
    "segments[].std_diff",
    "segments[].top_features",
    "segments[].rules",
    "segments[].centroid",
    "segments[].centroid_raw",
    "segments[].distance_percentiles",
    "segments[].example",
    "segments[].limit_model",
    "map",
    "elbow",
    "stability",
    "surrogate",
    "limit_errors",
    "parity",
    "drift_reference.features[].edges",
)
#: Manifest figures counted over every row of the data.
FROM_EVERY_ROW = (
    "data.rows",
    "data.sha256",
    "features[].train_min",
    "features[].train_max",
    "segments[].size",
    "segments[].share",
    "drift_reference.rows",
    "drift_reference.features[].shares",
    "drift_reference.features[].missing_share",
    "drift_reference.segment_shares",
    "migration",
)


def _sample(
    rows: int, capacity: int | None, seed: int, clusters: stages.Clusters, k: int
) -> Sample:
    sizes = np.bincount(clusters.labels, minlength=k)
    return Sample(
        rows=rows,
        capacity=capacity,
        seed=seed,
        method=SAMPLE_METHOD,
        segment_sizes=tuple(int(n) for n in sizes),
        from_sample=FROM_SAMPLE,
        from_every_row=FROM_EVERY_ROW,
    )


def _frame_sha256(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return hashlib.sha256(buffer.getvalue().encode()).hexdigest()


def build_bundle(
    frame: pd.DataFrame,
    out_dir: Path,
    *,
    k: int | None = None,
    k_range: tuple[int, int] = (1, 10),
    seed: int = 42,
    reference_centroids: list[dict[str, float]] | None = None,
    data_sha256: str | None = None,
    data_file: str | None = None,
    progress: bool = True,
    scalable: bool | None = None,
    stability_resamples: int | None = None,
    stability_sample_size: int | None = None,
    published: PublishedModel | None = None,
    base: whole_base.Base | None = None,
) -> BundleSummary:
    """Train on ``frame`` (validated: the 17 schema columns as float64, NaN = missing) and
    write a verified bundle into ``out_dir``.

    ``base`` is the whole customer base ``frame`` was sampled from (its reader, what the
    validating read counted, the sample size asked for): every row of it is scored with
    the exported graph for the manifest's whole-base figures (``data.rows``, segment
    sizes and shares, the drift reference's shares, migration), and ``data.sample`` says
    which figures come from where. None: ``frame`` is the whole base.

    ``reference_centroids`` are the published version's ``segments[i].centroid_raw``
    (index = segment id) so ids stay stable; None on a first training. ``published`` is
    the published model trained against: its centroids stand in for
    ``reference_centroids`` when those are None, and the manifest's ``migration`` records
    how the training rows move from its segments to the new ones. ``scalable``
    None switches to MiniBatchKMeans / sampled fits above ~200k rows.
    ``stability_resamples`` and ``stability_sample_size`` size the bootstrap stability
    check (:mod:`training.stability`, whose defaults None stands for), which may move k
    off an unstable knee.
    Raises :class:`ParityError` (leaving no ``manifest.json``) if ONNX and scikit-learn
    disagree.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle_writer.clear_previous(out_dir)
    raw = frame.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    if base is None:
        base = whole_base.Base(whole_base.FrameChunks(raw), Population.of(raw), None)
    options = stages.Options(
        k, k_range, seed, is_scalable(len(raw), scalable), progress,
        stability_resamples, stability_sample_size,
    )  # fmt: skip
    if reference_centroids is None and published is not None:
        reference_centroids = published.centroids
    clock = StepClock(progress)
    try:
        trained = _train(raw, options, reference_centroids, base, published, clock)
        with clock.step("bundle"):
            source = DataSource(
                data_file,
                data_sha256 or _frame_sha256(frame),
                trained.counts.rows,
                _sample(len(raw), base.sample_rows, seed, trained.clusters, trained.chosen.k),
            )
            draft = _draft(out_dir, trained, source, options, base, published)
        # Every stage's seconds, the last one included; only the manifest's own write
        # (a few milliseconds) is outside them.
        seconds = round(time.perf_counter() - started, 3)
        run = replace(draft.training, seconds=seconds, step_seconds=dict(clock.seconds))
        manifest = bundle_writer.write_manifest(out_dir, replace(draft, training=run))
    finally:
        clock.close()
    return _summary(manifest, trained, out_dir, seconds, len(raw))


@dataclass(frozen=True)
class _Trained:
    """What the fitting stages produced, in the order they ran."""

    data: stages.Preprocessed
    chosen: ElbowResult
    stable: stages.StabilityCheck
    clusters: stages.Clusters
    description: stages.Description
    fit: stages.LimitFit
    exported: stages.Exported
    proof: Parity
    counts: whole_base.Counts


def _train(
    raw: NDArray[np.float64],
    options: stages.Options,
    reference_centroids: list[dict[str, float]] | None,
    base: whole_base.Base,
    published: PublishedModel | None,
    clock: StepClock,
) -> _Trained:
    """The fitting stages, each timed under its name (``StepClock.STEPS``)."""
    with clock.step("preprocess"):
        data = stages.preprocess(raw)
    with clock.step("elbow"):
        first = stages.choose_k(data, options)
    with clock.step("stability"):
        stable = stages.check_stability(data, first, options)
    with clock.step("kmeans"):
        clusters = stages.cluster(data, stable.chosen, options, reference_centroids)
    with clock.step("describe"):
        description = stages.describe(data, clusters, stable, options)
    with clock.step("limit models"):
        fit = stages.fit_limits(data, clusters, options)
    with clock.step("export"):
        exported = stages.export_graphs(data, clusters, fit)
    with clock.step("parity"):
        proof = stages.prove_parity(data, clusters, fit, exported, options)
    with clock.step("whole base"):
        counts = stages.count_whole_base(base, exported, description, published, options)
    return _Trained(
        data, stable.chosen, stable, clusters, description, fit, exported, proof, counts
    )


def _draft(
    out_dir: Path,
    trained: _Trained,
    source: DataSource,
    options: stages.Options,
    base: whole_base.Base,
    published: PublishedModel | None,
) -> Manifest:
    """Write the bundle's files and draft the manifest that lists them."""
    files = stages.bundle_files(out_dir, trained.chosen, trained.exported)
    entries = bundle_writer.write_files(out_dir, files)
    facts = stages.RunFacts(
        source,
        options,
        trained.chosen.algorithm,
        trained.stable.result,
        base.population,
        trained.counts,
        published,
        base.read_seconds,
    )
    return stages.draft_manifest(
        trained.data,
        trained.chosen,
        trained.description,
        trained.fit,
        trained.proof,
        entries,
        facts,
    )


def _summary(
    manifest: Manifest, trained: _Trained, out_dir: Path, seconds: float, sample_rows: int
) -> BundleSummary:
    return BundleSummary(
        version=manifest.version,
        k=manifest.k,
        k_source=trained.chosen.k_source,
        out_dir=out_dir,
        seconds=seconds,
        rows=trained.counts.rows,
        sample_rows=sample_rows,
        segment_names=tuple(s.name for s in manifest.segments),
        labels=trained.clusters.labels,
        algorithm=trained.chosen.algorithm,
        parity_passed=manifest.parity.passed,
        manifest=manifest,
    )
