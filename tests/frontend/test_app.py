"""The Streamlit app driven by AppTest against a real API (chalice local + moto + a real bundle)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from app_lib import tables  # frontend/ is on sys.path (tests/frontend/conftest.py)
from streamlit.testing.v1 import AppTest

from tests.frontend.stack import API_KEY, ROOT, free_port

HOME = ROOT / "frontend" / "Home.py"
DATA = ROOT / "data" / "CC_GENERAL.csv"
SCORE, SEGMENTS, MODEL, BATCH, MONITORING = (
    "views/01_Score.py",
    "views/02_Segments.py",
    "views/03_Model.py",
    "views/04_Batch.py",
    "views/05_Monitoring.py",
)
RUN_TIMEOUT = 60


def open_page(page: str | None = None) -> AppTest:
    """The app from its entrypoint, optionally switched to one page, after one run."""
    app = AppTest.from_file(HOME, default_timeout=RUN_TIMEOUT).run()
    if page is not None:
        app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def submit_score(app: AppTest) -> AppTest:
    app.button(key="FormSubmitter:customer-Score this customer").click().run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def api_get(url: str, path: str) -> dict[str, Any]:
    response = requests.get(f"{url}{path}", timeout=30)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def texts(elements: Any) -> list[str]:
    return [str(element.value) for element in elements]


# --- the API is down ----------------------------------------------------------------------


@pytest.fixture
def dead_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("API_URL", url)
    yield url


@pytest.mark.parametrize("page", [None, SCORE, SEGMENTS, MODEL, BATCH])
def test_unreachable_api_shows_a_message_not_a_trace(dead_api: str, page: str | None) -> None:
    app = open_page(page)
    errors = texts(app.error)
    assert any("Cannot reach the API at " + dead_api in error for error in errors), errors
    assert not app.exception


def test_sidebar_url_overrides_the_environment(dead_api: str, live_api: str) -> None:
    app = open_page()
    assert app.error  # the environment points at a dead port
    app.text_input(key="api_url").set_value(live_api).run()
    assert not app.error, texts(app.error)
    assert "API" in [metric.label for metric in app.metric]


@pytest.mark.parametrize(
    ("key", "expected_error"), [(API_KEY, None), ("wrong", "403"), (None, "401")]
)
def test_api_key_from_the_environment_is_sent(
    keyed_api: str, monkeypatch: pytest.MonkeyPatch, key: str | None, expected_error: str | None
) -> None:
    monkeypatch.setenv("API_URL", keyed_api)
    if key is None:
        monkeypatch.delenv("API_KEY", raising=False)
    else:
        monkeypatch.setenv("API_KEY", key)
    app = open_page(MODEL)
    errors = texts(app.error)
    if expected_error is None:
        assert not errors
        assert any("Version" in text for text in texts(app.markdown))
    else:
        assert len(errors) == 1 and f"answered {expected_error}" in errors[0], errors


# --- a live API -----------------------------------------------------------------------------


def test_home_reports_the_model_in_service(api_env: str) -> None:
    app = open_page()
    health = api_get(api_env, "/v1/health")
    values = {metric.label: metric.value for metric in app.metric}
    assert values["API"] == "OK"
    assert any(health["model_version"] in caption for caption in texts(app.caption))
    assert health["current"] is None and not app.warning  # the current version serves


def test_form_is_built_from_the_feature_schema(api_env: str) -> None:
    model = api_get(api_env, "/v1/model")
    app = open_page(SCORE)
    inputs = {widget.key: widget for widget in app.number_input}
    for feature in model["features"]:
        widget = inputs[f"feature_{feature['name']}"]
        assert widget.label.startswith(feature["label"])
        assert widget.label.endswith("(optional)") == bool(feature["optional"])
        assert widget.help is not None and feature["description"] in widget.help
        assert widget.value == pytest.approx(feature["default"], abs=0.5)


def test_default_customer_gets_the_apis_segment(api_env: str) -> None:
    app = submit_score(open_page(SCORE))
    body = {
        widget.key.removeprefix("feature_"): widget.value
        for widget in app.number_input
        if widget.key and widget.key.startswith("feature_")
    }
    expected = requests.post(f"{api_env}/v1/segment", json=body, timeout=30).json()
    assert texts(app.subheader)[0] == f"Segment: {expected['segment']['name']}"
    assert any(expected["model_version"] in caption for caption in texts(app.caption))
    labels = [metric.label for metric in app.metric]
    assert {"Typicality", "Credit limit vs look-alikes", "Answer from cache"} <= set(labels)
    assert not app.error


def test_segment_example_prefills_and_scores_to_its_segment(api_env: str) -> None:
    segments = api_get(api_env, "/v1/segments")["segments"]
    target = segments[-1]
    app = open_page(SCORE)
    app.selectbox(key="prefill_choice").set_value(f"Typical member of: {target['name']}").run()
    balance = app.number_input(key="feature_BALANCE").value
    assert balance == pytest.approx(target["example"]["BALANCE"])
    submit_score(app)
    assert texts(app.subheader)[0] == f"Segment: {target['name']}"
    # The Segments page then places this customer on the map.
    app.switch_page(SEGMENTS).run()
    assert not app.exception
    assert any("last scored customer" in caption for caption in texts(app.caption))


def find_path(app: AppTest, target: str) -> AppTest:
    app.selectbox(key="path_target").select(
        next(o for o in app.selectbox(key="path_target").options if o.startswith(target))
    ).run()
    app.button(key="FormSubmitter:path-Find a path").click().run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_path_to_another_segment_shows_the_changes_the_map_and_the_check(api_env: str) -> None:
    """After a score: the API's path, its changes in the data's units, the map with the
    arrow, and the check; the same answer the API gives for the same request."""
    segments = api_get(api_env, "/v1/segments")["segments"]
    app = submit_score(open_page(SCORE))
    own = texts(app.subheader)[0].removeprefix("Segment: ")
    target = next(s for s in segments if s["name"] != own)
    find_path(app, target["name"])
    customer = {
        w.key.removeprefix("feature_"): w.value
        for w in app.number_input
        if w.key and w.key.startswith("feature_")
    }
    body = {"customer": customer, "target_segment": target["id"]}
    expected = requests.post(f"{api_env}/v1/segment/path", json=body, timeout=60).json()
    metrics = {m.label: m for m in app.metric}
    assert f"From **{own}** to **{target['name']}**" in texts(app.markdown)
    check = metrics["Check: the proposed customer"]
    assert (check.value, check.delta) == ("Typical", f"in {target['name']}")
    assert expected["check"]["typicality"]["label"] == "typical"
    changed = f"{len(expected['changes'])} of {len(expected['may_change'])}"
    assert metrics["Variables changed"].value == changed
    table = app.dataframe[-1].value
    assert list(table.columns) == ["variable", "before", "after", "change"]
    assert len(table) == len(expected["changes"]) > 0
    assert any("not a credit decision" in caption for caption in texts(app.caption))
    assert not app.error and not app.warning


def test_path_refusal_says_which_fixed_variable_keeps_the_customer_out(api_env: str) -> None:
    segments = api_get(api_env, "/v1/segments")["segments"]
    app = open_page(SCORE)
    app.number_input(key="feature_TENURE").set_value(6)
    submit_score(app)
    own = texts(app.subheader)[0].removeprefix("Segment: ")
    refused = []
    for segment in segments:
        if segment["name"] != own:
            find_path(app, segment["name"])
            refused += [w for w in texts(app.warning) if w.startswith("No path.")]
    assert refused and "TENURE" in refused[0]
    assert any("**TENURE**" in text for text in texts(app.markdown))


def _column_holding(app: AppTest, key: str) -> Any:
    for column in app.columns:
        if any(widget.key == key for widget in column.number_input):
            return column
    raise AssertionError(f"no column holds {key}")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [("BALANCE", -5.0, "negative"), ("TENURE", None, "required")],
)
def test_bad_value_shows_the_apis_error_beside_its_field(
    api_env: str, field: str, value: float | None, words: str
) -> None:
    app = open_page(SCORE)
    app.number_input(key=f"feature_{field}").set_value(value)
    submit_score(app)
    beside = texts(_column_holding(app, f"feature_{field}").error)
    assert beside and words in beside[0], beside
    assert any("Not scored" in error for error in texts(app.error))
    assert not any(header.startswith("Segment:") for header in texts(app.subheader))


def test_segments_page_shows_profiles_rules_and_map(api_env: str) -> None:
    segments = api_get(api_env, "/v1/segments")["segments"]
    app = open_page(SEGMENTS)
    markdown = " ".join(texts(app.markdown))
    for segment in segments:
        assert segment["name"] in markdown
        assert segment["action"] in markdown
    profile = app.dataframe[0].value
    assert list(profile.columns) == [segment["name"] for segment in segments]
    assert profile.loc["Balance", segments[0]["name"]] == pytest.approx(
        segments[0]["medians"]["BALANCE"]
    )
    assert len(app.get("vega_lite_chart")) >= 3  # sizes, map, heat map


def test_model_page_shows_elbow_and_metrics(api_env: str) -> None:
    model = api_get(api_env, "/v1/model")
    app = open_page(MODEL)
    assert any(model["version"] in text for text in texts(app.markdown))
    table = app.dataframe[0].value
    assert list(table["k"]) == model["elbow"]["k_values"]
    chosen = table[table["chosen"] == "yes"]["k"].tolist()
    assert chosen == [model["elbow"]["k"]]
    stability = model["stability"]
    shown = dict(zip(table["k"], table["stability (ARI)"], strict=True))
    assert shown[model["k"]] == pytest.approx(stability["ari_mean"][str(model["k"])])
    assert set(table[table["stable"] == "yes"]["k"]) == set(stability["stable_k"])
    segments = app.dataframe[1].value
    assert list(segments["Jaccard stability"]) == pytest.approx(
        [s["jaccard"] for s in stability["segments"]]
    )
    assert any(stability["reason"] in text for text in texts(app.markdown))
    assert any("trained afresh" in text for text in texts(app.info))  # no previous model


def test_model_page_shows_the_migration_from_the_previous_model(
    migrated_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_URL", migrated_api)
    monkeypatch.delenv("API_KEY", raising=False)
    migration = api_get(migrated_api, "/v1/model")["migration"]
    app = open_page(MODEL)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Previous model"] == migration["from_version"]
    assert metrics["Customers whose segment changed"] == f"{migration['changed_share']:.1%}"
    heat = app.get("vega_lite_chart")
    assert len(heat) >= 2  # the elbow curve and the migration heat map
    assert not any("trained afresh" in text for text in texts(app.info))


def test_migration_cells_name_every_pair_with_its_count() -> None:
    migration = {
        "from_segments": [{"id": 0, "name": "A"}, {"id": 1, "name": "B"}],
        "to_segments": [{"id": 0, "name": "A"}, {"id": 1, "name": "B"}, {"id": 2, "name": "C"}],
        "matrix": [[5, 1, 0], [2, 7, 3]],
    }
    cells = tables.model_migration_cells(migration)
    assert len(cells) == 6
    row = cells[(cells["from_segment"] == "1 B") & (cells["to_segment"] == "2 C")]
    assert row["customers"].tolist() == [3]


# --- batch ----------------------------------------------------------------------------------


def _real_rows(count: int) -> tuple[list[str], list[list[str]]]:
    with DATA.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [row for _, row in zip(range(count), reader, strict=False)]
    return header, rows


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def test_batch_file_without_required_columns_is_refused(api_env: str, tmp_path: Path) -> None:
    header, rows = _real_rows(5)
    drop = header.index("TENURE")
    header = [c for i, c in enumerate(header) if i != drop]
    rows = [[c for i, c in enumerate(row) if i != drop] for row in rows]
    app = open_page(BATCH)
    app.file_uploader[0].set_value(("few.csv", _csv(header, rows), "text/csv")).run()
    [score] = [button for button in app.button if button.label.startswith("Score 5")]
    score.click().run()
    assert not app.exception, [e.value for e in app.exception]
    errors = texts(app.error)
    assert any("TENURE" in e and "required column is missing" in e for e in errors), errors
    assert not app.download_button


def test_batch_page_shows_the_apis_column_warnings(api_env: str) -> None:
    header, rows = _real_rows(5)
    app = open_page(BATCH)
    content = _csv([*header, "NOTES"], [[*row, "x"] for row in rows])
    app.file_uploader[0].set_value(("notes.csv", content, "text/csv")).run()
    [score] = [button for button in app.button if button.label.startswith("Score 5")]
    score.click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert "`NOTES`: unknown column, ignored" in texts(app.warning)
    assert app.download_button


def test_batch_page_shows_the_files_drift_as_the_monitoring_page_would(
    api_env: str, scored_reports: str
) -> None:
    """The rows of the stored report ``scored_reports`` (1,500 real customers, balances and
    purchases tripled), uploaded: two pieces, one drift summary, the stored report's numbers."""
    header, rows = _real_rows(1500)
    for name in ("BALANCE", "PURCHASES"):
        at = header.index(name)
        for row in rows:
            row[at] = str(float(row[at]) * 3)
    stored = api_get(api_env, f"/v1/reports/{scored_reports}")
    app = open_page(BATCH)
    app.file_uploader[0].set_value(("tripled.csv", _csv(header, rows), "text/csv")).run()
    [score] = [button for button in app.button if button.label.startswith("Score 1,500")]
    score.click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert "Drift against training" in texts(app.subheader)
    assert any("Retrain" in text for text in texts(app.error))
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Scored rows"] == "1,500"
    assert metrics["Worst PSI"] == f"{stored['worst_psi']['psi']:.3f}"
    flagged = app.dataframe[1].value  # [0] is the rows per segment
    assert list(flagged["PSI"]) == [f["psi"] for f in stored["flags"]]
    assert {"Balance", "Purchases"} <= set(flagged["variable"])
    # Rows per segment, then the summary's segment shares and PSI per feature.
    assert len(app.get("vega_lite_chart")) == 3
    assert not any("Migration" in text for text in texts(app.subheader))  # no previous run


