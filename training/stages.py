"""The named stages of a training run, each a function returning a small typed result.

``pipeline.build_bundle`` runs them in order and times each one; a test can run any of
them alone on the results of the ones before. The work itself lives in one module per
subject (``preprocess``, ``elbow``, ``clustering``, ``profiles``, ``naming``,
``surrogate``, ``segment_map``, ``limits``, ``export``, ``parity``, ``bundle_writer``); a stage
only connects them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from chalicelib.contract.bundle import (
    DriftReference,
    FileEntry,
    LimitModel,
    Manifest,
    Segment,
    Segmenter,
    SegmentLimit,
    SegmentMap,
    TopFeature,
)
from chalicelib.contract.row import ID_FIELD
from chalicelib.contract.training_report import (
    DataSource,
    Migration,
    Parity,
    Stability,
    TrainingRun,
)
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline

from training import (
    bundle_writer,
    drift_reference,
    elbow,
    export,
    limits,
    migration,
    naming,
    parity,
    segment_map,
    stability,
    surrogate,
    whole_base,
)
from training.clustering import KMeansModel, fit_segments, reference_to_model_space
from training.population import Population
from training.preprocess import imputation_values, make_preprocessor, scaler_values
from training.profiles import build_profiles
from training.progress import ReadProgress
from training.schema import FEATURE_NAMES, LIMIT_MODEL_FEATURES, LIMIT_TARGET

SEGMENTER_FILE = "segmenter.onnx"
GLOBAL_LIMIT_FILE = "limit_global.onnx"
ELBOW_PLOT_FILE = "elbow.png"
SEGMENTER_OUTPUTS = ("label", "distances", "scaled")
#: In scalable mode, no single limit model is fitted (or judged) on more rows than this.
SCALABLE_LIMIT_FIT_ROWS = 50_000
#: In scalable mode, the limit graphs' parity is checked on this many sampled rows.
SCALABLE_LIMIT_PARITY_ROWS = 100_000


def limit_file(segment: int) -> str:
    """The file of a segment's own limit model."""
    return f"limit_segment_{segment}.onnx"


@dataclass(frozen=True)
class Options:
    """What the caller chose for this run (None: the module's default)."""

    k: int | None
    k_range: tuple[int, int]
    seed: int
    scalable: bool
    progress: bool
    stability_resamples: int | None = None
    stability_sample_size: int | None = None


@dataclass(frozen=True)
class Preprocessed:
    """The fitted preprocessor and every row in original units and in model space."""

    preprocessor: Pipeline
    raw: NDArray[np.float64]
    scaled: NDArray[np.float64]


@dataclass(frozen=True)
class StabilityCheck:
    """The bootstrap check and the k it settled on (the elbow's, or the nearest stable one)."""

    result: stability.StabilityResult
    chosen: elbow.ElbowResult
    rule: str
    rule_k: int
    reason: str | None


@dataclass(frozen=True)
class Clusters:
    """KMeans with canonical ids: the model, each row's id, the centroids in model space."""

    model: KMeansModel
    labels: NDArray[np.int64]
    centers: NDArray[np.float64]


@dataclass(frozen=True)
class Description:
    """What the segments are, from the rows fitted on: profiles, names and actions,
    surrogate rules, the 2-D map, each segment's stability, and those rows' distribution
    (``drift_reference``: its decile edges become the bundle's bins; the bundle's shares
    are counted over every row of the data by :func:`count_whole_base`)."""

    profiles: list[dict[str, Any]]
    names: list[dict[str, str]]
    surrogate: surrogate.Surrogate
    map: dict[str, Any]
    drift_reference: DriftReference
    stability: Stability

    @property
    def drift_edges(self) -> list[NDArray[np.float64]]:
        return [np.asarray(f.edges, dtype=np.float64) for f in self.drift_reference.features]


