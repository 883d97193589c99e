"""From a validated data frame to a verified bundle directory: the training pipeline.

preprocess -> elbow + knee -> KMeans with canonical ids -> profiles, names, surrogate
rules, map -> per-segment limit models -> ONNX export -> parity proof -> bundle files,
``manifest.json`` last. Each step lives in its own module; this one only orders them.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from tqdm import tqdm

from training import (
    bundle,
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
)
from training.clustering import fit_segments, is_scalable, reference_to_model_space
from training.parity import ParityError
from training.preprocess import imputation_values, make_preprocessor
from training.profiles import build_profiles
from training.schema import FEATURE_NAMES, LIMIT_MODEL_FEATURES, LIMIT_TARGET

__all__ = ["BundleSummary", "ParityError", "build_bundle"]

#: In scalable mode, no single limit model is fitted (or judged) on more rows than this.
SCALABLE_LIMIT_FIT_ROWS = 50_000
#: In scalable mode, the limit graphs' parity is checked on this many sampled rows.
SCALABLE_LIMIT_PARITY_ROWS = 100_000


@dataclass(frozen=True)
class BundleSummary:
    """What a training run produced, for the CLI's summary line and for tests."""

    version: str
    k: int
    k_source: str
    out_dir: Path
    seconds: float
    rows: int
    segment_names: tuple[str, ...]
    labels: NDArray[np.int64]
    algorithm: str
    parity_passed: bool
    manifest: dict[str, Any]

    def one_line(self) -> str:
        """One line for the end of a CLI run."""
        names = ", ".join(f"{i}={n}" for i, n in enumerate(self.segment_names))
        return (
            f"bundle {self.version}: {self.rows} rows, k={self.k} ({self.k_source}), "
            f"{self.algorithm}, parity ok, {self.seconds:.1f}s -> {self.out_dir} [{names}]"
        )


