"""A reference optimiser for paths, built on scipy (test-only): the yardstick of the
hand-written solver.

It poses the same problem independently, in scipy's terms: variables are the movable
coordinates of model space, the cost the squared distance to the customer, the target
region (typical ball, Voronoi half-spaces) and every relation written as smooth
inequality constraints, the purchase identity in the data's units (no linearisation),
and it searches with SLSQP from several starts:

- every case of the zero-together groups (all zero / all non-zero, plus the customer's
  own mixed pattern) with its own box;
- starts: the customer, the target's centre, their midpoint and random points of the
  target's ball (seeded);
- whole counts: from the best continuous answers, each count pinned at every value from
  ``floor - 1`` to ``ceil + 1`` (all combinations) and solved again from two starts.

A candidate counts only if it is valid (the relations module's own ``worsened`` check,
counts whole) and the real model confirms it as a typical member of the target: the same
standard as the solver's answers. It keeps only a hair's margin from the boundaries.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from chalicelib.paths.check import Check
from chalicelib.paths.problem import prepare
from chalicelib.paths.relations import NONZERO_FLOOR, Relations
from chalicelib.paths.space import ModelSpace
from numpy.typing import NDArray
from scipy.optimize import minimize

Array = NDArray[np.float64]

MARGIN = 1e-6  # model-space distance kept from the radius and the boundaries
STARTS = 3  # random starts in the ball, besides the customer, the centre and the midpoint


@dataclass(frozen=True)
class Reference:
    """The reference's best confirmed answer: cost and row (None: nothing confirmed)."""

    cost: float
    row: Array | None
    tried: int


@dataclass(frozen=True)
class _Setup:
    x0: Array
    z0: Array
    movable: NDArray[np.bool_]
    target: int
    gap_allowed: float
    order_allowed: Array


def reference_path(
    space: ModelSpace,
    relations: Relations,
    check: Check,
    x0: Array,
    target: int,
    movable: NDArray[np.bool_],
    seed: int = 0,
) -> Reference:
    """The cheapest valid, confirmed row the reference finds for this customer."""
    identity = relations.identity
    gap0 = float(identity.gap(x0[None], relations.at)[0])
    setup = _Setup(
        x0=x0,
        z0=space.to_model(x0[None])[0],
        movable=movable,
        target=target,
        gap_allowed=max(identity.tolerance, abs(gap0)),
        order_allowed=np.array([o.excess(x0[None], relations.at)[0] for o in relations.orders]),
    )
    rng = np.random.default_rng(seed)
    solutions: list[tuple[float, Array, Array, Array]] = []
    for low, high in _cases(space, relations, setup):
        for z in _multistart(space, relations, setup, low, high, rng):
            solutions.append((_cost(setup, z), z, low, high))
    solutions.sort(key=lambda s: s[0])
    candidates = _whole(space, relations, setup, solutions[:3], rng)
    return _best_confirmed(space, relations, check, setup, candidates)


def _cost(setup: _Setup, z: Array) -> float:
    return float(((z - setup.z0) ** 2).sum())


def _box(space: ModelSpace, relations: Relations, setup: _Setup) -> tuple[Array, Array]:
    """Data-unit box: the ranges (widened to the customer's own breach) and pins, as the
    contract of a valid row defines them (``problem.prepare``; the search is the
    reference's own)."""
    customer = prepare(space, relations, tuple(setup.x0.tolist()), setup.movable)
    return customer.low, customer.high


