"""A malformed setting: one clear log line at start-up, then problem+json 503 until fixed."""

from __future__ import annotations

import io
import json

import pytest
from chalicelib import composition
from chalicelib.config import ConfigError, HistoryWrites, Settings

from tests.functions.conftest import ApiFactory

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"MODEL_REFRESH_SECONDS": "abc"}, ["MODEL_REFRESH_SECONDS"]),
        ({"MODEL_REFRESH_SECONDS": "nan"}, ["MODEL_REFRESH_SECONDS"]),
        ({"MODEL_REFRESH_SECONDS": "-5"}, ["MODEL_REFRESH_SECONDS"]),
        ({"CACHE_TTL_SECONDS": "1.5"}, ["CACHE_TTL_SECONDS"]),
        ({"BREAKER_FAILURES": "three"}, ["BREAKER_FAILURES"]),
        ({"DEPENDENCY_TIMEOUT_SECONDS": "0.5s"}, ["DEPENDENCY_TIMEOUT_SECONDS"]),
        ({"MODEL_LOAD_TIMEOUT_SECONDS": "-1"}, ["MODEL_LOAD_TIMEOUT_SECONDS"]),
        ({"HISTORY_WRITES": "transaction"}, ["HISTORY_WRITES"]),
        (
            {"MODEL_REFRESH_SECONDS": "1e999", "CACHE_TTL_SECONDS": "0"},
            ["MODEL_REFRESH_SECONDS", "CACHE_TTL_SECONDS"],
        ),
    ],
)
def test_every_bad_setting_is_named(env: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"MODEL_BUCKET": "b", **env})
    assert raised.value.names == names
    for name in names:
        assert name in str(raised.value)


def test_good_settings_still_parse() -> None:
    settings = Settings.from_env(
        {"MODEL_BUCKET": "b", "MODEL_REFRESH_SECONDS": " 0.5 ", "CACHE_TTL_SECONDS": "60"}
    )
    assert (settings.refresh_seconds, settings.cache_ttl_seconds) == (0.5, 60)
    assert settings.history_writes is HistoryWrites.TRANSACTIONS  # the default
    batch = Settings.from_env({"MODEL_BUCKET": "b", "HISTORY_WRITES": " batch "})
    assert batch.history_writes is HistoryWrites.BATCH


def test_a_malformed_setting_is_logged_at_start_up_and_answered_503(
    make_api: ApiFactory, log_lines: io.StringIO
) -> None:
    client = make_api(MODEL_REFRESH_SECONDS="abc", API_KEY="k")
    assert composition.check_settings() is False  # what app.py runs when the container starts
    (line,) = [json.loads(x) for x in log_lines.getvalue().splitlines() if x.startswith("{")]
    assert line["level"] == "ERROR"
    assert "MODEL_REFRESH_SECONDS" in line["message"] and "'abc'" in line["message"]
    for path in ("/v1/health", "/v1/model"):
        response = client.http.get(path, headers={"x-api-key": "k"})
        assert response.status_code == 503, response.body
        assert response.headers["Content-Type"] == PROBLEM
        body = json.loads(response.body)
        assert body["title"] == "Service misconfigured"
        assert "MODEL_REFRESH_SECONDS" in body["detail"] and "abc" not in body["detail"]


def test_start_up_check_is_quiet_when_the_settings_are_good(
    make_api: ApiFactory, log_lines: io.StringIO
) -> None:
    make_api()
    assert composition.check_settings() is True
    assert log_lines.getvalue() == ""
