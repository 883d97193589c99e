"""The purchase identity, by a trust-region SQP around the convex solver.

``|PURCHASES - ONEOFF_PURCHASES - INSTALLMENTS_PURCHASES| <= 1`` is linear in the data's
units, but the model sees ``log1p`` of each amount: with ``E_j = amount_j + 1 =
exp(s_j y_j + t_j)`` (``y`` the model inputs) the band is curved and not convex.

Written in logs, the band's two sides are nearly linear in ``y`` (log-sum-exp)::

    upper:  f_U = log E_total - log(sum_parts E_j - parts + 1 + high)   <= 0
    lower:  f_L = log sum_parts E_j - log(E_total + parts - 1 - low)     <= 0

Each round linearises them at the current point into one two-sided row of the convex
problem (the other constraints stay exact), adds the lower side's curvature on the parts
(its log-sum-exp is convex: the diagonal of its Hessian times the multiplier; the upper
side's curvature is concave and is damped, not used), and limits the amounts' move to a
trust region. The row is soft (an exact penalty), so a round is never infeasible because
of the linearisation; a step is kept when the true merit, cost plus penalty times the
band's violation, falls by at least a tenth of what the model predicted, and the region
grows or shrinks with that ratio (Fletcher's Sl1QP). Why not the simpler alternatives:
plain linearisation cycles between the two parts on some customers, and the
convex-concave procedure (tangents of the concave terms) is safe but crawls along the
band, one small step a round.

The band used is the tolerance (or the customer's own larger gap: not worse) less
:data:`~chalicelib.paths.problem.ROUNDING_SLACK`, so that rounding the amounts keeps the
identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from chalicelib.paths import convex
from chalicelib.paths.problem import Customer, Variant, identity_band
from chalicelib.paths.relations import Relations
from chalicelib.paths.space import ModelSpace

Array = NDArray[np.float64]
Mask = NDArray[np.bool_]

MAX_ROUNDS = 60
GAP_TOL = 1e-4  # data units beyond the band that count as inside: below its rounding slack
STEP_TOL = 1e-9  # model-space step under which the rounds have settled
SETTLED = 1e-10  # predicted relative fall of the merit under which they have too
FIRST_RADIUS = 1.0  # trust region on the amounts, model-space units
MAX_RADIUS = 16.0
FIRST_PENALTY = 10.0
MAX_PENALTY = 1e7  # a penalty this high and the band still broken: no feasible point here
CLOSE_ENOUGH = 0.01  # within this of the lower bound, another start cannot gain 1 %
_ACCEPT, _GOOD = 0.1, 0.75


@dataclass(frozen=True)
class Band:
    """Per problem: the identity's columns (total first), the band for its gap, and
    whether any of its amounts may move."""

    columns: NDArray[np.intp]
    low: Array  # [N]
    high: Array  # [N]
    moves: Mask  # [N]

    @classmethod
    def of(
        cls,
        space: ModelSpace,
        relations: Relations,
        customers: Sequence[Customer],
        batch: Sequence[Variant],
    ) -> Band:
        identity = relations.identity
        names = (identity.total, *identity.parts)
        columns = np.array([relations.at[name] for name in names])
        if not space.log1p[columns].all():
            raise ValueError(f"the identity's amounts {names} must be log1p inputs")
        inner = np.array([identity_band(customers[v.customer]) for v in batch])
        moves = np.array(
            [bool(customers[v.customer].movable[columns].any()) for v in batch], dtype=bool
        )
        return cls(columns, -inner, inner, moves)

    def take(self, rows: NDArray[np.intp]) -> Band:
        if len(rows) == len(self.low):
            return self
        return Band(self.columns, self.low[rows], self.high[rows], self.moves[rows])

    def excess(self, space: ModelSpace, y: Array) -> Array:
        """How far the true gap lies outside the band (data units), per row."""
        e = _exps(space, self, y)
        gap = e[:, 0] - e[:, 1:].sum(axis=1) + (e.shape[1] - 2)
        out = np.maximum(gap - self.high, 0.0) + np.maximum(self.low - gap, 0.0)
        return np.where(self.moves, out, 0.0)


def solve(
    space: ModelSpace,
    band: Band,
    problems: convex.Problems,
    free: convex.Solutions | None = None,
    hint: Array | None = None,
) -> convex.Solutions:
    """Solve every variant with the identity kept; infeasible where the rounds cannot.
    ``objective`` is the true cost ``||y - y0||^2``. ``free``: the problems already solved
    without the identity (its row is an inactive placeholder in ``problems``), if at hand.

    The band is not convex, so the rounds find a local answer. Without a ``hint`` they
    start from the answer without the identity, and where that ends farther than
    :data:`CLOSE_ENOUGH` above the identity-free cost (a lower bound), they start again
    with the total's amount put into each part in turn (the others at their least): a
    split of the purchases the first start cannot reach (e.g. the total fixed and the
    target wanting small amounts: one large part is cheaper than two medium ones). With a
    ``hint`` (a nearby problem's answer: the same case with its counts pinned) they start
    there, and from the identity-free answer only where the hint fails."""
    free = convex.solve(problems) if free is None else free
    pending = free.feasible & (band.excess(space, free.y) > GAP_TOL)
    out_y, feasible = free.y.copy(), free.feasible.copy()
    if pending.any():
        rows = np.flatnonzero(pending)
        sub, part = problems.take(rows), band.take(rows)
        starts = [free.y[rows]] if hint is None else [np.clip(hint[rows], sub.lo, sub.hi)]
        y, ok = _rounds(space, part, sub, starts[0])
        cost = np.where(ok, ((y - sub.y0) ** 2).sum(axis=1), np.inf)
        if hint is None:
            again = np.flatnonzero(cost > free.objective[rows] * (1.0 + CLOSE_ENOUGH) + 1e-12)
            extra = _splits(space, part.take(again), sub.take(again), free.y[rows[again]])
        else:
            again = np.flatnonzero(~ok)
            extra = [free.y[rows[again]]]
        for start in extra:
            _keep_better(space, part.take(again), sub.take(again), start, again, y, ok, cost)
        out_y[rows], feasible[rows] = y, ok
    cost = ((out_y - problems.y0) ** 2).sum(axis=1)
    return convex.Solutions(out_y, cost, feasible, free.multipliers)


def _keep_better(
    space: ModelSpace,
    band: Band,
    p: convex.Problems,
    start: Array,
    rows: NDArray[np.intp],
    y: Array,
    ok: Mask,
    cost: Array,
) -> None:
    """Run the rounds for ``rows`` from ``start``; keep (in place) what is cheaper."""
    if not rows.size:
        return
    found, inside = _rounds(space, band, p, start)
    found_cost = np.where(inside, ((found - p.y0) ** 2).sum(axis=1), np.inf)
    won = found_cost < cost[rows]
    y[rows[won]], ok[rows[won]], cost[rows[won]] = found[won], True, found_cost[won]


def _splits(space: ModelSpace, band: Band, p: convex.Problems, y: Array) -> list[Array]:
    """Per part, ``y`` with the total's amount in that part and the others at their
    least (each within its box): the other starts of :func:`solve`."""
    j = band.columns
    x = space.to_data(y)[:, j]
    low, high = space.to_data(p.lo)[:, j], space.to_data(p.hi)[:, j]
    starts = []
    for part in range(1, len(j)):
        amounts = low.copy()
        amounts[:, 0] = x[:, 0]
        rest = x[:, 0] - np.delete(low[:, 1:], part - 1, axis=1).sum(axis=1)
        amounts[:, part] = np.clip(rest, low[:, part], high[:, part])
        start = y.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            start[:, j] = (np.log1p(amounts) - space.mean[j]) / space.scale[j]
        starts.append(np.clip(start, p.lo, p.hi))
    return starts


@dataclass(frozen=True)
class _Sides:
    """The band's two sides in log form at a point, and the row that linearises them."""

    upper: Array  # f_U
    lower: Array  # f_L
    row: Array  # [N, n] gradient of the side nearer binding (upper: f_U, lower: -f_L)
    exps: Array  # [N, 1 + parts]

    @property
    def violation(self) -> Array:
        return np.maximum(self.upper, 0.0) + np.maximum(self.lower, 0.0)

    def linear_violation(self, y: Array, at: Array) -> Array:
        """The linearised violation at ``y`` of the sides linearised at ``at``."""
        move = ((y - at) * self.row).sum(axis=1)
        return np.maximum(self.upper + move, 0.0) + np.maximum(self.lower - move, 0.0)


def _exps(space: ModelSpace, band: Band, y: Array) -> Array:
    j = band.columns
    return np.exp(np.minimum(y[:, j] * space.scale[j] + space.mean[j], 700.0))


def _sides(space: ModelSpace, band: Band, y: Array) -> _Sides:
    j = band.columns
    e = _exps(space, band, y)
    parts = e.shape[1] - 1
    top = e[:, 1:].sum(axis=1) - parts + 1.0 + band.high  # > 0: high >= 1/2
    bottom = e[:, 0] + parts - 1.0 - band.low  # > 0: low <= -1/2
    upper = np.log(e[:, 0]) - np.log(top)
    lower = np.log(e[:, 1:].sum(axis=1)) - np.log(bottom)
    d_upper = np.column_stack([np.ones(len(y)), -e[:, 1:] / top[:, None]])
    d_lower = np.column_stack([-e[:, 0] / bottom, e[:, 1:] / e[:, 1:].sum(axis=1)[:, None]])
    gap = e[:, 0] - e[:, 1:].sum(axis=1) + parts - 1.0
    near_upper = gap > (band.low + band.high) / 2.0
    row = np.zeros_like(y)
    row[:, j] = np.where(near_upper[:, None], d_upper, -d_lower) * space.scale[j]
    return _Sides(upper, lower, row, e)


@dataclass
class _Rounds:
    """The state of the rounds, per problem still running."""

    y: Array
    radius: Array
    penalty: Array
    multiplier: Array  # the identity row's multiplier in log units (signed)
    sound: Mask  # y meets the hard constraints (then the merit can judge a step from it)
    warm: Array | None = None


def _rounds(
    space: ModelSpace, band: Band, problems: convex.Problems, start: Array
) -> tuple[Array, Mask]:
    size = problems.size
    state = _Rounds(
        y=start.copy(),
        radius=np.full(size, FIRST_RADIUS),
        penalty=np.full(size, FIRST_PENALTY),
        multiplier=np.zeros(size),
        sound=convex.satisfied(problems, start),
    )
    pending = np.ones(size, dtype=bool)
    for _ in range(MAX_ROUNDS):
        rows = np.flatnonzero(pending)
        done = _round(space, band.take(rows), problems.take(rows), state, rows)
        pending[rows[done]] = False
        if not pending.any():
            break
    inside = band.excess(space, state.y) <= GAP_TOL
    return state.y, inside & convex.satisfied(problems, state.y)


def _round(
    space: ModelSpace, band: Band, p: convex.Problems, state: _Rounds, rows: NDArray[np.intp]
) -> Mask:
    """One SQP round for ``rows`` (with a second-order correction where the step is
    refused); returns which of them have settled."""
    y, radius, penalty = state.y[rows], state.radius[rows], state.penalty[rows]
    sides = _sides(space, band, y)
    sub, norm = _model(space, band, p, y, sides, radius, penalty, state.multiplier[rows])
    row = p.A.shape[1] - 1  # the identity's row (before the auxiliary rows)
    warm = None if state.warm is None else state.warm[rows]
    got = _strip(convex.solve(sub, warm), y.shape[1])
    merit_now = ((y - p.y0) ** 2).sum(axis=1) + penalty * sides.violation
    predicted = merit_now - (got.objective + penalty * sides.linear_violation(got.y, y))
    noise = 1e-12 * (1.0 + np.abs(merit_now))
    ratio, tiny = _ratio(space, band, p, got.y, merit_now, predicted, penalty, noise)
    # From a start that breaks a hard constraint the merit cannot judge: the round's
    # answer, which meets them all, is taken.
    accept = got.feasible & ((ratio >= _ACCEPT) | tiny | ~state.sound[rows])
    retry = np.flatnonzero(got.feasible & ~accept & (predicted > noise))
    if retry.size:  # the Maratos effect: correct for the band's curvature, then judge again
        soc = _corrected(
            space, band.take(retry), sub.take(retry), y[retry], got.y[retry], norm[retry], row
        )
        again = _strip(convex.solve(soc, got.multipliers[retry]), y.shape[1])
        r2, t2 = _ratio(
            space, band.take(retry), p.take(retry), again.y, merit_now[retry],
            predicted[retry], penalty[retry], noise[retry],
        )  # fmt: skip
        better = again.feasible & ((r2 >= _ACCEPT) | t2)
        fix = retry[better]
        got = replace(got, y=_put(got.y, fix, again.y[better]))
        got = replace(got, multipliers=_put(got.multipliers, fix, again.multipliers[better]))
        ratio[fix], accept[fix] = r2[better], True
    lam = got.multipliers[:, row] / norm
    _update(state, rows, band, got, y, radius, penalty, lam, ratio, accept)
    inside = band.excess(space, state.y[rows]) <= GAP_TOL
    step = np.abs(got.y - y).max(axis=1)
    small = predicted <= SETTLED * (1.0 + merit_now)  # the model sees nothing left to gain
    settled = inside & ((accept & (step <= STEP_TOL)) | tiny | small)
    hopeless = (state.radius[rows] < 1e-10) | (state.penalty[rows] > MAX_PENALTY)
    return settled | hopeless


def _ratio(
    space: ModelSpace,
    band: Band,
    p: convex.Problems,
    y_new: Array,
    merit_now: Array,
    predicted: Array,
    penalty: Array,
    noise: Array,
) -> tuple[Array, Mask]:
    """Actual over predicted fall of the merit, and where both are within noise."""
    merit_new = ((y_new - p.y0) ** 2).sum(axis=1) + penalty * _sides(space, band, y_new).violation
    actual = merit_now - merit_new
    ratio = np.where(predicted > noise, actual / np.maximum(predicted, 1e-300), -np.inf)
    return ratio, (predicted <= noise) & (actual >= -noise)


def _corrected(
    space: ModelSpace,
    band: Band,
    sub: convex.Problems,
    y: Array,
    trial: Array,
    norm: Array,
    row: int,
) -> convex.Problems:
    """The round's problem with the row shifted by its linearisation error at ``trial``
    (a second-order correction: the next solution lands on the curved band, not on its
    tangent)."""
    before, after = _sides(space, band, y), _sides(space, band, trial)
    move = ((trial - y) * before.row).sum(axis=1)
    error_upper = after.upper - (before.upper + move)
    error_lower = after.lower - (before.lower - move)
    bl, bu = sub.bl.copy(), sub.bu.copy()
    bu[:, row] -= error_upper / norm
    bl[:, row] += error_lower / norm
    middle = (bl[:, row] + bu[:, row]) / 2.0
    bl[:, row] = np.minimum(bl[:, row], middle)
    bu[:, row] = np.maximum(bu[:, row], middle)
    return replace(sub, bl=bl, bu=bu)


def _update(
    state: _Rounds,
    rows: NDArray[np.intp],
    band: Band,
    got: convex.Solutions,
    y: Array,
    radius: Array,
    penalty: Array,
    lam: Array,
    ratio: Array,
    accept: Mask,
) -> None:
    """Move, resize the trust region, and update the multiplier and the penalty."""
    size = np.abs((got.y - y)[:, band.columns]).max(axis=1)
    grow = accept & (ratio >= _GOOD) & (size >= 0.9 * radius)
    shrink = ~accept | (ratio < 0.25)
    state.radius[rows] = np.where(
        grow,
        np.minimum(2.0 * radius, MAX_RADIUS),
        np.where(shrink, 0.25 * np.minimum(radius, np.maximum(size, 1e-12)), radius),
    )
    state.y[rows] = np.where(accept[:, None], got.y, y)
    state.sound[rows] |= accept
    state.multiplier[rows] = np.where(accept, lam, state.multiplier[rows])
    at_cap = np.abs(lam) >= penalty * (1.0 - 1e-9)
    state.penalty[rows] = np.where(
        at_cap, 3.0 * penalty, np.maximum(penalty, 1.5 * np.abs(lam) + 1e-3)
    )
    if state.warm is None:
        state.warm = np.zeros((len(state.y), got.multipliers.shape[1]))
    state.warm[rows] = np.where(accept[:, None], got.multipliers, state.warm[rows])


def _strip(got: convex.Solutions, n: int) -> convex.Solutions:
    """The solutions without the auxiliary coordinates (their cost stays in objective)."""
    return replace(got, y=got.y[:, :n])


def _put(whole: Array, rows: NDArray[np.intp], part: Array) -> Array:
    out = whole.copy()
    out[rows] = part
    return out


def _model(
    space: ModelSpace,
    band: Band,
    p: convex.Problems,
    y: Array,
    sides: _Sides,
    radius: Array,
    penalty: Array,
    multiplier: Array,
) -> tuple[convex.Problems, Array]:
    """The round's convex problem: the linearised row (soft: capped at the penalty), the
    trust region on the amounts, and the lower side's curvature.

    That curvature is the Hessian of ``log sum E_j`` over the parts (convex), which is
    ``sum_{i<j} p_i p_j (v_ij . dy)^2`` with ``p`` the parts' shares and ``v_ij = s_i e_i -
    s_j e_j``: not diagonal, so each pair gets an auxiliary coordinate ``t_ij = v_ij . y``
    (an equality row, outside the ball) whose weight carries it. Without it the rounds
    zigzag between the parts along the band. The upper side's curvature is concave and
    is left to the trust region."""
    j = band.columns
    norm = np.maximum(np.linalg.norm(sides.row, axis=1), 1e-300)
    at = (sides.row * y).sum(axis=1)
    top, bottom = at - sides.upper, at + sides.lower
    middle = (top + bottom) / 2.0
    top, bottom = np.maximum(top, middle), np.minimum(bottom, middle)
    row = p.A.shape[1] - 1  # the identity's placeholder (problem.IDENTITY_ROW)
    A, bl, bu, cap = p.A.copy(), p.bl.copy(), p.bu.copy(), p.cap.copy()
    A[:, row] = sides.row / norm[:, None]
    bl[:, row], bu[:, row] = bottom / norm, top / norm
    cap[:, row] = penalty * norm
    lo, hi = p.lo.copy(), p.hi.copy()
    lo[:, j] = np.maximum(lo[:, j], np.minimum(y[:, j] - radius[:, None], hi[:, j]))
    hi[:, j] = np.minimum(hi[:, j], np.maximum(y[:, j] + radius[:, None], lo[:, j]))
    sub = replace(p, lo=lo, hi=hi, A=A, bl=bl, bu=bu, cap=cap)
    return _with_curvature(space, band, sub, y, sides, np.maximum(-multiplier, 0.0)), norm


def _with_curvature(
    space: ModelSpace, band: Band, p: convex.Problems, y: Array, sides: _Sides, weight: Array
) -> convex.Problems:
    """``p`` with one auxiliary coordinate and equality row per pair of parts (see
    :func:`_model`); ``weight`` is the lower side's multiplier (0: no curvature)."""
    parts = band.columns[1:]
    pairs = [(a, b) for i, a in enumerate(range(len(parts))) for b in range(i + 1, len(parts))]
    e = sides.exps[:, 1:]
    share = e / e.sum(axis=1)[:, None]
    size, n = y.shape
    k = len(pairs)
    grow = np.zeros((size, k))
    A = np.concatenate([p.A, np.zeros((size, p.A.shape[1], k))], axis=2)
    rows = np.zeros((size, k, n + k))
    gamma = np.zeros((size, k))
    for index, (a, b) in enumerate(pairs):
        v = np.zeros(n + k)
        v[parts[a]], v[parts[b]] = space.scale[parts[a]], -space.scale[parts[b]]
        v[n + index] = -1.0
        rows[:, index] = v / np.linalg.norm(v)
        grow[:, index] = (y * v[:n]).sum(axis=1)
        gamma[:, index] = 0.5 * weight * share[:, a] * share[:, b]
    used = gamma > 1e-3  # less curvature than that changes little, and stiffens the dual
    rows = rows * used[:, :, None]
    pin = np.where(used, np.inf, 0.0)
    return convex.Problems(
        y0=np.concatenate([p.y0, grow], axis=1),
        w=np.concatenate([p.w, np.where(used, gamma, 1.0)], axis=1),
        lo=np.concatenate([p.lo, np.where(used, -np.inf, grow)], axis=1),
        hi=np.concatenate([p.hi, np.where(used, pin, grow)], axis=1),
        A=np.concatenate([A, rows], axis=1),
        bl=np.concatenate([p.bl, np.zeros((size, k))], axis=1),
        bu=np.concatenate([p.bu, np.zeros((size, k))], axis=1),
        cap=np.concatenate([p.cap, np.full((size, k), np.inf)], axis=1),
        c=np.concatenate([p.c, np.zeros((size, k))], axis=1),
        r2=p.r2,
        ball=np.concatenate([p.ball, np.zeros((size, k))], axis=1),
    )