@dataclass(frozen=True)
class LimitFit:
    """The credit-limit models and the limit-model inputs of every row."""

    models: limits.LimitModels
    features: NDArray[np.float64]

    def file_of(self, segment: int) -> str:
        own = self.models.source(segment) == "segment"
        return limit_file(segment) if own else GLOBAL_LIMIT_FILE


@dataclass(frozen=True)
class Exported:
    """The ONNX graphs, as bytes, by bundle file name."""

    segmenter: bytes
    limit_graphs: tuple[parity.LimitGraph, ...]

    def files(self) -> dict[str, bytes]:
        return {SEGMENTER_FILE: self.segmenter} | {g.file: g.onnx_bytes for g in self.limit_graphs}


# -- the stages, in order ------------------------------------------------------------


def preprocess(raw: NDArray[np.float64]) -> Preprocessed:
    """Fit imputation, log1p and scaling on every row; return both spaces."""
    preprocessor = make_preprocessor().fit(raw)
    scaled = np.asarray(preprocessor.transform(raw), dtype=np.float64)
    return Preprocessed(preprocessor, raw, scaled)


def choose_k(data: Preprocessed, options: Options) -> elbow.ElbowResult:
    """The elbow analysis over ``options.k_range`` and the chosen k."""
    return elbow.analyse(
        data.scaled,
        options.k_range,
        seed=options.seed,
        k_override=options.k,
        scalable=options.scalable,
        progress=options.progress,
    )


def check_stability(
    data: Preprocessed, chosen: elbow.ElbowResult, options: Options
) -> StabilityCheck:
    """Bootstrap stability per k; may move k off an unstable knee (``training.stability``)."""
    result = stability.assess(
        data.scaled,
        {k: np.asarray(m.predict(data.scaled), dtype=np.int64) for k, m in chosen.models.items()},
        seed=options.seed,
        resamples=_or_default(options.stability_resamples, stability.RESAMPLES),
        sample_size=_or_default(options.stability_sample_size, stability.SAMPLE_SIZE),
        scalable=options.scalable,
        progress=options.progress,
    )
    settled, reason = stability.apply_choice(chosen, result)
    return StabilityCheck(result, settled, chosen.k_source, chosen.k, reason)


def _or_default(value: int | None, default: int) -> int:
    return default if value is None else value


def cluster(
    data: Preprocessed,
    chosen: elbow.ElbowResult,
    options: Options,
    reference_centroids: list[dict[str, float]] | None,
) -> Clusters:
    """KMeans at the chosen k (reusing the elbow's fit), ids matched to ``reference``."""
    reference = (
        reference_to_model_space(data.preprocessor, reference_centroids)
        if reference_centroids
        else None
    )
    model, labels = fit_segments(
        data.scaled,
        chosen.k,
        options.seed,
        scalable=options.scalable,
        fitted=chosen.models.get(chosen.k),
        reference_centers=reference,
    )
    return Clusters(model, labels, np.asarray(model.cluster_centers_, dtype=np.float64))


def describe(
    data: Preprocessed, clusters: Clusters, stable: StabilityCheck, options: Options
) -> Description:
    """Profiles, names, surrogate rules (on imputed original units), the 2-D map, the
    training distribution and each segment's stability."""
    profiles = build_profiles(
        data.raw, data.scaled, clusters.labels, clusters.centers, data.preprocessor
    )
    names = naming.name_segments(profiles)
    imputer = data.preprocessor.named_steps["impute"]
    imputed = np.asarray(imputer.transform(data.raw), dtype=np.float64)
    k = len(clusters.centers)
    seed = options.seed
    runs = stability.runs_for(stable.result, data.scaled, k, scalable=options.scalable)
    return Description(
        profiles=profiles,
        names=names,
        surrogate=surrogate.fit_surrogate(imputed, clusters.labels, k, seed),
        map=segment_map.build_map(data.scaled, clusters.labels, clusters.centers, seed),
        drift_reference=drift_reference.build(data.raw, FEATURE_NAMES, clusters.labels, k),
        stability=stability.section(
            stable.result,
            rule=stable.rule,
            rule_k=stable.rule_k,
            k=k,
            reason=stable.reason,
            jaccard=stability.segment_jaccard(clusters.labels, k, runs),
        ),
    )


