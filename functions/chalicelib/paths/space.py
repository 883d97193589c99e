"""The model's own space, rebuilt from the bundle's manifest: what a path is measured in.

The segmenter graph imputes a missing value with the training median, applies ``log1p``
to the skewed amounts and counts, and standardises; then it assigns the nearest centroid.
A path is a point of that space mapped back to the data's units, so the solver needs the
same three steps, forwards and backwards, with the very numbers training wrote into the
manifest (``features[].default``, ``log1p``, ``scaler_mean``, ``scaler_scale``), plus each
segment's centroid and the members' distance percentiles that define a *typical* member.
Nothing here is copied from training: a bundle without the scaler's numbers has no paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chalicelib.contract.bundle import Manifest
from chalicelib.scoring.model import TYPICAL_UP_TO

Array = NDArray[np.float64]

#: Decimals a proposed value is written with: six, as the data set writes amounts and
#: frequencies (a client shows money to the cent). Rounding to the cent here would move a
#: small amount's log1p enough to cost up to ~1 % more on the nearest customers.
DECIMALS = 6
WHOLE_DECIMALS = 0
MONTHS = "months"
"""The feature kind of time on the books (``TENURE``): not a customer's behaviour."""


class NoModelSpace(ValueError):
    """The bundle lacks what the inverse mapping needs (trained before it was written)."""


@dataclass(frozen=True)
class ModelSpace:
    """Per feature (graph column order) the transform's numbers, and per segment its
    centroid and typical radius, all as float64 arrays.

    ``radius[t]`` is the distance at the :data:`~chalicelib.scoring.model.TYPICAL_UP_TO`
    percentile of segment ``t``'s members: a point is a typical member of ``t`` when it is
    nearest to ``centroids[t]`` and no farther from it than ``radius[t]``.

    ``immutable``: the features counted in months (the tenure: time, not behaviour): a
    request may not ask to change them. ``default_fixed``: what a path leaves alone unless
    asked: the immutable features and the variable the limit models benchmark
    (``limit_model.target``, the credit limit: the issuer's lever, not the customer's; a
    request may name it).
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    integer: NDArray[np.bool_]
    log1p: NDArray[np.bool_]
    default: Array
    mean: Array
    scale: Array
    valid_min: Array  # -inf where none
    valid_max: Array  # +inf where none
    centroids: Array  # [k, n]
    radius: Array  # [k]
    segment_names: tuple[str, ...]
    immutable: tuple[str, ...]
    default_fixed: tuple[str, ...]

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> ModelSpace:
        """Read the transform and the segments; :class:`NoModelSpace` if numbers are missing."""
        features = manifest.features
        lacking = [
            f.name
            for f in features
            if f.scaler_mean is None or f.scaler_scale is None or f.default is None
        ]
        if lacking:
            raise NoModelSpace(
                f"bundle {manifest.version} lacks the scaler's numbers or a default for "
                f"{', '.join(lacking)}: retrain with this release to get paths"
            )

        def column(values: Sequence[float | None], missing: float) -> Array:
            return np.array([missing if v is None else v for v in values], np.float64)

        immutable = tuple(f.name for f in features if f.kind == MONTHS)

        return cls(
            names=manifest.feature_names,
            kinds=tuple(f.kind for f in features),
            integer=np.array([f.integer for f in features]),
            log1p=np.array([f.log1p for f in features]),
            default=column([f.default for f in features], np.nan),
            mean=column([f.scaler_mean for f in features], np.nan),
            scale=column([f.scaler_scale for f in features], np.nan),
            valid_min=column([f.valid_min for f in features], -np.inf),
            valid_max=column([f.valid_max for f in features], np.inf),
            centroids=np.array([s.centroid for s in manifest.segments], np.float64),
            radius=np.array([_typical_radius(s.distance_percentiles) for s in manifest.segments]),
            segment_names=tuple(s.name for s in manifest.segments),
            immutable=immutable,
            default_fixed=tuple(dict.fromkeys([*immutable, manifest.limit_model.target])),
        )

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def n(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def decimals(self) -> NDArray[np.int64]:
        """Per feature, the decimals a proposed value is rounded to (:data:`DECIMALS`;
        none for whole numbers)."""
        return np.where(self.integer, WHOLE_DECIMALS, DECIMALS)

    def fill(self, values: Sequence[Sequence[float | None]]) -> Array:
        """Rows of raw values (``None`` = missing) with the imputation defaults filled in."""
        rows = np.array(
            [[np.nan if v is None else v for v in row] for row in values], np.float64
        ).reshape(len(values), self.n)
        return np.where(np.isnan(rows), self.default, rows)

    def to_model(self, x: Array) -> Array:
        """Raw (filled) values -> model space, as the graph computes it (in float64)."""
        return (self.transformed(x) - self.mean) / self.scale

    def transformed(self, x: Array) -> Array:
        """Raw values -> log1p-or-identity values (the scaler's input)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.log1p, np.log1p(np.maximum(x, -1.0 + 1e-300)), x)

    def to_data(self, z: Array) -> Array:
        """Model space -> raw values (no rounding)."""
        u = z * self.scale + self.mean
        with np.errstate(over="ignore"):
            return np.where(self.log1p, np.expm1(u), u)


def _typical_radius(percentiles: Sequence[float]) -> float:
    """The members' distance at :data:`TYPICAL_UP_TO`, read from the percentile table
    (0, 1, ..., 100) the scorer interpolates in."""
    table = np.asarray(percentiles, np.float64)
    grid = np.linspace(0.0, 100.0, table.size)
    return float(np.interp(TYPICAL_UP_TO, grid, table))