class _StepClock:
    """A progress bar over the pipeline's steps that also records each step's seconds."""

    STEPS = 8

    def __init__(self, progress: bool) -> None:
        self._bar = tqdm(total=self.STEPS, desc="training", disable=not progress, unit="step")
        self.seconds: dict[str, float] = {}
        self._current: str | None = None
        self._started = 0.0

    def begin(self, step: str) -> None:
        """End the running step (if any) and start ``step``."""
        self._finish()
        self._current, self._started = step, time.perf_counter()
        self._bar.set_postfix_str(step)

    def close(self) -> None:
        self._finish()
        self._bar.close()

    def _finish(self) -> None:
        if self._current is not None:
            self.seconds[self._current] = round(time.perf_counter() - self._started, 3)
            self._bar.update()
            self._current = None


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
    published: migration.PublishedModel | None = None,
) -> BundleSummary:
    """Train on ``frame`` (validated: the 17 schema columns as float64, NaN = missing) and
    write a verified bundle into ``out_dir``.

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
    bundle.clear_previous(out_dir)
    raw = frame.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    n = len(raw)
    large = is_scalable(n, scalable)
    steps = _StepClock(progress)

    steps.begin("preprocess")
    preprocessor = make_preprocessor().fit(raw)
    scaled = np.asarray(preprocessor.transform(raw), dtype=np.float64)

    steps.begin("elbow")
    chosen = elbow.analyse(
        scaled, k_range, seed=seed, k_override=k, scalable=large, progress=progress
    )

    steps.begin("stability")
    stable = stability.assess(
        scaled,
        {k_: np.asarray(m.predict(scaled), dtype=np.int64) for k_, m in chosen.models.items()},
        seed=seed,
        resamples=stability.RESAMPLES if stability_resamples is None else stability_resamples,
        sample_size=stability.SAMPLE_SIZE
        if stability_sample_size is None
        else stability_sample_size,
        scalable=large,
        progress=progress,
    )
    rule, rule_k = chosen.k_source, chosen.k
    chosen, k_reason = stability.apply_choice(chosen, stable)

    steps.begin("kmeans")
    if reference_centroids is None and published is not None:
        reference_centroids = published.centroids
    reference = (
        reference_to_model_space(preprocessor, reference_centroids) if reference_centroids else None
    )
    model, labels = fit_segments(
        scaled,
        chosen.k,
        seed,
        scalable=large,
        fitted=chosen.models.get(chosen.k),
        reference_centers=reference,
    )
    centers = np.asarray(model.cluster_centers_, dtype=np.float64)
    stability_json = stability.to_json(
        stable,
        rule=rule,
        rule_k=rule_k,
        k=chosen.k,
        reason=k_reason,
        jaccard=stability.segment_jaccard(
            labels, chosen.k, stability.runs_for(stable, scaled, chosen.k, scalable=large)
        ),
    )

    steps.begin("profiles")
    profiles = build_profiles(raw, scaled, labels, centers, preprocessor)
    names = naming.name_segments(profiles)
    imputed_raw = np.asarray(preprocessor.named_steps["impute"].transform(raw), dtype=np.float64)
    tree = surrogate.fit_surrogate(imputed_raw, labels, chosen.k, seed)
    seg_map = segment_map.build_map(scaled, labels, centers, seed)
    migration_json = (
        migration.to_json(
            published,
            migration.published_labels(published, raw, FEATURE_NAMES),
            labels,
            [n["name"] for n in names],
        )
        if published is not None
        else None
    )

    steps.begin("limit models")
    limit_columns = [FEATURE_NAMES.index(name) for name in LIMIT_MODEL_FEATURES]
    limit_raw = raw[:, limit_columns]
    target = raw[:, FEATURE_NAMES.index(LIMIT_TARGET)]
    limit_models = limits.fit_limit_models(
        limit_raw,
        target,
        labels,
        chosen.k,
        seed=seed,
        max_fit_rows=SCALABLE_LIMIT_FIT_ROWS if large else None,
        progress=progress,
    )

    steps.begin("export + parity")
    files: dict[str, bytes] = {"segmenter.onnx": export.export_segmenter(preprocessor, centers)}
    # Tree decisions are exact by construction (export.snap_thresholds_to_float32), so on
    # large data the limit graphs are checked on a fixed-seed sample: scikit-learn's tree
    # prediction is the slowest step at a million rows.
    checked = _parity_rows(n, seed, SCALABLE_LIMIT_PARITY_ROWS if large else None)
    references = [
        _limit_reference("limit_global.onnx", limit_models.global_models, limit_raw[checked])
    ]
    for segment, models in sorted(limit_models.segment_models.items()):
        references.append(
            _limit_reference(f"limit_segment_{segment}.onnx", models, limit_raw[checked])
        )
    files.update({ref.file: ref.onnx_bytes for ref in references})
    # scikit-learn's answers on the float32 values the graphs receive.
    scaled32 = np.asarray(preprocessor.transform(export.float32_grid(raw)), dtype=np.float64)
    parity_result = parity.verdict(
        parity.check_segmenter(
            files["segmenter.onnx"],
            raw,
            np.asarray(model.predict(scaled32), dtype=np.int64),
            np.asarray(model.transform(scaled32), dtype=np.float64),
            scaled32,
        ),
        parity.check_limits(limit_raw[checked], references),
    )
    parity_result["limit_rows_checked"] = len(checked)

    steps.begin("bundle")
    segments = []
    for profile, named in zip(profiles, names, strict=True):
        segment = profile["id"]
        own = limit_models.source(segment) == "segment"
        segments.append(
            {
                "id": segment,
                **named,
                **{key: value for key, value in profile.items() if key != "id"},
                "rules": tree.rules[segment],
                "limit_model": {
                    "file": f"limit_segment_{segment}.onnx" if own else "limit_global.onnx",
                    "source": limit_models.source(segment),
                },
            }
        )
    seconds = time.perf_counter() - started
    elbow_json = chosen.to_json()
    metrics = {
        "elbow": elbow_json,
        "stability": stability_json,
        "clustering": {
            "k": chosen.k,
            "algorithm": chosen.algorithm,
            "wcss": float(chosen.wcss[chosen.k_values.index(chosen.k)])
            if chosen.k in chosen.k_values
            else None,
            "silhouette": chosen.silhouette.get(chosen.k),
            "calinski_harabasz": chosen.calinski_harabasz.get(chosen.k),
            "davies_bouldin": chosen.davies_bouldin.get(chosen.k),
        },
        "surrogate": tree.to_json(),
        "limit_errors": limit_models.errors,
    }
    plot_path = out_dir / "elbow.png"
    elbow.plot(chosen, plot_path)
    files["elbow.png"] = plot_path.read_bytes()
    files["elbow.json"] = bundle.to_json_bytes(elbow_json)
    files["profiles.json"] = bundle.to_json_bytes(segments)
    files["metrics.json"] = bundle.to_json_bytes(metrics)
    manifest = bundle.write_bundle(
        out_dir,
        files,
        {
            "k": chosen.k,
            "features": bundle.feature_catalogue(raw, imputation_values(preprocessor)),
            "segmenter": {
                "file": "segmenter.onnx",
                "input": "features",
                "outputs": ["label", "distances", "scaled"],
            },
            "limit_model": {
                "features": list(LIMIT_MODEL_FEATURES),
                "quantiles": list(limits.QUANTILES),
                "global_file": "limit_global.onnx",
            },
            "segments": segments,
            "map": seg_map,
            "elbow": elbow_json,
            "stability": stability_json,
            "migration": migration_json,
            "drift_reference": drift_reference.build(raw, FEATURE_NAMES, labels, chosen.k),
            "surrogate": tree.to_json(),
            "limit_errors": limit_models.errors,
            "parity": parity_result,
            "data": {
                "file": data_file,
                "sha256": data_sha256 or _frame_sha256(frame),
                "rows": n,
            },
            "libraries": bundle.library_versions(),
            "training": {
                "seed": seed,
                "algorithm": chosen.algorithm,
                "scalable": large,
                "seconds": round(seconds, 3),
                "k_range": list(k_range),
                "limit_fit_rows_cap": SCALABLE_LIMIT_FIT_ROWS if large else None,
                "limit_parity_rows": len(checked),
                "step_seconds": dict(steps.seconds),
                "stability_resamples": stable.resamples,
                "stability_sample_size": stable.sample_size,
            },
        },
    )
    steps.close()
    return BundleSummary(
        version=manifest["version"],
        k=chosen.k,
        k_source=chosen.k_source,
        out_dir=out_dir,
        seconds=seconds,
        rows=n,
        segment_names=tuple(s["name"] for s in segments),
        labels=labels,
        algorithm=chosen.algorithm,
        parity_passed=True,
        manifest=manifest,
    )


def _parity_rows(n: int, seed: int, cap: int | None) -> NDArray[np.intp]:
    """Every row, or a sorted fixed-seed sample of ``cap`` rows when there are more."""
    if cap is None or n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


def _limit_reference(
    file: str, models: limits.QuantileModels, limit_raw: NDArray[np.float64]
) -> parity.LimitReference:
    return parity.LimitReference(
        file=file,
        onnx_bytes=export.export_quantile_models(models, limit_raw.shape[1]),
        expected={
            q: np.asarray(m.predict(export.float32_grid(limit_raw)), dtype=np.float64)
            for q, m in models.items()
        },
    )
