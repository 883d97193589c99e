"""``chalice local`` against a moto server on loopback: score a customer over real HTTP."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import requests

from tests.functions.conftest import TrainedBundle, create_cache_table
from tests.servers import local_stage_env, start_chalice_local, start_moto_server
from training.store import ModelStore


@pytest.mark.slow
def test_chalice_local_scores_a_customer_over_http(
    bundle: TrainedBundle, valid_row: dict[str, Any]
) -> None:
    stage = local_stage_env()
    with start_moto_server() as aws_url:
        s3 = boto3.client("s3", endpoint_url=aws_url)
        s3.create_bucket(Bucket=stage["MODEL_BUCKET"])
        create_cache_table(boto3.client("dynamodb", endpoint_url=aws_url), stage["CACHE_TABLE"])
        version = ModelStore(stage["MODEL_BUCKET"], s3_client=s3).publish(bundle.path).version
        with start_chalice_local(aws_url) as api_url:
            first = requests.post(f"{api_url}/v1/segment", json=valid_row, timeout=60)
            second = requests.post(f"{api_url}/v1/segment", json=valid_row, timeout=60)
            health = requests.get(f"{api_url}/v1/health", timeout=60).json()
            bad = requests.post(f"{api_url}/v1/segment", json={"BALANCE": "x"}, timeout=60)
    assert first.status_code == 200, first.text
    assert first.json()["segment"]["id"] == bundle.labels[0]
    assert first.json()["model_version"] == version
    assert (first.json()["cache"], second.json()["cache"]) == ("miss", "hit")
    assert health == {"status": "ok", "model_version": version, "cache": "ok"}
    assert bad.status_code == 400
    assert bad.headers["Content-Type"] == "application/problem+json"
