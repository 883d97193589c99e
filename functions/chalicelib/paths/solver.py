"""The cheapest valid change that makes the model call a customer a typical member of a
target segment: the search, its proof through the real model, and the refusals.

The cost is the squared Euclidean distance in the model's own scaled space between the
customer and the proposed row (the variables that may not change add nothing). The
proposed row must be *valid*: every relation of :mod:`chalicelib.paths.relations` holds
(or, where the customer's own row breaks one, is no worse), counts are whole, and the
variables outside ``may_change`` are untouched. It must *land*: the real segmenter assigns
it to the target and the scorer's typicality says ``typical``.

How (per request; the requests of a batch advance together):

1. **Cases.** Each zero-together group is either all zero or all non-zero: up to four
   boxes (``problem.variants``). Each is solved without the purchase identity first
   (``convex``): a lower bound on its cost, and the cases that cannot reach the target
   at all drop out.
2. **The identity** is added by the SQP rounds of ``identity``, for the case with the
   lowest bound first, then for any other case whose bound is below the best found.
3. **Whole counts.** Each count the answer left fractional is pinned at its floor and its
   ceiling (every combination, at most 2^3) and the case solved again; the cheapest wins.
4. **Rounding and proof.** The row is written in the data's units (6 decimals, whole
   counts), values that did not move are the customer's own, and it is
   checked: relations (:meth:`Relations.worsened`) and the real model (``check``). The
   margin that keeps the solver off the model's boundaries starts at 1e-5 (model-space
   distance) and grows tenfold for a request whose row fails, up to 1e-2.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chalicelib import observability
from chalicelib.paths import convex, identity, problem
from chalicelib.paths.check import Check
from chalicelib.paths.problem import Customer, Variant
from chalicelib.paths.relations import Relations
from chalicelib.paths.results import (
    Blocker,
    Change,
    Landing,
    Path,
    PathRequest,
    PathResult,
    Refusal,
    RefusalReason,
)
from chalicelib.paths.space import ModelSpace, NoModelSpace

Array = NDArray[np.float64]

MARGINS = (1e-5, 1e-4, 1e-3, 1e-2)
"""Model-space distance kept from the typical radius and the segment boundaries; the next
one is tried for a request whose row the real model does not confirm."""
TYPICAL = "typical"
_BLOCKER_SHARE = 0.05  # a fixed variable using less of the radius is not named


@dataclass(frozen=True)
class _Found:
    """The best row the search found for a request: model point and cost."""

    z: Array
    cost: float


class PathFinder:
    """Paths for one model version: its space, the relations, and the real model's check."""

    def __init__(self, space: ModelSpace, check: Check) -> None:
        self.space = space
        self.check = check
        self.relations = Relations.for_features(space.names, space.kinds, space.integer.tolist())
        _fits(space, self.relations)
        self.decimals = space.decimals()

    @property
    def default_fixed(self) -> tuple[str, ...]:
        """What stays unless ``may_change`` says otherwise (``ModelSpace.default_fixed``:
        the tenure and the credit limit)."""
        return self.space.default_fixed

    @property
    def immutable(self) -> tuple[str, ...]:
        """What a request may not ask to change (``ModelSpace.immutable``: the tenure)."""
        return self.space.immutable

    def movable(self, may_change: Collection[str] | None) -> NDArray[np.bool_]:
        """The mask of variables that may change (``None``: all but :attr:`default_fixed`)."""
        fixed = set(self.default_fixed)
        allowed = set(self.space.names) - fixed if may_change is None else set(may_change)
        return np.array([name in allowed for name in self.space.names])

    def find(
        self, values: Sequence[float | None], target: int, may_change: Collection[str] | None = None
    ) -> PathResult:
        """The path of one customer to ``target`` (see :meth:`find_many`)."""
        names = None if may_change is None else frozenset(may_change)
        return self.find_many([PathRequest(tuple(values), target, names)])[0]

    def find_many(self, requests: Sequence[PathRequest]) -> list[PathResult]:
        """A :class:`Path` or a :class:`Refusal` per request, in order. The requests are
        valid (17 values in graph order, a known target, known names in ``may_change``):
        see :func:`chalicelib.paths.request_problems`."""
        customers = [
            problem.prepare(self.space, self.relations, r.values, self.movable(r.may_change))
            for r in requests
        ]
        landings = self.check([r.values for r in requests])
        results: list[PathResult | None] = [None] * len(requests)
        open_ = []
        for i, (request, customer, landing) in enumerate(
            zip(requests, customers, landings, strict=True)
        ):
            results[i] = self._settled(request, customer, landing)
            if results[i] is None:
                open_.append(i)
        for margin in MARGINS:
            if not open_:
                break
            found = self._search(customers, requests, open_, margin)
            open_ = self._prove(customers, requests, landings, open_, found, results)
        for i in open_:
            results[i] = self._refusal(customers[i], requests[i], landings[i], searched=True)
        answered = [r for r in results if r is not None]
        if len(answered) != len(requests):  # every branch above answers: a bug otherwise
            raise RuntimeError("a path request was left without an answer")
        return answered

    def answer_many(self, requests: Sequence[PathRequest]) -> list[PathResult]:
        """:meth:`find_many` for a caller that must answer every request (the route, the
        batch files): should the solver fail (a bug: never seen on the real data or the
        fuzzed inputs of the tests), the requests are solved one by one, and one that still
        fails is logged and refused as ``not_found``, so one customer cannot fail a request
        or a file. A failing model is not the solver's: its error is raised."""
        try:
            return self.find_many(requests)
        except Exception:  # isolated below, request by request
            if len(requests) > 1:
                return [result for r in requests for result in self.answer_many([r])]
        (request,) = requests
        observability.logger.exception("path solver failed", extra={"target": request.target})
        (landing,) = self.check([request.values])
        message = "the solver could not answer for this customer (logged); try other variables"
        return [Refusal(landing.segment, request.target, RefusalReason.NOT_FOUND, message)]

    # -- before searching -------------------------------------------------------------------

    def _settled(
        self, request: PathRequest, customer: Customer, landing: Landing
    ) -> PathResult | None:
        """An answer without a search: already in the target (no change, whatever its
        typicality: the issue's "a customer already in the target answers with no
        changes"; ``check`` then shows its own typicality, which may be unusual), or out
        of reach."""
        if landing.segment == request.target:
            return Path(landing.segment, request.target, request.values, (), 0.0, landing,
                        customer.flags)  # fmt: skip
        reach = self._reach(customer, request.target, MARGINS[0])
        if reach > 0.0:
            return self._refusal(customer, request, landing, searched=False)
        return None

    def _reach(self, customer: Customer, target: int, margin: float) -> float:
        """How far (squared) the nearest point of the customer's box lies outside the
        target's typical ball; > 0 means no row in the box can be a typical member."""
        space = self.space
        lo = space.to_model(customer.low[None])[0]
        hi = space.to_model(customer.high[None])[0]
        centre = space.centroids[target]
        nearest = np.clip(centre, lo, hi)
        radius = space.radius[target] - margin
        return float(((nearest - centre) ** 2).sum() - radius**2)

    def _refusal(
        self, customer: Customer, request: PathRequest, landing: Landing, searched: bool
    ) -> Refusal:
        """Why there is no path: the fixed variables alone, or the valid range overall."""
        space, target = self.space, request.target
        centre, radius = space.centroids[target], space.radius[target]
        fixed = ~customer.movable
        parts = np.where(fixed, (customer.z0 - centre) ** 2, 0.0)
        blockers = tuple(
            Blocker(space.names[j], float(customer.x0[j]), float(parts[j] / radius**2))
            for j in np.argsort(-parts)
            if fixed[j] and parts[j] / radius**2 >= _BLOCKER_SHARE
        )
        name = space.segment_names[target]
        if parts.sum() >= radius**2:
            names = ", ".join(b.feature for b in blockers) or "the fixed variables"
            message = (
                f"{names} alone put the customer {np.sqrt(parts.sum()):.2f} from the centre of "
                f"'{name}', whose typical members are within {radius:.2f}: no change of the "
                "other variables can make it a typical member"
            )
            reason = RefusalReason.FIXED_TOO_FAR
        elif searched and self._reach(customer, target, MARGINS[-1]) <= 0.0:
            message = f"no valid row was confirmed by the model as a typical member of '{name}'"
            reason = RefusalReason.NOT_FOUND
        else:
            message = (
                f"no valid row with the variables allowed to change is a typical member of "
                f"'{name}': the variables' ranges and relations keep the customer out"
            )
            reason = RefusalReason.OUT_OF_REACH
        return Refusal(landing.segment, target, reason, message, blockers, customer.flags)

    # -- the search -------------------------------------------------------------------------

    def _search(
        self,
        customers: Sequence[Customer],
        requests: Sequence[PathRequest],
        which: Sequence[int],
        margin: float,
    ) -> dict[int, _Found]:
        """The cheapest integer-valid point per request in ``which`` (absent: none)."""
        batch = [
            v
            for i in which
            for v in problem.variants(
                self.space, self.relations, customers[i], i, requests[i].target
            )
        ]
        if not batch:
            return {}
        free = convex.solve(self._problems(customers, batch, margin))
        bounds = np.where(free.feasible, free.objective, np.inf)
        best: dict[int, _Found] = {}
        first = _cheapest_per_owner(batch, bounds)
        self._improve(customers, [batch[k] for k in first], margin, best, _rows(free, first))
        rest = [
            k
            for k in range(len(batch))
            if k not in set(first)
            and np.isfinite(bounds[k])
            and bounds[k] < best.get(batch[k].customer, _Found(np.empty(0), np.inf)).cost
        ]
        if rest:
            self._improve(customers, [batch[k] for k in rest], margin, best, _rows(free, rest))
        return best

    def _problems(
        self, customers: Sequence[Customer], batch: Sequence[Variant], margin: float
    ) -> convex.Problems:
        margins = np.full(len(batch), margin)
        return problem.problems(self.space, self.relations, customers, batch, margins)

    def _improve(
        self,
        customers: Sequence[Customer],
        batch: Sequence[Variant],
        margin: float,
        best: dict[int, _Found],
        free: convex.Solutions,
    ) -> None:
        """Solve ``batch`` (whose solutions without the identity are ``free``) with the
        identity, then with whole counts; keep the improvements in ``best``."""
        relaxed = self._solve(customers, batch, margin, free)
        pinned: list[Variant] = []
        hints: list[Array] = []
        for variant, z in zip(batch, relaxed, strict=True):
            if z is not None and self._lower(customers, variant, z, best):
                whole = self._whole(customers[variant.customer], variant, z)
                pinned.extend(whole)
                hints.extend([z] * len(whole))
        answers = self._solve(customers, pinned, margin, hint=np.array(hints) if hints else None)
        for variant, z in zip(pinned, answers, strict=True):
            if z is None:
                continue
            cost = float(((z - customers[variant.customer].z0) ** 2).sum())
            if cost < best.get(variant.customer, _Found(z, np.inf)).cost:
                best[variant.customer] = _Found(z, cost)

    def _lower(self, customers: Sequence[Customer], variant: Variant, z: Array,
               best: dict[int, _Found]) -> bool:  # fmt: skip
        """Whether a relaxed answer (fractional counts: a lower bound) can still beat the
        best whole-count answer found for its request."""
        found = best.get(variant.customer)
        relaxed = float(((z - customers[variant.customer].z0) ** 2).sum())
        return found is None or relaxed < found.cost

    def _solve(
        self,
        customers: Sequence[Customer],
        batch: Sequence[Variant],
        margin: float,
        free: convex.Solutions | None = None,
        hint: Array | None = None,
    ) -> list[Array | None]:
        """Each case solved with the purchase identity: its model point, or None
        (``hint``: where to start, see :func:`identity.solve`)."""
        if not batch:
            return []
        problems = self._problems(customers, batch, margin)
        band = identity.Band.of(self.space, self.relations, customers, batch)
        got = identity.solve(self.space, band, problems, free, hint)
        return [got.y[k] if got.feasible[k] else None for k in range(len(batch))]

    def _whole(self, customer: Customer, variant: Variant, z: Array) -> list[Variant]:
        """The case with each fractional whole-number variable pinned at its floor or its
        ceiling: every combination (none left fractional: the case itself, pinned)."""
        x = self.space.to_data(z[None])[0]
        options = []
        for j in np.flatnonzero(self.space.integer & customer.movable).tolist():
            low, high = variant.low[j], variant.high[j]
            near = np.round(x[j])
            if abs(x[j] - near) <= 1e-6:
                values = {float(np.clip(near, low, high))}
            else:
                values = {float(np.clip(np.floor(x[j]), low, high)),
                          float(np.clip(np.ceil(x[j]), low, high))}  # fmt: skip
            options.append([(j, v) for v in sorted(values) if low <= v <= high])
        out = []
        for combination in itertools.product(*options):
            low, high = variant.low.copy(), variant.high.copy()
            for j, v in combination:
                low[j] = high[j] = v
            out.append(Variant(variant.customer, variant.target, low, high))
        return out

    # -- the proof ----------------------------------------------------------------------------

    def _prove(
        self,
        customers: Sequence[Customer],
        requests: Sequence[PathRequest],
        landings: Sequence[Landing],
        which: Sequence[int],
        found: dict[int, _Found],
        results: list[PathResult | None],
    ) -> list[int]:
        """Write each found point as a row and check it; a request without any point is
        refused (a wider margin only shrinks the target). Returns the requests whose row
        the check refused: they are searched again with a wider margin."""
        candidates = [(i, self._row(customers[i], found[i].z)) for i in which if i in found]
        checked = self.check([row for _, row in candidates]) if candidates else []
        again = []
        for (i, row), landing in zip(candidates, checked, strict=True):
            path = self._path(customers[i], requests[i], landings[i], row, landing)
            if path is None:
                again.append(i)
            results[i] = path
        for i in which:
            if i not in found:
                results[i] = self._refusal(customers[i], requests[i], landings[i], searched=False)
        return again

    def _row(self, customer: Customer, z: Array) -> tuple[float | None, ...]:
        """The point in the data's units: rounded where it moved, the customer's own value
        (``None`` if it was missing) where it did not; orders repaired after rounding."""
        x = self.space.to_data(z[None])[0]
        rounded, own = self._rounded(x), self._rounded(customer.x0)
        kept = ~customer.movable | (rounded == own)
        values = np.where(kept, customer.x0, rounded) + 0.0
        self._repair_orders(customer, values)
        return tuple(
            None if customer.values[j] is None and values[j] == customer.x0[j] else float(values[j])
            for j in range(self.space.n)
        )

    def _rounded(self, x: Array) -> Array:
        """Each value to its feature's decimals (Python's round: exact decimal halves)."""
        return np.array([round(float(v), int(d)) for v, d in zip(x, self.decimals, strict=True)])

    def _repair_orders(self, customer: Customer, values: Array) -> None:
        """Rounding two equal frequencies can put the lower one a step above the upper."""
        at = self.relations.at
        for order, allowed in zip(self.relations.orders, customer.order_allowed, strict=True):
            lower, upper = at[order.lower], at[order.upper]
            if values[lower] - values[upper] > allowed:
                if customer.movable[lower]:
                    values[lower] = values[upper] + allowed
                elif customer.movable[upper]:
                    values[upper] = values[lower] - allowed

    def _path(
        self,
        customer: Customer,
        request: PathRequest,
        landing: Landing,
        row: tuple[float | None, ...],
        check: Landing,
    ) -> Path | None:
        """The path if the row is valid and the model confirms it, else None."""
        if check.segment != request.target or check.label != TYPICAL:
            return None
        filled = self.space.fill([row])
        if self.relations.worsened(customer.x0[None], filled)[0]:
            return None
        z = self.space.to_model(filled)[0]
        names, before, after = self.space.names, customer.x0, filled[0]
        changes = tuple(
            Change(names[j], float(before[j]), float(after[j]), customer.values[j] is None)
            for j in range(self.space.n)
            if after[j] != before[j]
        )
        cost = float(((z - customer.z0) ** 2).sum())
        return Path(landing.segment, request.target, row, changes, cost, check, customer.flags)


