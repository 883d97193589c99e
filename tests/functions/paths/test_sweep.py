"""Every real customer to every other segment: a path or a structured refusal; every
path, scored again by the model, lands in the target as typical; every relation holds
on every path (or is no worse than on the customer's own row)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from chalicelib.paths import Path, PathFinder, PathRequest, Refusal, RefusalReason
from chalicelib.scoring.model import ScoringModel
from chalicelib.scoring.validator import ValidRecord

from tests.functions.paths.conftest import Row

CHUNK = 2000  # requests per find_many call (bounds the solver's arrays)


@pytest.mark.slow
def test_every_customer_to_every_other_segment(
    finder: PathFinder, scoring_model: ScoringModel, customers: list[Row]
) -> None:
    labels = [landing.segment for landing in finder.check(customers)]
    requests = [
        PathRequest(row, target)
        for row, label in zip(customers, labels, strict=True)
        for target in range(finder.space.k)
        if target != label
    ]
    results = []
    for start in range(0, len(requests), CHUNK):
        results += finder.find_many(requests[start : start + CHUNK])
    assert len(results) == len(requests) == 8950 * (finder.space.k - 1)

    paths = [(r, q) for r, q in zip(results, requests, strict=True) if isinstance(r, Path)]
    refusals = [r for r in results if isinstance(r, Refusal)]
    assert len(paths) + len(refusals) == len(results)
    reasons = Counter(r.reason for r in refusals)
    assert set(reasons) <= {RefusalReason.FIXED_TOO_FAR, RefusalReason.OUT_OF_REACH}
    assert all(r.message and r.blockers for r in refusals)
    assert len(paths) / len(results) > 0.9  # 96.5 % on the session bundle

    # Scored again, from scratch, by the scorer of POST /v1/segment: 100 % typical.
    scored = scoring_model.score([ValidRecord(path.proposed) for path, _ in paths])
    landed = [(s.segment.id, s.typicality.label) for s in scored]
    assert landed == [(request.target, "typical") for _, request in paths]

    # Every relation on every path: holds, or no worse than on the customer's own row.
    space, relations = finder.space, finder.relations
    before = space.fill([request.values for _, request in paths])
    after = space.fill([path.proposed for path, _ in paths])
    assert relations.worsened(before, after) == [()] * len(paths)
    fixed = [space.index(name) for name in finder.default_fixed]
    for path, request in paths:
        assert [path.proposed[j] for j in fixed] == [request.values[j] for j in fixed]
    whole = space.integer
    assert (after[:, whole] == np.round(after[:, whole])).all()
