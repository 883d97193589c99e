"""The relations between the variables: how often each holds on the real data, and what
"breaks" and "makes worse" mean."""

from __future__ import annotations

import numpy as np
import pytest
from chalicelib.paths import PathFinder
from chalicelib.paths.relations import Relations

# Measured on data/CC_GENERAL.csv (8,950 rows): rows breaking each relation. Every relation
# holds on at least 99.78 % of the rows (the purchase identity: 19 rows have
# PURCHASES < ONEOFF + INSTALLMENTS - 1).
BROKEN = {
    "|PURCHASES - ONEOFF_PURCHASES - INSTALLMENTS_PURCHASES| <= 1": 19,
    "ONEOFF_PURCHASES_FREQUENCY <= PURCHASES_FREQUENCY": 2,
    "PURCHASES_INSTALLMENTS_FREQUENCY <= PURCHASES_FREQUENCY": 17,
    "PURCHASES, PURCHASES_TRX, PURCHASES_FREQUENCY zero together or non-zero together": 7,
    "CASH_ADVANCE, CASH_ADVANCE_TRX, CASH_ADVANCE_FREQUENCY zero together or non-zero together": 0,
    "0 <= CASH_ADVANCE_FREQUENCY <= 1": 8,
}


def test_each_relation_holds_on_the_real_data(finder: PathFinder, filled: np.ndarray) -> None:
    relations = finder.relations
    excess = relations.excess(filled)
    broken = {r.text: int((excess[:, i] > 1e-9).sum()) for i, r in enumerate(relations.all)}
    for text, rows in broken.items():
        assert rows == BROKEN.get(text, 0), text
    shares = 1.0 - np.array(list(broken.values())) / len(filled)
    assert shares.min() == pytest.approx(8931 / 8950)  # 99.79 %: the purchase identity


def test_breaches_name_the_relation_and_its_fields(finder: PathFinder) -> None:
    relations = finder.relations
    row = _row(finder, PURCHASES=100.0, ONEOFF_PURCHASES=80.0, INSTALLMENTS_PURCHASES=30.0)
    (breach,) = relations.breaches(row[None])[0]
    assert breach.fields == ("PURCHASES", "ONEOFF_PURCHASES", "INSTALLMENTS_PURCHASES")
    assert breach.excess == pytest.approx(9.0)


def test_not_worse_allows_a_broken_relation_to_stay_or_shrink(finder: PathFinder) -> None:
    relations = finder.relations
    before = _row(finder, PURCHASES=100.0, ONEOFF_PURCHASES=80.0, INSTALLMENTS_PURCHASES=30.0)
    same = _row(finder, PURCHASES=200.0, ONEOFF_PURCHASES=180.0, INSTALLMENTS_PURCHASES=30.0)
    worse = _row(finder, PURCHASES=100.0, ONEOFF_PURCHASES=90.0, INSTALLMENTS_PURCHASES=30.0)
    assert relations.worsened(before[None], same[None]) == [()]
    (breach,) = relations.worsened(before[None], worse[None])[0]
    assert breach.relation.startswith("|PURCHASES")


def test_a_mixed_zero_group_may_keep_its_pattern_but_not_change_it(finder: PathFinder) -> None:
    relations = finder.relations
    mixed = _row(finder, PURCHASES=0.0, PURCHASES_TRX=2.0, PURCHASES_FREQUENCY=0.0)
    kept = _row(finder, PURCHASES=0.0, PURCHASES_TRX=5.0, PURCHASES_FREQUENCY=0.0)
    moved = _row(finder, PURCHASES=10.0, PURCHASES_TRX=0.0, PURCHASES_FREQUENCY=0.0)
    healed = _row(finder, PURCHASES=10.0, ONEOFF_PURCHASES=10.0, PURCHASES_TRX=5.0)
    assert relations.worsened(mixed[None], kept[None]) == [()]
    assert relations.worsened(mixed[None], healed[None]) == [()]
    assert relations.worsened(mixed[None], moved[None])[0]
    consistent = _row(finder)
    assert relations.worsened(consistent[None], mixed[None])[0]


def test_relations_refuse_a_model_without_their_columns() -> None:
    with pytest.raises(ValueError, match="relations name columns the model lacks"):
        Relations.for_features(["BALANCE"], ["amount"], [False])


def _row(finder: PathFinder, **values: float) -> np.ndarray:
    """A consistent customer (no cash advance; purchases if any amount is given) with
    ``values`` set."""
    space = finder.space
    row = np.zeros(space.n)
    row[space.index("TENURE")] = 12.0
    row[space.index("BALANCE_FREQUENCY")] = 1.0
    if values.get("PURCHASES"):
        row[space.index("PURCHASES_TRX")] = 3.0
        row[space.index("PURCHASES_FREQUENCY")] = 0.5
    for name, value in values.items():
        row[space.index(name)] = value
    return row