def _cases(space: ModelSpace, relations: Relations, setup: _Setup) -> list[tuple[Array, Array]]:
    low, high = _box(space, relations, setup)
    per_group = []
    for group in relations.groups:
        members = [relations.at[m] for m in group.members]
        own = tuple(bool(setup.x0[j] == 0.0) for j in members)
        options = []
        for pattern in {(True,) * len(members), (False,) * len(members), own}:
            bounds = {}
            ok = True
            for j, zero in zip(members, pattern, strict=True):
                if not setup.movable[j]:
                    ok &= bool(setup.x0[j] == 0.0) == zero
                    continue
                floor = NONZERO_FLOOR.get(space.kinds[j], 0.0)
                bounds[j] = (0.0, 0.0) if zero else (floor, np.inf)
            if ok:
                options.append(bounds)
        per_group.append(options)
    out = []
    for combination in itertools.product(*per_group):
        lo, hi = low.copy(), high.copy()
        for bounds in combination:
            for j, (a, b) in bounds.items():
                lo[j], hi[j] = max(lo[j], a), min(hi[j], b)
        if (lo <= hi).all():
            out.append((lo, hi))
    return out


def _constraints(
    space: ModelSpace,
    relations: Relations,
    setup: _Setup,
    full: Callable[[Array], Array],
    free: NDArray[np.bool_],
) -> list[dict[str, Any]]:
    """Smooth inequalities (>= 0) on the movable coordinates ``v``, with their gradients."""
    centres, t = space.centroids, setup.target
    radius = space.radius[t] - MARGIN
    others = [j for j in range(space.k) if j != t]
    at = relations.at
    identity = relations.identity
    total, parts = at[identity.total], [at[p] for p in identity.parts]
    signs = np.zeros(space.n)
    signs[total], signs[parts] = 1.0, -1.0
    members = np.zeros(space.n, dtype=bool)
    members[[total, *parts]] = True
    order_rows = np.zeros((len(relations.orders), space.n))
    for i, o in enumerate(relations.orders):
        order_rows[i, at[o.lower]] = -space.scale[at[o.lower]]
        order_rows[i, at[o.upper]] = space.scale[at[o.upper]]

    def region(v: Array) -> Array:
        z = full(v)
        own = ((z - centres[t]) ** 2).sum()
        rest = [((z - centres[j]) ** 2).sum() - own - 2 * MARGIN * radius for j in others]
        return np.array([radius**2 - own, *rest])

    def region_jac(v: Array) -> Array:
        z = full(v)
        rows = [-2.0 * (z - centres[t])] + [2.0 * (centres[t] - centres[j]) for j in others]
        return np.array(rows)[:, free]

    def orders(v: Array) -> Array:
        x = space.to_data(full(v)[None])[0]
        return np.array([
            allowed - (x[at[o.lower]] - x[at[o.upper]])
            for o, allowed in zip(relations.orders, setup.order_allowed, strict=True)
        ])  # fmt: skip

    def gap_parts(v: Array) -> tuple[np.float64, np.float64, Array, Array]:
        x = space.to_data(full(v)[None])[0]
        g = np.float64((signs * x)[members].sum())
        w = np.float64(1.0 + x[members].sum())
        slope = np.where(space.log1p, space.scale * (x + 1.0), space.scale) * members
        return g, w, signs * slope, slope

    def gap(v: Array) -> Array:
        g, w, _, _ = gap_parts(v)
        return np.array([setup.gap_allowed - g, setup.gap_allowed + g]) / w

    def gap_jac(v: Array) -> Array:
        g, w, dg, dw = gap_parts(v)
        a = setup.gap_allowed
        rows = [(-dg * w - (a - g) * dw) / w**2, (dg * w - (a + g) * dw) / w**2]
        return np.array(rows)[:, free]

    return [
        {"type": "ineq", "fun": region, "jac": region_jac},
        {"type": "ineq", "fun": orders, "jac": lambda v: order_rows[:, free]},
        {"type": "ineq", "fun": gap, "jac": gap_jac},
    ]


