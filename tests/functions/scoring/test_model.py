"""The scorer on the real bundle: agreement with numpy, JSON-safe output, limit positions."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from chalicelib.contract.bundle import Manifest
from chalicelib.scoring.loader import Bundle
from chalicelib.scoring.model import ScoringModel, _percentile, _typicality
from chalicelib.scoring.scored import ScoredColumns, batch_json
from chalicelib.scoring.service import ScoringService
from chalicelib.stores.cache import InMemoryCache

from tests.functions.conftest import TrainedBundle
from tests.functions.scoring.test_agreement import real_rows


@pytest.fixture(scope="module")
def model(bundle: TrainedBundle) -> ScoringModel:
    manifest = Manifest.from_json(bundle.manifest)
    files = {name: (bundle.path / name).read_bytes() for name in manifest.scoring_files()}
    return ScoringModel(Bundle(manifest.version, manifest, files))


def test_percentile_lookup_matches_numpy_interp(model: ScoringModel) -> None:
    for segment in model.segments:
        table = np.array(segment.percentiles)
        probes = np.concatenate(
            [np.linspace(-1.0, table[-1] * 1.5, 500), table, [table[0], table[-1]]]
        )
        expected = np.interp(probes, table, np.linspace(0, 100, table.size))
        got = [_percentile(float(p), segment.percentiles) for p in probes]
        np.testing.assert_allclose(got, expected, atol=0.006)


@pytest.mark.parametrize(
    ("percentile", "label"),
    [
        (0.0, "typical"),
        (75.0, "typical"),
        (75.01, "unusual"),
        (95.0, "unusual"),
        (95.5, "atypical"),
        (100.0, "atypical"),
    ],
)
def test_typicality_bands(percentile: float, label: str) -> None:
    assert _typicality(percentile).to_json() == {
        "percentile": percentile,
        "score": round(100 - percentile, 2),
        "label": label,
    }


def test_every_real_row_scores_to_strict_json(model: ScoringModel, bundle: TrainedBundle) -> None:
    records = [model.validator.validate(row) for row in real_rows()]
    results = [r.to_json() for r in model.score(records)]
    json.dumps(results, allow_nan=False)  # no NaN or infinity anywhere
    assert [r["segment"]["id"] for r in results] == bundle.labels
    positions = {r["credit_limit"]["position"] for r in results}
    assert positions == {"below", "within", "above", "unknown"}  # one row has no limit
    for result in results[:500]:
        band = result["credit_limit"]["benchmark"]
        assert band["p25"] <= band["p50"] <= band["p75"]
        margin = result["explanation"]["margin"]
        assert margin is not None and margin >= 0


def test_a_row_scores_the_same_alone_in_a_batch_and_anywhere_in_it(model: ScoringModel) -> None:
    """Same customer, same answer, to the last digit: an API batch, a batch file and a
    single request put the row at different batch positions (this failed for ~1 row in
    130 while distances came from the graph's float32 matrix product)."""
    records = [model.validator.validate(row) for row in real_rows()[:2000]]
    whole = model.score(records)
    shifted = model.score(records[1:1001]) + model.score(records[1001:])
    assert shifted == whole[1:]
    single = [model.score([record])[0] for record in records[:50]]
    assert single == whole[:50]


def test_limit_position_against_the_band(model: ScoringModel) -> None:
    row: dict[str, Any] = real_rows()[0]
    band = model.score([model.validator.validate(row)])[0].to_json()["credit_limit"]["benchmark"]
    for limit, position, suggestion in [
        (band["p25"] - 1, "below", "consider an increase"),
        (band["p50"], "within", "keep"),
        (band["p75"] + 1, "above", "review"),
    ]:
        result = model.score([model.validator.validate({**row, "CREDIT_LIMIT": limit})])[
            0
        ].to_json()
        # The limit is also a model input for the segment, not for the band of this row.
        credit = result["credit_limit"]
        if credit["benchmark"] == band:
            assert (credit["position"], credit["suggestion"]) == (position, suggestion)


def test_in_memory_hits_share_no_state_between_responses(
    model: ScoringModel, valid_row: dict[str, Any]
) -> None:
    """The in-memory cache hands out the stored result object itself (no JSON copy): each
    response must still carry its own id and cache outcome and leave the entry intact."""
    service = ScoringService(lambda: model, InMemoryCache())
    first = service.score_one({**valid_row, "CUST_ID": "A"}).to_json()
    second = service.score_one({**valid_row, "CUST_ID": "B"}).to_json()
    assert (first["cache"], first["customer_id"]) == ("miss", "A")
    assert (second["cache"], second["customer_id"]) == ("hit", "B")
    batch = batch_json(service.score_batch([{**valid_row, "CUST_ID": "C"}]))
    assert batch["results"][0]["result"]["customer_id"] == "C"
    again = service.score_one({**valid_row, "CUST_ID": "A"}).to_json()
    assert again == {**first, "cache": "hit"}
    assert json.loads(json.dumps(again)) == again


def test_driver_values_are_the_values_the_client_sent(
    model: ScoringModel, valid_row: dict[str, Any]
) -> None:
    """The graphs compute in float32, but a driver's ``value`` echoes the request: 3202.467416
    is answered as 3202.467416 (float32 would make it 3202.467529), an imputed one as the
    manifest's default."""
    sent = {**valid_row, "BALANCE": 3202.467416, "CASH_ADVANCE": 4647.169122}
    rows = [sent, *real_rows()[:300]]
    results = [r.to_json() for r in model.score([model.validator.validate(row) for row in rows])]
    defaults = dict(zip(model.features, model.defaults.tolist(), strict=True))
    checked = 0
    for row, result in zip(rows, results, strict=True):
        for driver in result["explanation"]["drivers"]:
            name = driver["feature"]
            expected = defaults[name] if row.get(name) is None else float(row[name])
            assert driver["value"] == expected, (name, driver["value"], expected)
            checked += 1
    first = {d["feature"] for d in results[0]["explanation"]["drivers"]}
    assert first & {"BALANCE", "CASH_ADVANCE"}
    assert checked > 300


def test_columns_hold_what_the_typed_answers_hold(model: ScoringModel) -> None:
    """A results table reads :meth:`ScoringModel.columns` (rounded and looked up a column at
    a time); a JSON answer reads :meth:`ScoringModel.score` (row by row). Every real row,
    and rows with missing and extreme values, must give the same numbers both ways."""
    rows = real_rows()
    edges = [
        {**rows[0], "CREDIT_LIMIT": None, "MINIMUM_PAYMENTS": None},
        {**rows[1], "BALANCE": 0.0, "PURCHASES": 9e11, "TENURE": 1.0},
        {**rows[2], "CASH_ADVANCE_FREQUENCY": 1.5, "PRC_FULL_PAYMENT": 1.0},
    ]
    records = [model.validator.validate(row) for row in [*rows, *edges]]
    typed = ScoredColumns.of(model.version, model.score(records))
    computed = model.compute(np.array([[np.nan if v is None else v for v in r.values]
                                       for r in records]))  # fmt: skip
    columns = model.columns(computed, [r.imputed for r in records], [r.flags for r in records])
    for name in ScoredColumns.__slots__:
        assert getattr(columns, name) == getattr(typed, name), name
    assert [repr(v) for v in columns.margin] == [repr(v) for v in typed.margin]  # -0.0 too
