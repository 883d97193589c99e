"""The hand-written solver against a reference optimiser built on scipy (multistart SLSQP,
see ``reference.py``): on 300 seeded (customer, target) pairs, the reference finds no
valid row that the model confirms as a typical member of the target and that is cheaper
by more than 1 %, and none where the solver refuses."""

from __future__ import annotations

import numpy as np
import pytest
from chalicelib.paths import Path, PathFinder, PathRequest

from tests.functions.paths.conftest import Row
from tests.functions.paths.reference import reference_path

PAIRS = 300
SEED = 17
TOLERANCE = 0.01


@pytest.mark.slow
def test_no_cheaper_landing_point_than_the_solvers(
    finder: PathFinder, customers: list[Row]
) -> None:
    rng = np.random.default_rng(SEED)
    labels = [landing.segment for landing in finder.check(customers)]
    chosen = rng.choice(len(customers), PAIRS, replace=False)
    requests = []
    for i in chosen.tolist():
        others = [t for t in range(finder.space.k) if t != labels[i]]
        requests.append(PathRequest(customers[i], int(rng.choice(others))))
    answers = finder.find_many(requests)
    movable = finder.movable(None)
    cheaper = []
    for k, (request, answer) in enumerate(zip(requests, answers, strict=True)):
        x0 = finder.space.fill([request.values])[0]
        reference = reference_path(
            finder.space, finder.relations, finder.check, x0, request.target, movable, seed=k
        )
        mine = answer.cost if isinstance(answer, Path) else np.inf
        if reference.cost < (1.0 - TOLERANCE) * mine:
            cheaper.append((k, mine, reference.cost))
    assert cheaper == []


MAY_CHANGE = (
    None,  # every variable: the tenure and the limit too
    ("PAYMENTS", "PRC_FULL_PAYMENT", "BALANCE", "MINIMUM_PAYMENTS", "BALANCE_FREQUENCY"),
    # the total of purchases fixed, its parts free: the identity decides the split
    ("BALANCE", "BALANCE_FREQUENCY", "ONEOFF_PURCHASES", "INSTALLMENTS_PURCHASES",
     "CASH_ADVANCE", "PURCHASES_FREQUENCY", "ONEOFF_PURCHASES_FREQUENCY",
     "PURCHASES_INSTALLMENTS_FREQUENCY", "CASH_ADVANCE_FREQUENCY", "CASH_ADVANCE_TRX",
     "PURCHASES_TRX", "PAYMENTS", "MINIMUM_PAYMENTS", "PRC_FULL_PAYMENT"),
    ("PURCHASES", "ONEOFF_PURCHASES", "PURCHASES_TRX", "PURCHASES_FREQUENCY",
     "ONEOFF_PURCHASES_FREQUENCY", "CASH_ADVANCE", "CASH_ADVANCE_TRX", "CASH_ADVANCE_FREQUENCY"),
)  # fmt: skip


@pytest.mark.slow
def test_no_cheaper_landing_point_with_other_may_change(
    finder: PathFinder, customers: list[Row]
) -> None:
    """The same on 60 pairs with other sets of variables allowed to change (all of them,
    only payments and balance, the purchase total fixed, only purchases and cash advance)."""
    rng = np.random.default_rng(SEED + 1)
    labels = [landing.segment for landing in finder.check(customers)]
    cheaper = []
    for k in range(60):
        i = int(rng.integers(len(customers)))
        target = int(rng.choice([t for t in range(finder.space.k) if t != labels[i]]))
        names = MAY_CHANGE[k % len(MAY_CHANGE)]
        allowed = set(finder.space.names) if names is None else set(names)
        answer = finder.find(customers[i], target, allowed)
        x0 = finder.space.fill([customers[i]])[0]
        reference = reference_path(
            finder.space,
            finder.relations,
            finder.check,
            x0,
            target,
            finder.movable(allowed),
            seed=k,
        )
        mine = answer.cost if isinstance(answer, Path) else np.inf
        if reference.cost < (1.0 - TOLERANCE) * mine:
            cheaper.append((k, names, mine, reference.cost))
    assert cheaper == []
