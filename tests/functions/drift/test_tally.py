"""chalicelib.drift.tally: a tally's JSON form, reading one back, adding tallies up.

The route's field-by-field answers to bad tallies are tested through the API
(tests/functions/api/test_drift_report.py); here, the pieces it is made of.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from tests.drift_reference import drift_reference
from tests.manifests import a_manifest, a_segment

# functions/ is on sys.path once tests.functions.conftest is imported (as in Lambda).
from chalicelib.drift import stats  # isort: skip
from chalicelib.drift.tally import DriftTally, merge_tallies, read_tally  # isort: skip

ROWS: list[list[float | None]] = [
    [0.2],
    [None],  # a missing value
    [5.0],  # a value above the training maximum (1.0)
]


@pytest.fixture
def reference() -> stats.Reference:
    """The one-feature manifest of tests/manifests.py (BALANCE, trained on 0 to 1), with
    training bins from a few made-up values, and two segments."""
    frame = pd.DataFrame({"BALANCE": [0.1, 0.2, 0.3, 0.4, 0.6, 0.9]})
    manifest = a_manifest(
        segments=(a_segment(0, name="zero"), a_segment(1, name="one")),
        drift_reference=drift_reference(frame, ["BALANCE"], [0, 1, 0, 1, 0, 1]),
    )
    return stats.reference_of(manifest)


def tally_of(reference: stats.Reference, version: str = "V1") -> DriftTally:
    counts = stats.new_counts(reference)
    stats.add_rows(counts, reference, ROWS, [0, 1, 1], ["typical", "unusual", "atypical"])
    return DriftTally(version, len(ROWS) + 1, counts)  # one more row sent, not scored


def test_a_tally_read_back_from_its_json_is_the_same_tally(reference: stats.Reference) -> None:
    tally = tally_of(reference)
    assert tally.counts.rows_outside == 1 and tally.counts.missing == [1]
    sent = json.loads(json.dumps(tally.to_json()))  # as it travels
    assert read_tally(sent, reference, "tallies[0]") == tally


def test_tallies_of_one_model_add_up_as_their_counts_merge(reference: stats.Reference) -> None:
    one, two = tally_of(reference), tally_of(reference)
    total = merge_tallies([one, two])
    assert total.data_rows == 8
    assert total.counts == stats.merge([one.counts, two.counts])
    assert read_tally(total.to_json(), reference, "t") == total  # a sum is a tally too


def test_tallies_of_two_models_do_not_add_up(reference: stats.Reference) -> None:
    with pytest.raises(ValueError, match="one model"):
        merge_tallies([tally_of(reference, "V1"), tally_of(reference, "V2")])
    with pytest.raises(ValueError):
        merge_tallies([])


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (None, ["t"]),
        ({"model_version": "V1"}, ["t.data_rows", "t.counts"]),
        ({"model_version": 1, "data_rows": 4, "counts": {}}, ["t.model_version", "t.counts.rows"]),
    ],
)
def test_what_is_not_a_tally_is_named_field_by_field(
    reference: stats.Reference, body: Any, fields: list[str]
) -> None:
    problems = read_tally(body, reference, "t")
    assert isinstance(problems, list)
    assert [p.field for p in problems][: len(fields)] == fields
