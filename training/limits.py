"""Per-segment credit-limit benchmarks: P25/P50/P75 of CREDIT_LIMIT from the 16 others.

A look-alike benchmark ("customers like this one in this segment hold about X"), not a
credit decision: the data has no default outcomes.

Each segment's model is judged on a held-out split against two baselines: one global
model, and the segment's own quantiles (a constant). A segment with too few training rows,
or whose model does not beat the global one, uses the global model. The chosen models are
then refitted on every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, mean_pinball_loss
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from training.float32 import float32_grid, snap_thresholds_to_float32

QUANTILES: tuple[float, ...] = (0.25, 0.5, 0.75)
#: OpenMP threads for the gradient-boosting fits and predictions. Each boosting iteration
#: is a few short parallel regions; waking sleeping OpenMP workers for each one (the
#: ``OMP_WAIT_POLICY=PASSIVE`` that ``python -m training`` sets for KMeans) made this step
#: 6.5x slower on an idle 2-core machine (43.6 s against 6.7 s), and spinning workers are
#: slow on a loaded one. One thread is fast in both cases (docs/benchmarks.md, Training).
LIMIT_MODEL_THREADS = 1
#: A segment needs at least this many training rows to get its own model.
MIN_SEGMENT_TRAIN_ROWS = 300
TEST_SHARE = 0.2

QuantileModels = dict[float, HistGradientBoostingRegressor]


@dataclass(frozen=True)
class LimitModels:
    """The fitted models, which segments use their own, and the held-out errors."""

    global_models: QuantileModels
    segment_models: dict[int, QuantileModels]
    errors: dict[str, Any]

    def source(self, segment: int) -> str:
        """``"segment"`` when the segment has its own model, else ``"global"``."""
        return "segment" if segment in self.segment_models else "global"


def _fit(
    X: NDArray[np.float64], y: NDArray[np.float64], seed: int, max_rows: int | None
) -> QuantileModels:
    if max_rows is not None and len(y) > max_rows:
        rows = np.random.default_rng(seed).choice(len(y), size=max_rows, replace=False)
        X, y = X[rows], y[rows]
    models = {q: _regressor(q, seed).fit(X, y) for q in QUANTILES}
    for model in models.values():
        snap_thresholds_to_float32(model)
    return models


def _regressor(quantile: float, seed: int) -> HistGradientBoostingRegressor:
    """Gradient-boosted quantile regression with scikit-learn's defaults.

    Early stopping is automatic (on above 10,000 rows). Tried on the real data: learning
    rate 0.2 with early stopping always on halves the fit time but raised the held-out
    pinball loss from 717 to 728, so the defaults stay.
    """
    return HistGradientBoostingRegressor(loss="quantile", quantile=quantile, random_state=seed)


def _scores(
    predictions: dict[float, NDArray[np.float64]], y: NDArray[np.float64]
) -> dict[str, float]:
    pinball = {q: float(mean_pinball_loss(y, predictions[q], alpha=q)) for q in QUANTILES}
    return {
        "pinball": float(np.mean(list(pinball.values()))),
        "mae_p50": float(mean_absolute_error(y, predictions[0.5])),
        **{f"pinball_p{round(q * 100)}": v for q, v in pinball.items()},
    }


def _predict(models: QuantileModels, X: NDArray[np.float64]) -> dict[float, NDArray[np.float64]]:
    return {q: np.asarray(m.predict(X), dtype=np.float64) for q, m in models.items()}


def fit_limit_models(
    X: NDArray[np.float64],
    y: NDArray[np.float64],
    segments: NDArray[np.int64],
    k: int,
    *,
    seed: int = 42,
    max_fit_rows: int | None = None,
    progress: bool = True,
) -> LimitModels:
    """Evaluate per-segment vs global vs segment-quantile baselines, then refit.

    Rows whose target is missing are dropped here (they still belong to a segment).
    ``max_fit_rows`` caps the rows any one model is fitted on (a fixed-seed sample), so
    training time stays bounded on very large data. Runs on ``LIMIT_MODEL_THREADS``
    OpenMP threads whatever the caller's limit (see there why).
    """
    with threadpool_limits(limits=LIMIT_MODEL_THREADS, user_api="openmp"):
        return _fit_limit_models(X, y, segments, k, seed, max_fit_rows, progress)


@dataclass
class _Split:
    """The rows with a known limit, float32-gridded, split into train and held-out rows."""

    X: NDArray[np.float64]
    y: NDArray[np.float64]
    segments: NDArray[np.int64]
    train: NDArray[np.intp]
    test: NDArray[np.intp]

    @classmethod
    def of(
        cls,
        X: NDArray[np.float64],
        y: NDArray[np.float64],
        segments: NDArray[np.int64],
        seed: int,
        max_test_rows: int | None,
    ) -> _Split:
        known = ~np.isnan(y)
        # Fit and judge on the float32 values the exported graph will see (see export.py).
        X, y, segments = float32_grid(X[known]), y[known], segments[known]
        rows = np.arange(len(y))
        counts = np.bincount(segments)
        stratify = segments if counts[counts > 0].min() >= 2 else None
        train, test = train_test_split(
            rows, test_size=TEST_SHARE, random_state=seed, stratify=stratify
        )
        if max_test_rows is not None and len(test) > max_test_rows:  # judging needs no more
            test = np.sort(np.random.default_rng(seed).choice(test, max_test_rows, replace=False))
        return cls(X, y, segments, train, test)


def _fit_limit_models(
    X: NDArray[np.float64],
    y: NDArray[np.float64],
    segments: NDArray[np.int64],
    k: int,
    seed: int,
    max_fit_rows: int | None,
    progress: bool,
) -> LimitModels:
    split = _Split.of(X, y, segments, seed, max_fit_rows)
    bar = tqdm(total=3 * (1 + 2 * k), desc="limit models: fits", disable=not progress, leave=False)
    global_eval = _fit(split.X[split.train], split.y[split.train], seed, max_fit_rows)
    bar.update(3)
    global_test = _predict(global_eval, split.X[split.test])
    per_segment = {
        str(s): _judge_segment(split, s, global_test, seed, max_fit_rows, bar) for s in range(k)
    }
    use_own = [s for s in range(k) if per_segment[str(s)]["source"] == "segment"]
    errors = {
        "metric": "mean pinball loss over P25/P50/P75 and MAE of P50, on held-out rows",
        "test_share": TEST_SHARE,
        "rows": {"train": len(split.train), "test": len(split.test)},
        "global": _scores(global_test, split.y[split.test]),
        "segments": per_segment,
    }
    bar.total = bar.n + 3 * (1 + len(use_own))  # fallbacks need no fit
    bar.refresh()
    global_models = _fit(split.X, split.y, seed, max_fit_rows)
    bar.update(3)
    segment_models = {}
    for segment in use_own:
        mask = split.segments == segment
        segment_models[segment] = _fit(split.X[mask], split.y[mask], seed, max_fit_rows)
        bar.update(3)
    bar.close()
    return LimitModels(global_models, segment_models, errors)


def _judge_segment(
    split: _Split,
    segment: int,
    global_test: dict[float, NDArray[np.float64]],
    seed: int,
    max_fit_rows: int | None,
    bar: Any,
) -> dict[str, Any]:
    """One segment's held-out errors for the global model, its own quantiles and its own
    model (when it has enough rows), and which one it uses (``source``) and why."""
    seg_train = split.train[split.segments[split.train] == segment]
    in_test = split.segments[split.test] == segment
    seg_test = split.test[in_test]
    entry: dict[str, Any] = {"train_rows": len(seg_train), "test_rows": len(seg_test)}
    if len(seg_test) == 0:
        return {**entry, "source": "global", "reason": "no held-out rows"}
    y_train, y_test = split.y[seg_train], split.y[seg_test]
    entry["global"] = _scores({q: p[in_test] for q, p in global_test.items()}, y_test)
    constant = {q: float(np.quantile(y_train, q)) if len(seg_train) else np.nan for q in QUANTILES}
    entry["segment_median"] = _scores(
        {q: np.full(len(seg_test), constant[q]) for q in QUANTILES}, y_test
    )
    if len(seg_train) < MIN_SEGMENT_TRAIN_ROWS:
        return {
            **entry,
            "source": "global",
            "reason": f"fewer than {MIN_SEGMENT_TRAIN_ROWS} train rows",
        }
    own = _fit(split.X[seg_train], y_train, seed, max_fit_rows)
    bar.update(3)
    entry["segment"] = _scores(_predict(own, split.X[seg_test]), y_test)
    if entry["segment"]["pinball"] < entry["global"]["pinball"]:
        return {**entry, "source": "segment", "reason": "beats the global model on held-out rows"}
    return {**entry, "source": "global", "reason": "does not beat the global model"}