def fit_limits(data: Preprocessed, clusters: Clusters, options: Options) -> LimitFit:
    """Per-segment credit-limit quantile models (or the global fallback), judged held-out."""
    columns = [FEATURE_NAMES.index(name) for name in LIMIT_MODEL_FEATURES]
    features = data.raw[:, columns]
    models = limits.fit_limit_models(
        features,
        data.raw[:, FEATURE_NAMES.index(LIMIT_TARGET)],
        clusters.labels,
        len(clusters.centers),
        seed=options.seed,
        max_fit_rows=SCALABLE_LIMIT_FIT_ROWS if options.scalable else None,
        progress=options.progress,
    )
    return LimitFit(models, features)


def export_graphs(data: Preprocessed, clusters: Clusters, fit: LimitFit) -> Exported:
    """The segmenter and one limit graph per model in use, serialized to ONNX."""
    n_features = fit.features.shape[1]
    graphs = [(GLOBAL_LIMIT_FILE, fit.models.global_models)]
    graphs += [(limit_file(s), m) for s, m in sorted(fit.models.segment_models.items())]
    return Exported(
        segmenter=export.export_segmenter(data.preprocessor, clusters.centers),
        limit_graphs=tuple(
            parity.LimitGraph(name, export.export_quantile_models(models, n_features), models)
            for name, models in graphs
        ),
    )


def prove_parity(
    data: Preprocessed, clusters: Clusters, fit: LimitFit, exported: Exported, options: Options
) -> Parity:
    """The parity proof (raises ParityError): the manifest's ``parity`` section."""
    rows = parity.rows_to_check(
        len(data.raw), options.seed, SCALABLE_LIMIT_PARITY_ROWS if options.scalable else None
    )
    result = parity.prove(
        exported.segmenter,
        data.raw,
        data.preprocessor,
        clusters.model,
        exported.limit_graphs,
        fit.features,
        rows,
    )
    known = ("passed", "rows", "label_agreement")
    return Parity(
        passed=result["passed"],
        rows=result["rows"],
        label_agreement=result["label_agreement"],
        extra={k: v for k, v in result.items() if k not in known},
    )


def count_whole_base(
    base: whole_base.Base,
    exported: Exported,
    description: Description,
    published: migration.PublishedModel | None,
    options: Options,
) -> whole_base.Counts:
    """Every row of the data scored with the exported segmenter (the second read of the
    file): segment sizes, drift-bin and missing counts, migration from ``published``."""
    k = len(description.profiles)
    total = base.reader.total_bytes
    with ReadProgress("whole base: scoring", total, enabled=options.progress) as progress:
        return whole_base.count(
            base, exported.segmenter, k, description.drift_edges, published, progress
        )


def bundle_files(out_dir: Path, chosen: elbow.ElbowResult, exported: Exported) -> dict[str, bytes]:
    """Draw the elbow plot; every bundle file but the manifest, by name."""
    plot_path = out_dir / ELBOW_PLOT_FILE
    elbow.plot(chosen, plot_path)
    return exported.files() | {ELBOW_PLOT_FILE: plot_path.read_bytes()}


@dataclass(frozen=True)
class RunFacts:
    """What the manifest records about the run itself, and the figures of every row."""

    data: DataSource
    options: Options
    algorithm: str
    stability: stability.StabilityResult
    population: Population
    counts: whole_base.Counts
    published: migration.PublishedModel | None = None
    read_seconds: float | None = None


