"""A small batched solver for the convex core of a path: the nearest point in a box,
under a few linear constraints, inside a ball.

For each of ``N`` independent problems (rows of the arrays)::

    minimise   sum_i w_i (y_i - y0_i)^2        (w > 0; w = 1: squared distance)
    subject to lo <= y <= hi                   (lo == hi pins a coordinate)
               bl <= A y <= bu                 (m rows; bl = -inf: a one-sided row)
               sum_i b_i (y_i - c_i)^2 <= r2   (one ball; b_i in {0, 1} picks its coordinates)

A row may be *soft*: its multiplier is capped at ``cap`` (an exact penalty
``cap * violation`` instead of a hard row), which keeps a linearised constraint from
making a problem infeasible while an outer loop is still far from its answer.

Why a hand-written solver: serving may not carry scipy (too large for the Lambda package),
and the problem is tiny and regular (17 coordinates, a handful of rows besides the box).
Everything but the box is dualised: for row multipliers ``lam`` (>= 0 on a one-sided row;
of either sign on a two-sided one, positive when its upper side binds) and ``mu >= 0``,
the Lagrangian's minimiser over the box is closed form,

    y(lam, mu) = clip((w y0 + mu c - A^T lam / 2) / (w + mu), lo, hi)

The dual function is concave; away from ``lam_i = 0`` its gradient is the binding side's
residual ``G`` and, where no clip is at a kink, its Hessian is ``-J D (w + mu)^-1 J^T / 2``
(``J`` the constraint Jacobian, ``D`` the unclipped coordinates). It is maximised by a
projected Newton method (Bertsekas 1982): a multiplier at a limit whose gradient points
outwards is held there, Newton runs on the rest, and an Armijo search runs along the
projected path (a two-sided row's multiplier stops at zero rather than change sign in one
step). Every iterate's ``y`` is in the box, and the problems of a batch advance together
(numpy), so a one-customer request and a whole-portfolio sweep share the code.

A hard constraint set that is empty shows as a dual that grows past any feasible cost:
such problems stop with ``feasible = False``. The tests compare the answers with scipy.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Mask = NDArray[np.bool_]

FEASIBILITY_TOL = 1e-9
"""Largest violation of a hard constraint in an answer, relative to the size of its bound
(model-space units, unit rows): 1e-9 of a row's bound is rounding, not a violation."""
STALLED_TOL = 1e-6
"""When the dual stops rising (rounding), a solution within this of KKT is taken."""
MAX_ITERATIONS = 80
_ARMIJO = 1e-4
_MAX_TRIALS = 40
_MAX_STRETCHES = 12


