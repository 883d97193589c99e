"""What a path request asks and what it answers: the values that cross modules.

A request is a validated customer (graph order, ``None`` = missing), a target segment and
the variables that may change. The answer is a :class:`Path` (the proposed row, the
changes in the data's units, the check through the real model) or a :class:`Refusal`
saying why no valid row lands the customer in the target as a typical member.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.paths.relations import Breach


@dataclass(frozen=True)
class PathRequest:
    """One customer (17 values in graph order, ``None`` = missing), a target segment id,
    and the names that may change (``None``: all but ``PathFinder.default_fixed``)."""

    values: tuple[float | None, ...]
    target: int
    may_change: frozenset[str] | None = None


@dataclass(frozen=True)
class Change:
    """One variable that changes, in the data's units. ``before`` is the customer's value
    (the imputed default when it was missing: ``imputed``)."""

    feature: str
    before: float
    after: float
    imputed: bool = False

    @property
    def change(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class Landing:
    """Where the real model puts a row: segment id and typicality (as ``/v1/segment``)."""

    segment: int
    percentile: float
    label: str


@dataclass(frozen=True)
class Path:
    """The cheapest valid row found that the model assigns to ``target`` as a typical member.

    ``proposed`` is the whole row in graph order (``None`` where the customer's value was
    missing and stays so); ``cost`` is the squared Euclidean distance in model space
    between the customer and ``proposed`` (the variables that did not move add nothing);
    ``flags`` are the relations the customer's own row already breaks (the path does not
    make them worse); ``check`` is the real model's answer for ``proposed``.
    """

    source: int
    target: int
    proposed: tuple[float | None, ...]
    changes: tuple[Change, ...]
    cost: float
    check: Landing
    flags: tuple[Breach, ...] = ()


class RefusalReason(StrEnum):
    """Why there is no path (the ``reason`` of a :class:`Refusal`)."""

    FIXED_TOO_FAR = "fixed_too_far"
    """The variables that may not change alone put the customer farther from the target's
    centre than its typical radius: no value of the others can bring it in."""
    OUT_OF_REACH = "out_of_reach"
    """Even the valid values nearest the target's centre are not typical members of it
    (the variables' ranges and relations keep the customer out)."""
    NOT_FOUND = "not_found"
    """The solver found no row that the real model confirms (should not happen; logged)."""


@dataclass(frozen=True)
class Blocker:
    """A variable that may not change, and how much of the target's typical radius its
    own distance to the centre uses up (squared model-space units)."""

    feature: str
    value: float
    share: float  # its squared distance / the squared radius


@dataclass(frozen=True)
class Refusal:
    """No valid path to ``target``: the reason, a sentence, the blocking fixed variables
    (largest first) and the customer's own breaches of the relations."""

    source: int
    target: int
    reason: RefusalReason
    message: str
    blockers: tuple[Blocker, ...] = ()
    flags: tuple[Breach, ...] = ()


PathResult = Path | Refusal
