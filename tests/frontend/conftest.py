"""A real API for the frontend tests: moto server, a real trained bundle published into it
by training's model store, and the Chalice app served by ``chalice local``.

The frontend only ever sees the API's URL, exactly as in production.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.frontend.stack import free_port, server, wait_http

VENV_BIN = Path(sys.executable).parent
BUCKET = "cc-segmentation-models"  # the chalice "local" stage's names (functions/.chalice)
TABLE = "cc-segmentation-cache"
PREFIX = "models/"


def _create_aws(endpoint: str) -> None:
    """The bucket and the cache table in moto server, as template.yaml declares them."""
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
    dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _publish(bundle_dir: Path, endpoint: str) -> str:
    """Publish and promote the bundle with training's own store (the real publisher)."""
    from training.store import ModelStore

    store = ModelStore(BUCKET, PREFIX, s3_client=boto3.client("s3", endpoint_url=endpoint))
    return store.publish(bundle_dir).version


@pytest.fixture(scope="session")
def live_api(trained_bundle: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running API serving a real trained bundle (moto behind it)."""
    logs = tmp_path_factory.mktemp("frontend-servers")
    moto_port, api_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    moto_cmd = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)]
    with server(moto_cmd, logs / "moto.log") as moto:
        wait_http(f"{endpoint}/moto-api/", moto, 60)
        _create_aws(endpoint)
        _publish(Path(trained_bundle.out_dir), endpoint)
        api_cmd = [
            str(VENV_BIN / "chalice"),
            "--project-dir",
            "functions",
            "local",
            "--stage",
            "local",
            "--no-autoreload",
            "--host",
            "127.0.0.1",
            "--port",
            str(api_port),
        ]
        env = {"AWS_ENDPOINT_URL": endpoint, "API_KEY": ""}
        with server(api_cmd, logs / "api.log", env) as api:
            url = f"http://127.0.0.1:{api_port}"
            wait_http(f"{url}/v1/health", api, 120)
            yield url


@pytest.fixture
def api_env(live_api: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the app (read at run time from the environment) at the live API."""
    monkeypatch.setenv("API_URL", live_api)
    monkeypatch.delenv("API_KEY", raising=False)
    return live_api
