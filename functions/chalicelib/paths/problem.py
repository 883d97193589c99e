"""From a customer and a target to the solver's arrays: the relations as constraints.

In model space ``z`` the cost is ``||z - z0||^2`` (the variables that may not change are
pinned, so they add nothing), and every relation becomes one of:

- **a box** ``lo <= z <= hi``: the ranges (amounts >= 0, frequencies in [0, 1], ...) and
  the pinned variables; the transform is monotone, so a range maps to a range;
- **a linear row**: ``lower <= upper`` (frequencies: identity-transformed), and the
  Voronoi half-spaces that make the target the nearest centroid;
- **the ball** of the target's typical radius;
- **a case**: a zero-together group is either all zero (pinned at 0) or all non-zero
  (floored at :data:`~chalicelib.paths.relations.NONZERO_FLOOR`); each combination of the
  groups' cases is a *variant* solved on its own;
- the purchase identity stays for the solver's outer loop (``chalicelib.paths.identity``):
  it is not convex on the log1p'd amounts.

``margin`` keeps the answer off the model's boundaries: the ball's radius and the
half-spaces are pulled in by it (model-space distance), so that the graph's float32
arithmetic and the rounding to the data's units cannot tip a row out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chalicelib.paths.convex import Problems
from chalicelib.paths.relations import NONZERO_FLOOR, Breach, Order, Relations, ZeroTogether
from chalicelib.paths.space import ModelSpace

Array = NDArray[np.float64]

ROUNDING_SLACK = 1e-3
"""Kept inside the purchase identity's tolerance (data units): rounding the three amounts
to 6 decimals moves their gap by at most 1.5e-6, and the solver stops within
``identity.GAP_TOL`` of its band."""
ORDER_SLACK = 2e-6
"""Kept inside a broken order's own excess: rounding to 6 decimals moves it by 1e-6."""
IDENTITY_ROW = -1
"""The purchase identity's (two-sided) row: the last one, an inactive placeholder until
``chalicelib.paths.identity`` linearises it."""


@dataclass(frozen=True)
class Customer:
    """A customer prepared for the solver: filled values, model point, what may move,
    the data-unit box every variant starts from, and the allowances of broken relations."""

    values: tuple[float | None, ...]
    x0: Array
    z0: Array
    movable: NDArray[np.bool_]
    low: Array
    high: Array
    gap0: float  # total - sum(parts) of the purchase identity
    gap_allowed: float  # |gap| may be this large (the tolerance, or the customer's own)
    order_allowed: Array  # per order: how far lower may exceed upper (0, or the customer's)
    flags: tuple[Breach, ...]


@dataclass(frozen=True)
class Variant:
    """One case of the zero-together groups for one customer: its box in data units."""

    customer: int
    target: int
    low: Array
    high: Array


def prepare(
    space: ModelSpace,
    relations: Relations,
    values: tuple[float | None, ...],
    movable: NDArray[np.bool_],
) -> Customer:
    """The customer's box: each range (widened to the customer's own value when it breaks
    it: not worse), the valid bounds, and the pinned variables."""
    x0 = space.fill([values])[0]
    low, high = space.valid_min.copy(), space.valid_max.copy()
    for j, r in enumerate(relations.ranges):
        if r.low is not None:
            low[j] = max(low[j], min(r.low, x0[j]))
        if r.high is not None:
            high[j] = min(high[j], max(r.high, x0[j]))
    low = np.where(movable, low, x0)
    high = np.where(movable, high, x0)
    identity = relations.identity
    gap0 = float(identity.gap(x0[None], relations.at)[0])
    return Customer(
        values=values,
        x0=x0,
        z0=space.to_model(x0[None])[0],
        movable=movable,
        low=low,
        high=high,
        gap0=gap0,
        gap_allowed=max(identity.tolerance, abs(gap0)),
        order_allowed=np.array([o.excess(x0[None], relations.at)[0] for o in relations.orders]),
        flags=relations.breaches(x0[None])[0],
    )


def variants(
    space: ModelSpace, relations: Relations, customer: Customer, index: int, target: int
) -> list[Variant]:
    """Every consistent case of the zero-together groups (plus a group's own mixed pattern
    when the customer's row has one), each as a box; cases a pinned variable rules out
    are dropped."""
    per_group = [_cases(space, relations, customer, g) for g in relations.groups]
    found = []
    for combination in itertools.product(*per_group):
        low, high = customer.low.copy(), customer.high.copy()
        for pins in combination:
            for j, (lo, hi) in pins.items():
                low[j], high[j] = max(low[j], lo), min(high[j], hi)
        _propagate(relations, customer, low, high)
        if (low <= high).all():
            found.append(Variant(index, target, low, high))
    return found


def identity_band(customer: Customer) -> float:
    """The half-width the solver keeps the purchase identity's gap within: the tolerance
    (or the customer's own larger gap) less :data:`ROUNDING_SLACK`."""
    allowed = customer.gap_allowed
    return allowed - min(ROUNDING_SLACK, allowed / 2.0)


