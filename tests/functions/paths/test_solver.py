"""Paths of real customers: what an answer holds, the refusals, the request checks."""

from __future__ import annotations

import numpy as np
import pytest
from chalicelib.paths import (
    Path,
    PathFinder,
    PathRequest,
    Refusal,
    RefusalReason,
    request_problems,
)
from chalicelib.scoring.model import ScoringModel
from chalicelib.scoring.validator import ValidRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.functions.paths.conftest import Row

ID_MESSAGE = "'CUST_ID' is the customer id, not a variable that can change"
TENURE_MESSAGE = "'TENURE' is counted in months (time, not behaviour): it cannot change"


def _label(finder: PathFinder, row: Row) -> int:
    return finder.check([row])[0].segment


def _path(result: Path | Refusal) -> Path:
    assert isinstance(result, Path), result
    return result


def test_a_path_lands_in_the_target_as_typical_in_the_data_units(
    finder: PathFinder, scoring_model: ScoringModel, customers: list[Row]
) -> None:
    row = customers[0]  # C10001
    source = _label(finder, row)
    for target in range(finder.space.k):
        if target == source:
            continue
        path = _path(finder.find(row, target))
        scored = scoring_model.score([ValidRecord(path.proposed)])[0]
        assert scored.segment.id == target == path.check.segment
        assert scored.typicality.label == "typical" == path.check.label
        assert path.source == source and path.cost > 0
        changed = {c.feature for c in path.changes}
        assert not changed & set(finder.default_fixed)
        proposed = dict(zip(finder.space.names, path.proposed, strict=True))
        for name in ("CASH_ADVANCE_TRX", "PURCHASES_TRX"):
            count = proposed[name]
            assert count is not None and count.is_integer()
        for change in path.changes:
            assert proposed[change.feature] == change.after
            assert change.change == pytest.approx(change.after - change.before)


def test_the_cost_is_the_squared_distance_in_model_space(
    finder: PathFinder, customers: list[Row]
) -> None:
    row = customers[1]
    target = (_label(finder, row) + 1) % finder.space.k
    path = _path(finder.find(row, target))
    space = finder.space
    z = space.to_model(space.fill([row, path.proposed]))
    assert path.cost == pytest.approx(((z[1] - z[0]) ** 2).sum(), rel=1e-12)


def test_a_typical_member_of_the_target_needs_no_change(
    finder: PathFinder, customers: list[Row]
) -> None:
    for row in customers[:50]:
        landing = finder.check([row])[0]
        if landing.label == "typical":
            path = _path(finder.find(row, landing.segment))
            assert path.changes == () and path.cost == 0.0 and path.proposed == row
            return
    pytest.fail("no typical customer among the first 50")


def test_a_customer_already_in_the_target_needs_no_change_even_when_unusual(
    finder: PathFinder, customers: list[Row]
) -> None:
    """The issue's literal rule: already in the target, no change; the check shows the
    customer's own typicality (here not typical)."""
    for row in customers[:200]:
        landing = finder.check([row])[0]
        if landing.label != "typical":
            path = _path(finder.find(row, landing.segment))
            assert path.changes == () and path.cost == 0.0 and path.proposed == row
            assert path.check == landing and path.source == path.target == landing.segment
            return
    pytest.fail("no unusual customer among the first 200")


def test_the_same_answer_alone_or_in_a_batch(finder: PathFinder, customers: list[Row]) -> None:
    requests = [
        PathRequest(row, (_label(finder, row) + 1) % finder.space.k) for row in customers[:20]
    ]
    together = finder.find_many(requests)
    alone = [finder.find(r.values, r.target) for r in requests[:5]]
    assert alone == together[:5]


def test_fixed_variables_that_keep_the_customer_out_are_named(
    finder: PathFinder, customers: list[Row]
) -> None:
    tenure = finder.space.index("TENURE")
    short = [row for row in customers if row[tenure] == 6.0]
    refusals = [
        result
        for row in short[:30]
        for target in range(finder.space.k)
        if target != _label(finder, row) and isinstance(result := finder.find(row, target), Refusal)
    ]
    assert refusals, "tenure-6 customers should be out of reach of some segment"
    for refusal in refusals:
        assert refusal.reason is RefusalReason.FIXED_TOO_FAR
        assert refusal.blockers[0].feature == "TENURE" and refusal.blockers[0].value == 6.0
        assert "TENURE" in refusal.message


def test_only_the_allowed_variables_move(finder: PathFinder, customers: list[Row]) -> None:
    allowed = {"PAYMENTS", "PRC_FULL_PAYMENT", "BALANCE", "MINIMUM_PAYMENTS"}
    answered = 0
    for row in customers[:40]:
        target = (_label(finder, row) + 1) % finder.space.k
        result = finder.find(row, target, allowed)
        if isinstance(result, Path):
            answered += 1
            assert {c.feature for c in result.changes} <= allowed
            for name, before, after in zip(finder.space.names, row, result.proposed, strict=True):
                if name not in allowed:
                    assert after == before
        else:
            assert result.reason in {RefusalReason.FIXED_TOO_FAR, RefusalReason.OUT_OF_REACH}
    assert answered  # some customers can get there on these four alone


def test_a_missing_value_stays_missing_unless_it_moves(
    finder: PathFinder, customers: list[Row]
) -> None:
    column = finder.space.index("MINIMUM_PAYMENTS")
    row = next(r for r in customers if r[column] is None)
    target = (_label(finder, row) + 1) % finder.space.k
    path = _path(finder.find(row, target))
    change = [c for c in path.changes if c.feature == "MINIMUM_PAYMENTS"]
    if change:
        assert change[0].imputed and change[0].before == finder.space.default[column]
        assert path.proposed[column] == change[0].after
    else:
        assert path.proposed[column] is None
    kept = _path(finder.find(row, target, set(finder.space.names) - {"MINIMUM_PAYMENTS"}))
    assert kept.proposed[column] is None