def _multistart(
    space: ModelSpace,
    relations: Relations,
    setup: _Setup,
    low: Array,
    high: Array,
    rng: np.random.Generator,
) -> list[Array]:
    """SLSQP from several starts in one case's box; the feasible answers (model space)."""
    lo, hi = space.to_model(low[None])[0], space.to_model(high[None])[0]
    free = setup.movable & (lo < hi)
    centre = space.centroids[setup.target]
    starts = [setup.z0, centre, (setup.z0 + centre) / 2]
    for _ in range(STARTS):
        direction = rng.normal(size=space.n)
        starts.append(centre + direction / np.linalg.norm(direction) * rng.uniform(0, 1) * 3)
    return [
        z
        for start in starts
        if (z := _slsqp(space, relations, setup, lo, hi, free, np.clip(start, lo, hi))) is not None
    ]


def _slsqp(
    space: ModelSpace,
    relations: Relations,
    setup: _Setup,
    lo: Array,
    hi: Array,
    free: NDArray[np.bool_],
    start: Array,
) -> Array | None:
    base = np.clip(setup.z0, lo, hi)

    def full(v: Array) -> Array:
        z = base.copy()
        z[free] = v
        return z

    constraints = _constraints(space, relations, setup, full, free)
    bounds = [(a, None if np.isinf(b) else b) for a, b in zip(lo[free], hi[free], strict=True)]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        got = minimize(
            lambda v: float(((full(v) - setup.z0) ** 2).sum()),
            start[free],
            jac=lambda v: 2.0 * (full(v) - setup.z0)[free],
            bounds=bounds,
            constraints=constraints,
            method="SLSQP",
            options={"ftol": 1e-12, "maxiter": 500},
        )
    z = full(got.x)
    with np.errstate(all="ignore"):
        ok = all((c["fun"](got.x) >= -1e-9).all() for c in constraints)
    return z if ok else None


def _whole(
    space: ModelSpace,
    relations: Relations,
    setup: _Setup,
    solutions: Sequence[tuple[float, Array, Array, Array]],
    rng: np.random.Generator,
) -> list[Array]:
    """Counts pinned around the best continuous answers: every value from floor - 1 to
    ceil + 1 around the best one (from it and from the centre), floor and ceil around
    the next two (from themselves)."""
    out = []
    integer = np.flatnonzero(space.integer & setup.movable)
    for rank, (_, z, low, high) in enumerate(solutions):
        x = space.to_data(z[None])[0]
        wide = 1 if rank == 0 else 0
        options = [
            [v for v in range(int(np.floor(x[j])) - wide, int(np.ceil(x[j])) + 1 + wide)
             if low[j] <= v <= high[j]]
            for j in integer
        ]  # fmt: skip
        starts = (z, space.centroids[setup.target]) if rank == 0 else (z,)
        for values in itertools.product(*options):
            lo, hi = low.copy(), high.copy()
            lo[integer] = hi[integer] = values
            zl, zh = space.to_model(lo[None])[0], space.to_model(hi[None])[0]
            free = setup.movable & (zl < zh)
            for start in starts:
                got = _slsqp(space, relations, setup, zl, zh, free, np.clip(start, zl, zh))
                if got is not None:
                    out.append(got)
    del rng
    return out


def _best_confirmed(
    space: ModelSpace, relations: Relations, check: Check, setup: _Setup, candidates: list[Array]
) -> Reference:
    """The cheapest candidate that is valid and that the real model confirms."""
    if not candidates:
        return Reference(np.inf, None, 0)
    xs = space.to_data(np.stack(candidates))
    xs = np.where(setup.movable, xs, setup.x0)
    xs[:, space.integer] = np.round(xs[:, space.integer])
    worse = relations.worsened(np.repeat(setup.x0[None], len(xs), axis=0), xs)
    landings = check([tuple(float(v) for v in row) for row in xs])
    best = Reference(np.inf, None, len(candidates))
    for row, breaches, landing in zip(xs, worse, landings, strict=True):
        confirmed = landing.segment == setup.target and landing.label == "typical"
        cost = _cost(setup, space.to_model(row[None])[0])
        if confirmed and not breaches and cost < best.cost:
            best = Reference(cost, row, len(candidates))
    return best
