"""GET /v1/reports and GET /v1/reports/{name} on moto (reports as the batch function writes
them: chalicelib.drift.reports.ReportStore.put of a chalicelib.drift.stats report)."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from chalicelib.contract.feature import Feature

from tests.functions.conftest import ApiFactory
from tests.manifests import a_manifest, a_segment

from chalicelib.drift import stats as drift  # isort: skip
from chalicelib.drift import reports  # isort: skip

REPORTS_BUCKET = "cc-reports-test"


def a_report(name: str, schema_features: tuple[Feature, ...], segments: list[int]) -> Any:
    manifest = a_manifest(
        features=schema_features,
        segments=tuple(a_segment(i, name=f"s{i}", share=0.5) for i in range(2)),
    )
    reference = drift.reference_of(manifest)
    counts = drift.new_counts(reference)
    rows = [[1.0] * len(schema_features)] * len(segments)
    drift.add_rows(counts, reference, rows, segments, ["typical"] * len(segments))
    return drift.build_report(
        counts, reference, name=name, created_at="t", model_version="v1", rows_in_file=len(rows)
    )


@pytest.fixture
def api(make_api: ApiFactory, schema_features: tuple[Feature, ...]) -> Any:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=REPORTS_BUCKET)
    store = reports.ReportStore(REPORTS_BUCKET, s3)
    store.put(a_report("january", schema_features, [0, 1, 1, 1]))
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    store.put(a_report("2026/february", schema_features, [0, 1]))
    s3.put_object(Bucket=REPORTS_BUCKET, Key="batch/output/january.results.csv", Body=b"x")
    return make_api(BATCH_BUCKET=REPORTS_BUCKET)


def test_the_list_names_the_newest_reports_first_with_their_headline_numbers(api: Any) -> None:
    response = api.http.get("/v1/reports")
    assert response.status_code == 200
    listed = response.json_body["reports"]
    assert [r["name"] for r in listed] == ["2026/february", "january"]
    january = listed[1]
    assert january["rows"] == 4 and january["model_version"] == "v1"
    assert january["segment_max_change"] == pytest.approx(0.25)
    assert set(january) >= {"created_at", "status", "worst_psi", "segment_psi", "moved"}
    limited = api.http.get("/v1/reports?limit=1").json_body["reports"]
    assert [r["name"] for r in limited] == ["2026/february"]


def test_one_report_by_name_and_sub_folder_names_url_encoded(api: Any) -> None:
    january = api.http.get("/v1/reports/january")
    assert january.status_code == 200
    assert january.json_body["name"] == "january"
    assert january.json_body["thresholds"]["psi_retrain"] == drift.PSI_RETRAIN
    february = api.http.get("/v1/reports/2026%2Ffebruary")
    assert february.status_code == 200 and february.json_body["name"] == "2026/february"


@pytest.mark.parametrize("name", ["march", "january.results", "..%2Fbatch%2Foutput%2Fjanuary"])
def test_an_unknown_report_is_a_problem_404(api: Any, name: str) -> None:
    response = api.http.get(f"/v1/reports/{name}")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "since=1"])
def test_a_bad_query_is_a_field_level_400(api: Any, query: str) -> None:
    response = api.http.get(f"/v1/reports?{query}")
    assert response.status_code == 400
    assert response.json_body["errors"][0]["field"] in {"limit", "since"}


def test_an_unreachable_bucket_is_a_503_not_a_500(make_api: ApiFactory) -> None:
    api = make_api(BATCH_BUCKET="no-such-bucket")
    assert api.http.get("/v1/reports").status_code == 503
    assert api.http.get("/v1/reports/january").status_code == 503