def test_batch_results_stand_when_the_drift_summary_cannot_be_built(
    api_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E.g. a model promoted while the file was scored: the API refuses the tallies, the
    page says why under the drift heading and still shows and offers the results."""
    from app_lib import api

    def refused(*_: Any) -> dict[str, Any]:
        errors = [api.FieldError("tallies[1].model_version", "was counted with model 'V0'")]
        raise api.ApiError("The API answered 400 Invalid request", 400, errors)

    monkeypatch.setattr(api, "drift_report", refused)
    header, rows = _real_rows(5)
    app = open_page(BATCH)
    app.file_uploader[0].set_value(("few.csv", _csv(header, rows), "text/csv")).run()
    [score] = [button for button in app.button if button.label.startswith("Score 5")]
    score.click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert any(e.startswith("Could not build the drift summary.") for e in texts(app.error))
    assert "Drift against training" in texts(app.subheader)
    assert app.download_button


# --- monitoring -----------------------------------------------------------------------------


def test_monitoring_page_shows_drift_flags_shares_and_migration(
    api_env: str, scored_reports: str
) -> None:
    report = api_get(api_env, f"/v1/reports/{scored_reports}")
    assert report["status"] == "retrain"  # balances and purchases were tripled
    app = open_page(MONITORING)
    assert app.selectbox[0].value == scored_reports
    assert any("Retrain" in text for text in texts(app.error))
    metrics = {m.label: m.value for m in app.metric}
    migration = report["migration"]
    assert metrics["Matched by CUST_ID"] == "1,500"
    assert metrics["Moved segment"] == f"{migration['moved']:,}"
    assert metrics["Scored rows"] == "1,500"
    flagged = app.dataframe[1].value  # [0] lists the reports
    assert {"Balance", "Purchases"} <= set(flagged["variable"])
    # Segment shares, PSI per feature, migration heat map.
    assert len(app.get("vega_lite_chart")) == 3


def test_path_changes_are_in_each_variables_own_units() -> None:
    features = [
        {"name": "BALANCE", "kind": "amount", "label": "Balance"},
        {"name": "PURCHASES_FREQUENCY", "kind": "score", "label": "Purchase frequency"},
        {"name": "PURCHASES_TRX", "kind": "count", "label": "Purchase transactions"},
        {"name": "MINIMUM_PAYMENTS", "kind": "amount", "label": "Minimum payments"},
    ]
    changes = [
        {"feature": "BALANCE", "from": 873.387, "to": 1075.2081, "change": 201.8211},
        {"feature": "PURCHASES_FREQUENCY", "from": 0.5, "to": 0.4166, "change": -0.0834},
        {"feature": "PURCHASES_TRX", "from": 7, "to": 1200, "change": 1193},
        {"feature": "MINIMUM_PAYMENTS", "from": 312.34, "to": 343.12, "change": 30.78,
         "imputed": True},
    ]  # fmt: skip
    labels = {f["name"]: f["label"] for f in features}
    table = tables.path_changes(changes, features, labels)
    assert table.to_dict("records") == [
        {"variable": "Balance", "before": "873.39", "after": "1,075.21", "change": "+201.82"},
        {"variable": "Purchase frequency", "before": "0.500", "after": "0.417",
         "change": "-0.083"},
        {"variable": "Purchase transactions", "before": "7", "after": "1,200",
         "change": "+1,193"},
        {"variable": "Minimum payments", "before": "312.34 (imputed)", "after": "343.12",
         "change": "+30.78"},
    ]  # fmt: skip
