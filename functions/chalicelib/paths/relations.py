"""How the variables relate: written once, as data, for the solver and for every check.

A proposed customer that breaks these is worse than no answer ("3.4 transactions", "cash
advance 0 with 5 cash-advance transactions"). Each relation holds on at least 99.78 % of
``data/CC_GENERAL.csv`` (measured by ``tests/functions/paths/test_relations.py``):

=====================================================================  =========
relation                                                               rows
=====================================================================  =========
amounts >= 0                                                           100 %
frequencies and PRC_FULL_PAYMENT in [0, 1]                              99.91 %
transaction counts (and TENURE) whole and >= 0                          100 %
|PURCHASES - ONEOFF_PURCHASES - INSTALLMENTS_PURCHASES| <= 1            99.79 %
ONEOFF_PURCHASES_FREQUENCY <= PURCHASES_FREQUENCY                       99.98 %
PURCHASES_INSTALLMENTS_FREQUENCY <= PURCHASES_FREQUENCY                 99.81 %
CASH_ADVANCE, CASH_ADVANCE_TRX, CASH_ADVANCE_FREQUENCY zero together    100 %
PURCHASES, PURCHASES_TRX, PURCHASES_FREQUENCY zero together             99.92 %
=====================================================================  =========

Every relation has an *excess* (0 when it holds, else how far it is broken; for a
zero-together group, 1). A customer's own row may break one: the path then flags it and
must not make it worse, i.e. the proposed row's excess is at most the customer's (and a
broken zero-together group keeps its own pattern of zeros or becomes consistent).

The ranges come from the feature kinds the manifest carries (``amount``, ``score``,
``count``, ``months``) and its ``integer`` flags; the rest name their columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

#: The [low, high] every value of a kind must lie in (None: no bound).
KIND_RANGES: dict[str, tuple[float | None, float | None]] = {
    "amount": (0.0, None),
    "score": (0.0, 1.0),
    "count": (0.0, None),
    "months": (1.0, None),
}
#: The smallest value the solver proposes for a member of a zero-together group that is
#: "non-zero": a cent; one transaction; one month in twelve (0.083333 is also the smallest
#: non-zero frequency in the data). A relation's check only asks for "> 0".
NONZERO_FLOOR: dict[str, float] = {"amount": 0.01, "count": 1.0, "score": 0.083333}

_TOLERANCE = 1e-9  # "not worse": float noise is not a worsening


@dataclass(frozen=True)
class Range:
    """``low <= value <= high``, and a whole number when ``whole``."""

    name: str
    low: float | None
    high: float | None
    whole: bool

    @property
    def text(self) -> str:
        low = "" if self.low is None else f"{self.low:g} <= "
        high = "" if self.high is None else f" <= {self.high:g}"
        return f"{low}{self.name}{high}" + (", a whole number" if self.whole else "")

    def excess(self, x: Array, at: dict[str, int]) -> Array:
        v = x[:, at[self.name]]
        out = np.zeros(len(x))
        if self.low is not None:
            out += np.maximum(self.low - v, 0.0)
        if self.high is not None:
            out += np.maximum(v - self.high, 0.0)
        if self.whole:
            out += np.abs(v - np.round(v))
        return out


@dataclass(frozen=True)
class Identity:
    """``|total - sum(parts)| <= tolerance``."""

    total: str
    parts: tuple[str, ...]
    tolerance: float

    @property
    def text(self) -> str:
        return f"|{self.total} - {' - '.join(self.parts)}| <= {self.tolerance:g}"

    def gap(self, x: Array, at: dict[str, int]) -> Array:
        """total - sum(parts), per row."""
        return x[:, at[self.total]] - sum(x[:, at[p]] for p in self.parts)

    def excess(self, x: Array, at: dict[str, int]) -> Array:
        return np.maximum(np.abs(self.gap(x, at)) - self.tolerance, 0.0)


@dataclass(frozen=True)
class Order:
    """``lower <= upper``."""

    lower: str
    upper: str

    @property
    def text(self) -> str:
        return f"{self.lower} <= {self.upper}"

    def excess(self, x: Array, at: dict[str, int]) -> Array:
        return np.maximum(x[:, at[self.lower]] - x[:, at[self.upper]], 0.0)


@dataclass(frozen=True)
class ZeroTogether:
    """The members are all zero or all non-zero."""

    members: tuple[str, ...]

    @property
    def text(self) -> str:
        return f"{', '.join(self.members)} zero together or non-zero together"

    def zeros(self, x: Array, at: dict[str, int]) -> NDArray[np.bool_]:
        """[N, len(members)]: which members are zero."""
        return np.stack([x[:, at[m]] == 0.0 for m in self.members], axis=1)

    def excess(self, x: Array, at: dict[str, int]) -> Array:
        zeros = self.zeros(x, at)
        return (zeros.any(axis=1) & ~zeros.all(axis=1)).astype(np.float64)


Relation = Range | Identity | Order | ZeroTogether

PURCHASE_IDENTITY = Identity("PURCHASES", ("ONEOFF_PURCHASES", "INSTALLMENTS_PURCHASES"), 1.0)
FREQUENCY_ORDERS = (
    Order("ONEOFF_PURCHASES_FREQUENCY", "PURCHASES_FREQUENCY"),
    Order("PURCHASES_INSTALLMENTS_FREQUENCY", "PURCHASES_FREQUENCY"),
)
ZERO_TOGETHER = (
    ZeroTogether(("CASH_ADVANCE", "CASH_ADVANCE_TRX", "CASH_ADVANCE_FREQUENCY")),
    ZeroTogether(("PURCHASES", "PURCHASES_TRX", "PURCHASES_FREQUENCY")),
)


@dataclass(frozen=True)
class Breach:
    """A relation a row breaks (``excess`` > 0), or that a path made worse."""

    relation: str
    fields: tuple[str, ...]
    excess: float


@dataclass(frozen=True)
class Relations:
    """Every relation, bound to a feature order (the manifest's)."""

    ranges: tuple[Range, ...]
    identity: Identity
    orders: tuple[Order, ...]
    groups: tuple[ZeroTogether, ...]
    at: dict[str, int]

    @classmethod
    def for_features(
        cls, names: Sequence[str], kinds: Sequence[str], integer: Sequence[bool]
    ) -> Relations:
        """The relations over these features; a named column that is absent is an error."""
        ranges = tuple(
            Range(name, *KIND_RANGES.get(kind, (None, None)), whole=bool(whole))
            for name, kind, whole in zip(names, kinds, integer, strict=True)
        )
        at = {name: i for i, name in enumerate(names)}
        relations = cls(ranges, PURCHASE_IDENTITY, FREQUENCY_ORDERS, ZERO_TOGETHER, at)
        unknown = {f for r in relations.all for f in _fields(r)} - set(at)
        if unknown:
            raise ValueError(f"relations name columns the model lacks: {sorted(unknown)}")
        return relations

    @property
    def all(self) -> tuple[Relation, ...]:
        return (*self.ranges, self.identity, *self.orders, *self.groups)

    def excess(self, x: Array) -> Array:
        """[N, relations]: each relation's excess on each row of raw (filled) values."""
        return np.stack([r.excess(x, self.at) for r in self.all], axis=1)

    def breaches(self, x: Array) -> list[tuple[Breach, ...]]:
        """Per row, the relations it breaks."""
        excess = self.excess(x)
        return [self._listed(row, row > _TOLERANCE) for row in excess]

    def worsened(self, before: Array, after: Array) -> list[tuple[Breach, ...]]:
        """Per row, the relations ``after`` breaks beyond what ``before`` already did: a
        path must have none. A broken zero-together group may keep its own pattern."""
        was, now = self.excess(before), self.excess(after)
        worse = now > np.maximum(was, 0.0) + _TOLERANCE
        first_group = len(self.all) - len(self.groups)
        for j, group in enumerate(self.groups, start=first_group):
            same = (group.zeros(before, self.at) == group.zeros(after, self.at)).all(axis=1)
            worse[:, j] = (now[:, j] > 0) & ~same
        return [self._listed(row, mask) for row, mask in zip(now, worse, strict=True)]

    def _listed(self, excess: Array, mask: NDArray[np.bool_]) -> tuple[Breach, ...]:
        return tuple(
            Breach(r.text, _fields(r), float(e))
            for r, e, hit in zip(self.all, excess.tolist(), mask.tolist(), strict=True)
            if hit
        )


def _fields(relation: Relation) -> tuple[str, ...]:
    if isinstance(relation, Range):
        return (relation.name,)
    if isinstance(relation, Identity):
        return (relation.total, *relation.parts)
    if isinstance(relation, Order):
        return (relation.lower, relation.upper)
    return relation.members
