"""What a path request may ask: a known target segment and variables that exist.

The customer itself is validated by the row contract like every other route; this checks
the two path-specific fields and words their problems once, for the route (a 400 with
field-level messages) and the batch columns alike.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

TARGET_FIELD = "target_segment"
MAY_CHANGE_FIELD = "may_change"


@dataclass(frozen=True)
class RequestProblem:
    """A field of a path request and what is wrong with it."""

    field: str
    message: str


def request_problems(
    target: Any,
    may_change: Any,
    k: int,
    names: Sequence[str],
    id_field: str,
    immutable: Collection[str] = (),
) -> list[RequestProblem]:
    """Every problem of ``target`` (a segment id ``0..k-1``) and ``may_change`` (``None``,
    or a non-empty list of model variable names, none of them ``immutable``: counted in
    months, time and not behaviour); empty when both are valid."""
    problems = []
    if target is None:
        problems.append(RequestProblem(TARGET_FIELD, "is required"))
    elif isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < k:
        problems.append(
            RequestProblem(TARGET_FIELD, f"must be a segment id from 0 to {k - 1}, got {target!r}")
        )
    if may_change is None:
        return problems
    if not isinstance(may_change, list) or not all(isinstance(n, str) for n in may_change):
        problems.append(RequestProblem(MAY_CHANGE_FIELD, "must be a list of variable names"))
        return problems
    if not may_change:
        problems.append(RequestProblem(MAY_CHANGE_FIELD, "must name at least one variable"))
    known = set(names)
    for name in dict.fromkeys(may_change):
        if name == id_field:
            message = f"{name!r} is the customer id, not a variable that can change"
            problems.append(RequestProblem(MAY_CHANGE_FIELD, message))
        elif name not in known:
            problems.append(RequestProblem(MAY_CHANGE_FIELD, f"{name!r} is not a model variable"))
        elif name in immutable:
            message = f"{name!r} is counted in months (time, not behaviour): it cannot change"
            problems.append(RequestProblem(MAY_CHANGE_FIELD, message))
    return problems