def _propagate(relations: Relations, customer: Customer, low: Array, high: Array) -> None:
    """Tighten the identity's amounts' boxes (in place) by what the band implies of each
    given the others' boxes: with the total pinned at zero, each part is at most the band.
    Cheap, and it lets the convex pass alone rule out cases the identity makes empty."""
    identity = relations.identity
    total = relations.at[identity.total]
    parts = [relations.at[p] for p in identity.parts]
    if not customer.movable[[total, *parts]].any():
        return
    band = identity_band(customer)
    for _ in range(2):
        low[total] = max(low[total], sum(low[j] for j in parts) - band)
        high[total] = min(high[total], sum(high[j] for j in parts) + band)
        for j in parts:
            others_low = sum(low[k] for k in parts if k != j)
            others_high = sum(high[k] for k in parts if k != j)
            low[j] = max(low[j], low[total] - band - others_high)
            high[j] = min(high[j], high[total] + band - others_low)


def _cases(
    space: ModelSpace, relations: Relations, customer: Customer, group: ZeroTogether
) -> list[dict[int, tuple[float, float]]]:
    """A group's cases as per-member bounds: zero (0..0) or non-zero (floor..inf)."""
    members = [relations.at[m] for m in group.members]
    own = tuple(customer.x0[j] == 0.0 for j in members)
    patterns = {(True,) * len(members), (False,) * len(members), own}
    cases = []
    for pattern in sorted(patterns):
        bounds: dict[int, tuple[float, float]] = {}
        for j, zero in zip(members, pattern, strict=True):
            if not customer.movable[j]:
                if (customer.x0[j] == 0.0) != zero:
                    break
                continue
            floor = NONZERO_FLOOR.get(space.kinds[j], 0.0)
            bounds[j] = (0.0, 0.0) if zero else (floor, np.inf)
        else:
            cases.append(bounds)
    return cases


def problems(
    space: ModelSpace,
    relations: Relations,
    customers: Sequence[Customer],
    batch: Sequence[Variant],
    margin: Array,
) -> Problems:
    """The convex part of every variant (the identity's row, :data:`IDENTITY_ROW`, left
    inactive: ``chalicelib.paths.identity`` fills it).

    ``margin`` [len(batch)] pulls the ball and the Voronoi half-spaces in (model-space
    distance)."""
    size, n = len(batch), space.n
    rows = space.k + len(relations.orders) + 1
    owner = np.array([v.customer for v in batch])
    target = np.array([v.target for v in batch])
    z0 = np.stack([customers[i].z0 for i in owner.tolist()])
    lo = space.to_model(np.stack([v.low for v in batch]))
    hi = space.to_model(np.stack([v.high for v in batch]))
    A = np.zeros((size, rows, n))
    b = np.ones((size, rows))
    A[:, : space.k], b[:, : space.k] = _voronoi(space, target, margin)
    movable = np.stack([customers[i].movable for i in owner.tolist()])
    allowed = np.stack([customers[i].order_allowed for i in owner.tolist()])
    for row, order in enumerate(relations.orders, start=space.k):
        A[:, row], b[:, row] = _order_row(space, relations, order, allowed[:, row - space.k])
        lower, upper = relations.at[order.lower], relations.at[order.upper]
        both_pinned = ~movable[:, lower] & ~movable[:, upper]
        A[both_pinned, row], b[both_pinned, row] = 0.0, 1.0
    c = space.centroids[target]
    r2 = np.maximum(space.radius[target] - margin, 0.0) ** 2
    return Problems(
        y0=z0,
        w=np.ones_like(z0),
        lo=lo,
        hi=hi,
        A=A,
        bl=np.full((size, rows), -np.inf),
        bu=b,
        cap=np.full((size, rows), np.inf),
        c=c,
        r2=r2,
        ball=np.ones_like(z0),
    )


def _voronoi(space: ModelSpace, target: Array, margin: Array) -> tuple[Array, Array]:
    """Rows ``n_j . z <= d_j``: at least ``margin`` nearer the target's centroid than
    centroid ``j``'s (unit normals; the target's own row is an inactive placeholder)."""
    own = space.centroids[target][:, None, :]  # [N, 1, n]
    others = space.centroids[None, :, :]  # [1, k, n]
    direction = others - own
    length = np.linalg.norm(direction, axis=2)
    same = length == 0.0
    length = np.where(same, 1.0, length)
    normal = direction / length[:, :, None]
    offset = ((others**2).sum(axis=2) - (own**2).sum(axis=2)) / (2.0 * length)
    offset = offset - margin[:, None]
    return np.where(same[:, :, None], 0.0, normal), np.where(same, 1.0, offset)


def _order_row(
    space: ModelSpace, relations: Relations, order: Order, allow: Array
) -> tuple[Array, Array]:
    """``x_lower - x_upper <= allow`` in model space (both identity-transformed)."""
    lo_j, up_j = relations.at[order.lower], relations.at[order.upper]
    if space.log1p[lo_j] or space.log1p[up_j]:
        raise ValueError(f"{order.text} needs variables without log1p")
    row = np.zeros(space.n)
    row[lo_j], row[up_j] = space.scale[lo_j], -space.scale[up_j]
    slack = np.where(allow > 0.0, np.minimum(ORDER_SLACK, allow), 0.0)
    bound = allow - slack - space.mean[lo_j] + space.mean[up_j]
    norm = float(np.linalg.norm(row))
    return np.broadcast_to(row / norm, (len(allow), space.n)), bound / norm