def draft_manifest(
    data: Preprocessed,
    chosen: elbow.ElbowResult,
    description: Description,
    fit: LimitFit,
    proof: Parity,
    files: dict[str, FileEntry],
    facts: RunFacts,
) -> Manifest:
    """Every manifest section; the version, build time and seconds are filled in last."""
    options = facts.options
    resamples = facts.stability.resamples
    defaults = imputation_values(data.preprocessor)
    return Manifest(
        version="",
        created_at="",
        k=chosen.k,
        features=bundle_writer.feature_catalogue(
            facts.population, defaults, scaler_values(data.preprocessor)
        ),
        id_field=ID_FIELD,
        files=files,
        segmenter=Segmenter(SEGMENTER_FILE, "features", SEGMENTER_OUTPUTS),
        limit_model=LimitModel(
            target=LIMIT_TARGET,
            features=LIMIT_MODEL_FEATURES,
            quantiles=tuple(limits.QUANTILES),
            global_file=GLOBAL_LIMIT_FILE,
        ),
        segments=_segments(description, fit, facts.counts),
        map=SegmentMap(
            components=tuple(tuple(row) for row in description.map["components"]),
            mean=tuple(description.map["mean"]),
            extra={k: v for k, v in description.map.items() if k not in {"components", "mean"}},
        ),
        elbow=chosen.section(),
        drift_reference=_every_row_reference(description, facts.counts),
        stability=description.stability,
        migration=_every_row_migration(description, facts),
        surrogate=description.surrogate.section(),
        limit_errors=fit.models.errors,
        parity=proof,
        data=facts.data,
        libraries=bundle_writer.library_versions(),
        training=TrainingRun(
            seed=options.seed,
            algorithm=facts.algorithm,
            seconds=0.0,
            step_seconds={},
            extra={
                "scalable": options.scalable,
                "k_range": list(options.k_range),
                "limit_fit_rows_cap": SCALABLE_LIMIT_FIT_ROWS if options.scalable else None,
                "stability_resamples": resamples,
                "stability_sample_size": facts.stability.sample_size,
                # The first read of the data (validate + sample), before build_bundle.
                "read_seconds": facts.read_seconds,
            },
        ),
    )


def _every_row_reference(description: Description, counts: whole_base.Counts) -> DriftReference:
    """The drift reference: the sample's decile edges, every row's shares."""
    return drift_reference.from_counts(
        FEATURE_NAMES,
        description.drift_edges,
        counts.bin_counts,
        counts.missing,
        counts.rows,
        counts.segment_sizes,
    )


def _every_row_migration(description: Description, facts: RunFacts) -> Migration | None:
    """Every row's move from the published model's segments (None: no published model)."""
    if facts.published is None or facts.counts.migration is None:
        return None
    names = [n["name"] for n in description.names]
    return migration.from_matrix(facts.published, facts.counts.migration, names)


def _segments(
    description: Description, fit: LimitFit, counts: whole_base.Counts
) -> tuple[Segment, ...]:
    """The manifest's segments, every field named once: the profile (``training.profiles``;
    ``size`` and ``share`` count every row of the data), the name (``training.naming``),
    the surrogate's rules and the limit graph in use."""
    segments = []
    for profile, named in zip(description.profiles, description.names, strict=True):
        segment = int(profile["id"])
        size = int(counts.segment_sizes[segment])
        segments.append(
            Segment(
                id=segment,
                name=named["name"],
                description=named["description"],
                action=named["action"],
                naming_rule=named["naming_rule"],
                size=size,
                share=round(size / counts.rows, 6),
                std_diff=profile["std_diff"],
                top_features=tuple(TopFeature(**top) for top in profile["top_features"]),
                example=profile["example"],
                medians=profile["medians"],
                rules=tuple(description.surrogate.rules[segment]),
                centroid_raw=profile["centroid_raw"],
                centroid=tuple(profile["centroid"]),
                distance_percentiles=tuple(profile["distance_percentiles"]),
                limit_model=SegmentLimit(fit.file_of(segment), fit.models.source(segment)),
            )
        )
    return tuple(segments)