def _fits(space: ModelSpace, relations: Relations) -> None:
    """The solver's forms assume the purchase identity's amounts are log1p inputs and the
    ordered frequencies are not: a model that differs has no paths (said at load, not at
    the first request)."""
    at, identity_ = relations.at, relations.identity
    amounts = [at[name] for name in (identity_.total, *identity_.parts)]
    frequencies = [at[name] for order in relations.orders for name in (order.lower, order.upper)]
    if not space.log1p[amounts].all() or space.log1p[frequencies].any():
        raise NoModelSpace(
            "the model's transforms do not match the path solver's forms (log1p amounts in "
            "the purchase identity, untransformed frequencies in the orders)"
        )


def _rows(got: convex.Solutions, rows: Sequence[int]) -> convex.Solutions:
    index = np.asarray(rows, dtype=np.intp)
    return convex.Solutions(
        got.y[index], got.objective[index], got.feasible[index], got.multipliers[index]
    )


def _cheapest_per_owner(batch: Sequence[Variant], bounds: Array) -> list[int]:
    """Per request, the index of its case with the lowest finite bound."""
    chosen: dict[int, int] = {}
    for k, variant in enumerate(batch):
        if not np.isfinite(bounds[k]):
            continue
        current = chosen.get(variant.customer)
        if current is None or bounds[k] < bounds[current]:
            chosen[variant.customer] = k
    return sorted(chosen.values())