@dataclass(frozen=True)
class Problems:
    """``N`` problems of the same shape: ``n`` coordinates, ``m`` linear rows. An all-zero
    row with ``bl <= 0 <= bu`` is an inactive placeholder (problems with fewer constraints
    share the batch that way)."""

    y0: Array  # [N, n] the point to stay near
    w: Array  # [N, n] the objective's weights (> 0)
    lo: Array  # [N, n]
    hi: Array  # [N, n] (may be +inf)
    A: Array  # [N, m, n]
    bl: Array  # [N, m] (-inf: one-sided)
    bu: Array  # [N, m]
    cap: Array  # [N, m] largest |multiplier| (inf: a hard row)
    c: Array  # [N, n] ball centre
    r2: Array  # [N] squared ball radius
    ball: Array  # [N, n] 1.0 for a coordinate the ball counts, else 0.0

    @property
    def size(self) -> int:
        return int(self.y0.shape[0])

    def take(self, rows: NDArray[np.intp]) -> Problems:
        """The problems at ``rows`` (ascending, distinct: all of them is ``self``)."""
        if len(rows) == self.size:
            return self
        return Problems(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


@dataclass(frozen=True)
class Solutions:
    """The answers: ``y`` [N, n], ``objective`` = sum w (y - y0)^2, ``feasible`` (converged,
    every hard constraint met within :data:`FEASIBILITY_TOL`; a soft row may be exceeded)
    and the multipliers ([N, m + 1]: the rows', then the ball's)."""

    y: Array
    objective: Array
    feasible: Mask
    multipliers: Array


def solve(problems: Problems, start: Array | None = None) -> Solutions:
    """Solve every problem of the batch; ``start`` warm-starts the multipliers."""
    p = problems
    nu = np.zeros((p.size, p.A.shape[1] + 1))
    if start is not None:
        low, high = _limits(p)
        nu = np.clip(start, low, high)
    ceiling = _ceiling(p)
    active = np.ones(p.size, dtype=bool)
    last = np.full(p.size, -np.inf)
    stalled = np.zeros(p.size, dtype=bool)
    for _ in range(MAX_ITERATIONS):
        rows = np.flatnonzero(active)
        sub = p.take(rows)
        state = _State.at(sub, nu[rows])
        flat = state.dual - last[rows] <= 1e-13 * (1.0 + np.abs(state.dual))
        stalled[rows] = flat & state.converged(STALLED_TOL)
        last[rows] = state.dual
        done = state.converged() | stalled[rows] | (state.dual > ceiling[rows])
        active[rows[done]] = False
        keep = np.flatnonzero(~done)
        if not keep.size:
            break
        nu[rows[keep]] = _newton_step(sub.take(keep), state.take(keep))
    final = _State.at(p, nu)
    feasible = (final.converged() | stalled) & (final.dual <= ceiling)
    objective = (p.w * (final.y - p.y0) ** 2).sum(axis=1)
    return Solutions(final.y, objective, feasible, nu)


def satisfied(p: Problems, y: Array, tol: float = 1e-7) -> Mask:
    """Whether ``y`` meets every hard constraint (box, hard rows, ball) within ``tol`` of
    their scale: what a point from elsewhere (an outer loop's start) must be checked for."""
    box = ((y >= p.lo - tol) & (y <= p.hi + tol)).all(axis=1)
    Ay = np.einsum("nmj,nj->nm", p.A, y)
    level = _levels(p)
    hard = np.isinf(p.cap)
    over = np.maximum(Ay - p.bu, p.bl - Ay)
    rows = ((over <= tol * level[:, :-1]) | ~hard).all(axis=1)
    ball = (p.ball * (y - p.c) ** 2).sum(axis=1) - p.r2 <= tol * level[:, -1]
    return box & rows & ball


def _limits(p: Problems) -> tuple[Array, Array]:
    """Each multiplier's range: one-sided rows [0, cap], two-sided [-cap, cap], ball [0, inf)."""
    one_sided = np.isneginf(p.bl)
    low = np.concatenate([np.where(one_sided, 0.0, -p.cap), np.zeros((p.size, 1))], axis=1)
    high = np.concatenate([p.cap, np.full((p.size, 1), np.inf)], axis=1)
    return low, high


def _ceiling(p: Problems) -> Array:
    """No feasible point has a larger objective: every one lies in the ball, so within
    ``||y0 - c|| + r`` of ``y0``. A dual value above it (weak duality) proves the problem
    infeasible. (Soft rows add penalties: no ceiling then.)"""
    reach = np.sqrt((p.ball * (p.y0 - p.c) ** 2).sum(axis=1)) + np.sqrt(np.maximum(p.r2, 0.0))
    bound = p.w.max(axis=1) * reach**2 * (1.0 + 1e-9) + 1e-12
    return np.where(np.isfinite(p.cap).any(axis=1), np.inf, bound)


@dataclass(frozen=True)
class _State:
    """The Lagrangian's minimiser for given multipliers, and what Newton needs of it."""

    p: Problems
    nu: Array
    y: Array
    free: Mask  # coordinates not at a box bound
    G: Array  # [N, m + 1] the dual's gradient: binding-side residuals, then the ball's
    dual: Array  # [N]

    @classmethod
    def at(cls, p: Problems, nu: Array) -> _State:
        lam, mu = nu[:, :-1], nu[:, -1:]
        quad = p.w + mu * p.ball
        q = (p.w * p.y0 + mu * p.ball * p.c - 0.5 * np.einsum("nm,nmj->nj", lam, p.A)) / quad
        y = np.clip(q, p.lo, p.hi)
        Ay = np.einsum("nmj,nj->nm", p.A, y)
        upper, lower = Ay - p.bu, Ay - p.bl
        at_zero = np.where(upper > 0.0, upper, np.where(lower < 0.0, lower, 0.0))
        rows = np.where(lam > 0.0, upper, np.where(lam < 0.0, lower, at_zero))
        ball = (p.ball * (y - p.c) ** 2).sum(axis=1) - p.r2
        G = np.concatenate([rows, ball[:, None]], axis=1)
        bound = np.where(lam > 0.0, p.bu, np.where(lam < 0.0, p.bl, 0.0))
        dual = (
            (p.w * (y - p.y0) ** 2).sum(axis=1) + (lam * (Ay - bound)).sum(axis=1) + mu[:, 0] * ball
        )
        return cls(p, nu, y, (q > p.lo) & (q < p.hi), G, dual)

    def take(self, rows: NDArray[np.intp]) -> _State:
        if len(rows) == len(self.nu):
            return self
        return _State(
            self.p.take(rows),
            self.nu[rows],
            self.y[rows],
            self.free[rows],
            self.G[rows],
            self.dual[rows],
        )

    def converged(self, tol: float = FEASIBILITY_TOL) -> Mask:
        """KKT met within ``tol``: hard rows and the ball feasible, and complementary (a
        row with a multiplier binds, within the same tolerance); stationarity holds by
        construction. A soft row at its cap may stay violated."""
        p = self.p
        Ay = np.einsum("nmj,nj->nm", p.A, self.y)
        over = np.maximum(Ay - p.bu, p.bl - Ay)
        level = _levels(p)
        capped = np.abs(self.nu[:, :-1]) >= p.cap * (1.0 - 1e-12)
        rows_ok = ((over <= tol * level[:, :-1]) | capped).all(axis=1)
        ball_ok = self.G[:, -1] <= tol * level[:, -1]
        binding = (self.nu == 0.0) | (np.abs(self.G) <= tol * level)
        binding[:, :-1] |= capped
        return rows_ok & ball_ok & binding.all(axis=1)


def _levels(p: Problems) -> Array:
    """[N, m + 1] the scale of each constraint's bound: a residual within a tolerance of
    it is rounding (1 + |bound|; 1 + r2 for the ball)."""
    bounds = np.maximum(np.abs(p.bu), np.where(np.isfinite(p.bl), np.abs(p.bl), 0.0))
    return 1.0 + np.concatenate([bounds, p.r2[:, None]], axis=1)


def _newton_step(p: Problems, state: _State) -> Array:
    """One projected Newton step with an Armijo search along the projected path."""
    nu, G, y = state.nu, state.G, state.y
    J = np.concatenate([p.A, 2.0 * (p.ball * (y - p.c))[:, None, :]], axis=1)  # [N, m+1, n]
    quad = p.w + nu[:, -1:] * p.ball
    H = np.einsum("nij,nkj->nik", J * (state.free / (2.0 * quad))[:, None, :], J)
    low, high = _limits(p)
    one_sided = np.concatenate([np.isneginf(p.bl), np.ones((p.size, 1), bool)], axis=1)
    held = (
        ((nu == 0.0) & (G == 0.0))
        | ((nu <= low + 1e-12) & (G < 0.0) & one_sided)
        | ((nu >= high * (1.0 - 1e-12)) & (G > 0.0))
        | ((nu <= low * (1.0 - 1e-12)) & (G < 0.0) & ~one_sided)
    )
    eye = np.eye(H.shape[1])
    H = np.where(held[:, :, None] | held[:, None, :], 0.0, H) + eye * held[:, :, None]
    # Jacobi scaling, then a small ridge: rows of very different scale (a nearly free
    # auxiliary coordinate beside a ball) must not damp each other.
    diagonal = np.diagonal(H, axis1=1, axis2=2)
    flat = diagonal <= 1e-6  # (nearly) every coordinate of the row clipped: a linear dual
    root = 1.0 / np.sqrt(np.where(flat, 1.0, diagonal))
    # A flat row gets a unit curvature: a gradient step for its multiplier, not the huge
    # one the ridge alone would ask (the line search would then crawl down to it).
    scaled = H * root[:, :, None] * root[:, None, :] + eye * np.where(flat, 1.0, 1e-10)[:, None, :]
    # A residual already within tolerance is not chased: its row's Newton equation asks
    # to keep it at zero.
    level = _levels(p)
    settled = np.abs(G) <= np.where(flat, STALLED_TOL, FEASIBILITY_TOL) * level
    rhs = np.where(held | settled, 0.0, G) * root
    direction = np.linalg.solve(scaled, rhs[:, :, None])[:, :, 0] * root
    return _search(p, state, direction, low, high)


def _project(nu: Array, G: Array, trial: Array, low: Array, high: Array) -> Array:
    """Into each multiplier's range, and on one side of zero: a two-sided row's multiplier
    keeps its sign (at zero: the sign of the side that is violated), so it stops at zero
    rather than cross it (the other side takes over on a later step)."""
    clipped = np.clip(trial, low, high)
    side = np.where(nu != 0.0, np.sign(nu), np.sign(G))
    return np.where(side * clipped < 0.0, 0.0, clipped)


def _search(p: Problems, state: _State, direction: Array, low: Array, high: Array) -> Array:
    """A step that raises the dual enough (Armijo on the projected path): 1 first, then
    shorter ones chosen by fitting a parabola to the failed trial (at least 1e-3 and at
    most 1/2 of it). Near a kink the Newton step can overshoot by orders of magnitude (the
    model is valid until the next clip changes), so halving alone would crawl. A full step
    that gains as much as its first-order prediction is on a linear stretch of the dual
    (a row whose coordinates are all clipped): it is stretched while the dual keeps rising."""
    nu, G, base = state.nu, state.G, state.dual
    step = np.ones(len(nu))
    result = nu.copy()
    gained = np.zeros(len(nu))
    linear = np.zeros(len(nu), dtype=bool)
    pending = np.ones(len(nu), dtype=bool)
    for trial_number in range(_MAX_TRIALS):
        rows = np.flatnonzero(pending)
        moved = nu[rows] + step[rows, None] * direction[rows]
        trial = _project(nu[rows], G[rows], moved, low[rows], high[rows])
        gain = _State.at(p.take(rows), trial).dual - base[rows]
        slope = (G[rows] * (trial - nu[rows])).sum(axis=1)  # first-order gain of the trial
        ok = gain >= _ARMIJO * slope - 1e-13 * (1.0 + np.abs(base[rows]))  # below: rounding
        result[rows[ok]], gained[rows[ok]] = trial[ok], gain[ok]
        pending[rows[ok]] = False
        if trial_number == 0:
            linear[rows] = ok & (slope > 0.0) & (gain >= 0.9 * slope)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            fit = slope / (2.0 * (slope - gain))  # the parabola's peak, as a share of the step
        shrink = np.clip(np.where((slope > 0.0) & (slope > gain), fit, 0.5), 1e-3, 0.5)
        step[rows[~ok]] *= shrink[~ok]
        if not pending.any():
            break
    return _stretch(p, state, direction, low, high, result, gained, linear)


def _stretch(
    p: Problems,
    state: _State,
    direction: Array,
    low: Array,
    high: Array,
    result: Array,
    gained: Array,
    linear: Mask,
) -> Array:
    """Steps 4, 16, 64... times the direction for the ``linear`` rows, while the dual
    keeps rising (up to the next clip change, where Newton takes over again)."""
    nu, G = state.nu, state.G
    step = np.ones(len(nu))
    for _ in range(_MAX_STRETCHES):
        rows = np.flatnonzero(linear)
        if not rows.size:
            break
        step[rows] *= 4.0
        moved = nu[rows] + step[rows, None] * direction[rows]
        trial = _project(nu[rows], G[rows], moved, low[rows], high[rows])
        gain = _State.at(p.take(rows), trial).dual - state.dual[rows]
        better = gain > gained[rows]
        result[rows[better]], gained[rows[better]] = trial[better], gain[better]
        linear[rows[~better]] = False
    return result
