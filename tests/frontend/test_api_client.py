"""The frontend's HTTP client against the real API: answers, problems, limits."""

from __future__ import annotations

from typing import Any

import pytest
from app_lib import api, batch
from app_lib.config import Settings

from tests.frontend.stack import ROOT, free_port

DATA = ROOT / "data" / "CC_GENERAL.csv"


@pytest.fixture
def settings(live_api: str) -> Settings:
    return Settings(api_url=live_api, api_key=None)


@pytest.fixture
def medians(settings: Settings) -> dict[str, Any]:
    features = api.get_model(settings)["features"]
    return {f["name"]: round(f["default"]) if f["integer"] else f["default"] for f in features}


def test_validation_problem_becomes_field_errors(
    settings: Settings, medians: dict[str, Any]
) -> None:
    body = {**medians, "BALANCE": "abc"}
    del body["TENURE"]
    with pytest.raises(api.ApiError) as caught:
        api.score(settings, body)
    assert caught.value.status == 400
    by_field = caught.value.errors_by_field()
    assert set(by_field) == {"BALANCE", "TENURE"}
    assert "abc" in by_field["BALANCE"][0]


def test_closed_port_is_a_readable_error() -> None:
    dead = Settings(api_url=f"http://127.0.0.1:{free_port()}", api_key=None)
    with pytest.raises(api.ApiError) as caught:
        api.get_health(dead)
    assert str(caught.value).startswith(f"Cannot reach the API at {dead.api_url}.")
    assert caught.value.status is None


def test_piece_over_the_byte_limit_is_split_not_lost(
    settings: Settings, medians: dict[str, Any]
) -> None:
    limit = api.get_model(settings)["limits"]["max_body_bytes"]
    filler = "x" * (2 * limit // 1000)  # 1,000 such rows are about twice the limit
    names = ["CUST_ID", *medians]
    rows = [[f"R{i}", *(filler if n == "BALANCE" else str(v) for n, v in medians.items())]
            for i in range(1000)]  # fmt: skip
    upload = batch.Upload(names, rows)
    progress: list[int] = []
    table = batch.score_all(
        upload,
        1000,
        lambda body, first: api.score_csv(settings, body, first).table,
        progress.append,
    )
    results = batch.read_results(table)
    assert progress == [1000]
    assert list(results["CUST_ID"]) == [f"R{i}" for i in range(1000)]
    assert list(results["row"]) == [str(n) for n in range(2, 1002)]
    assert (results["status"] == "error").all()
    assert results["errors"].str.startswith("BALANCE: must be a number, got 'xxx").all()


def test_pieces_tallies_come_back_and_add_up_over_http(settings: Settings) -> None:
    """Real pieces of the real data, their tallies read from the answers' header, added by
    the API in one request or folded two at a time: the same report."""
    lines = DATA.read_text().splitlines()[:2501]
    upload = batch.split(("\n".join(lines) + "\n").encode())
    tallies: list[dict[str, Any]] = []

    def send(body: bytes, first_row: int) -> bytes:
        answer = api.score_csv(settings, body, first_row)
        assert answer.tally is not None
        tallies.append(answer.tally)
        return answer.table

    batch.score_all(upload, 1000, send, lambda done: None)
    assert [t["data_rows"] for t in tallies] == [1000, 1000, 500]

    def ask(part: list[dict[str, Any]]) -> dict[str, Any]:
        return api.drift_report(settings, "sample.csv", part)

    at_once = batch.whole_file_report(tallies, ask, 500)
    folded = batch.whole_file_report(tallies, ask, 2)
    assert at_once["name"] == "sample.csv" and at_once["rows"] == 2500
    assert {**folded, "created_at": ""} == {**at_once, "created_at": ""}
    with pytest.raises(api.ApiError) as caught:
        api.drift_report(settings, "sample.csv", [{**tallies[0], "model_version": "V0"}])
    assert caught.value.status == 400
    assert [e.field for e in caught.value.errors] == ["tallies[0].model_version"]