def test_a_customer_who_breaks_a_relation_is_flagged_and_not_made_worse(
    finder: PathFinder, customers: list[Row], filled: np.ndarray
) -> None:
    identity = finder.relations.identity
    gaps = identity.gap(filled, finder.relations.at)
    index = int(np.argmin(gaps))  # PURCHASES 600 below ONEOFF + INSTALLMENTS
    row = customers[index]
    target = (_label(finder, row) + 1) % finder.space.k
    path = _path(finder.find(row, target))
    assert any(f.relation == identity.text for f in path.flags)
    proposed = finder.space.fill([path.proposed])
    assert abs(identity.gap(proposed, finder.relations.at)[0]) <= abs(gaps[index])
    assert finder.relations.worsened(filled[index][None], proposed) == [()]


@pytest.mark.parametrize(
    ("target", "may_change", "expected"),
    [
        (1, None, []),
        (1, ["BALANCE", "CREDIT_LIMIT"], []),
        (1, ["BALANCE", "TENURE"], [("may_change", TENURE_MESSAGE)]),
        (7, None, [("target_segment", "must be a segment id from 0 to 2, got 7")]),
        (True, None, [("target_segment", "must be a segment id from 0 to 2, got True")]),
        ("1", None, [("target_segment", "must be a segment id from 0 to 2, got '1'")]),
        (1, ["BALANCE", "NOPE"], [("may_change", "'NOPE' is not a model variable")]),
        (1, ["CUST_ID"], [("may_change", ID_MESSAGE)]),
        (1, [], [("may_change", "must name at least one variable")]),
        (1, "BALANCE", [("may_change", "must be a list of variable names")]),
    ],
)  # fmt: skip
def test_request_problems(
    finder: PathFinder, target: object, may_change: object, expected: list[tuple[str, str]]
) -> None:
    found = request_problems(target, may_change, 3, finder.space.names, "CUST_ID", finder.immutable)
    assert [(p.field, p.message) for p in found] == expected


def test_the_default_fixed_variables_come_from_the_manifest(finder: PathFinder) -> None:
    """The tenure (counted in months) and the limit the limit models benchmark."""
    assert finder.default_fixed == ("TENURE", "CREDIT_LIMIT")
    assert finder.immutable == ("TENURE",)
    movable = finder.movable(None)
    assert [n for n, m in zip(finder.space.names, movable, strict=True) if not m] == [
        "CREDIT_LIMIT",
        "TENURE",
    ]


def test_with_the_purchase_total_fixed_the_split_moves_into_one_part(
    finder: PathFinder, customers: list[Row]
) -> None:
    """C12838 (PURCHASES 3,056.73 = 260.68 one-off + 2,796.05 instalments) towards the
    cash-advance revolvers with PURCHASES fixed: the answer puts nearly all of it in one
    part (the identity's other local answers, both parts medium, are dearer or out of
    the segment); the scipy reference finds 33.86 (test_reference)."""
    row = customers[2759]
    allowed = set(finder.space.names) - {"TENURE", "CREDIT_LIMIT", "PURCHASES"}
    centroids = finder.space.centroids
    target = int(np.argmax(centroids[:, finder.space.index("CASH_ADVANCE")]))
    path = _path(finder.find(row, target, allowed))
    assert path.cost < 34.2
    value = dict(zip(finder.space.names, finder.space.fill([path.proposed])[0], strict=True))
    parts = sorted([value["ONEOFF_PURCHASES"], value["INSTALLMENTS_PURCHASES"]])
    assert parts[0] < 5.0 and abs(value["PURCHASES"] - sum(parts)) <= 1.0


# Any valid customer, not only the real ones: the edges of every range (0, the 1e12
# ceiling, a missing optional value, broken relations), any target, any may_change.
_EDGES = (0.0, 1e-6, 0.083333, 0.5, 1.0, 12.0, 1e3, 1e6, 1e12)


@st.composite
def _requests(draw: st.DrawFn, finder: PathFinder, model: ScoringModel) -> PathRequest:
    values: list[float | None] = []
    for f in model.manifest.features:
        low = f.valid_min if f.valid_min is not None else 0.0
        high = f.valid_max if f.valid_max is not None else 1e12
        choice = draw(st.one_of(st.sampled_from(_EDGES), st.floats(low, min(high, 1e5))))
        value = float(round(choice)) if f.integer else choice
        values.append(None if f.optional and draw(st.booleans()) else min(max(value, low), high))
    names = list(finder.space.names)
    may_change = draw(st.none() | st.sets(st.sampled_from(names), min_size=1).map(frozenset))
    return PathRequest(tuple(values), draw(st.integers(0, finder.space.k - 1)), may_change)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_valid_customer_gets_a_path_or_a_refusal_never_an_error(
    finder: PathFinder, scoring_model: ScoringModel, data: st.DataObject
) -> None:
    request = data.draw(_requests(finder, scoring_model))
    result = finder.find_many([request])[0]  # the solver itself, not answer_many's net
    if isinstance(result, Refusal):
        assert result.reason in {RefusalReason.FIXED_TOO_FAR, RefusalReason.OUT_OF_REACH}
        return
    landing = finder.check([result.proposed])[0]
    assert landing.segment == request.target
    if result.changes:
        assert landing.label == "typical"
    before, after = finder.space.fill([request.values, result.proposed])
    assert finder.relations.worsened(before[None], after[None]) == [()]
