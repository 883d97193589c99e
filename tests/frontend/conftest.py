"""A real API for the frontend tests: moto server, a real trained bundle published into it
by training's model store, and the Chalice app served by ``chalice local``.

The frontend only ever sees the API's URL, exactly as in production.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from chalicelib.contract.bundle import Manifest
from streamlit.runtime.media_file_storage import MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import app_test as app_test_module

from tests.fixtures_bundle import REAL_DATA
from tests.frontend.stack import API_KEY, wait_until_ok
from tests.servers import (
    OFFLINE_AWS_ENV,
    ROOT,
    local_stage_env,
    start_chalice_local,
    start_moto_server,
)
from training import migration
from training.registry import ModelRegistry
from training.schema import FEATURE_NAMES
from training.validation import validate_file

# The app's import root, as `streamlit run frontend/Home.py` makes it.
FRONTEND_DIR = Path(__file__).resolve().parents[2] / "frontend"
if str(FRONTEND_DIR) not in sys.path:
    sys.path.insert(0, str(FRONTEND_DIR))


def _create_aws(endpoint: str, stage: dict[str, str]) -> None:
    """Buckets and tables in moto server as the local stack makes them (infra/local_stack.py
    create-aws, which follows template.yaml)."""
    env = {**os.environ, **OFFLINE_AWS_ENV, "AWS_ENDPOINT_URL": endpoint}
    names = [stage[n] for n in ("MODEL_BUCKET", "CACHE_TABLE", "HISTORY_TABLE", "BATCH_BUCKET")]
    subprocess.run(
        [sys.executable, str(ROOT / "infra" / "local_stack.py"), "create-aws", *names],
        env=env,
        check=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def aws_with_model(trained_bundle: Any) -> Iterator[str]:
    """A moto server holding the bucket (real bundle published, promoted) and the cache table."""
    stage = local_stage_env()
    with start_moto_server() as endpoint:
        _create_aws(endpoint, stage)
        store = ModelRegistry(
            stage["MODEL_BUCKET"],
            stage["MODEL_PREFIX"],
            s3_client=boto3.client("s3", endpoint_url=endpoint),
        )
        store.publish(Path(trained_bundle.out_dir))  # publishes and promotes
        yield endpoint


@pytest.fixture(scope="module")
def migrated_api(trained_bundle: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API serving a copy of the real bundle that records a real migration: the real
    data retrained against its own published model (scored by the published
    ``segmenter.onnx``), in its own moto server so the session stack is untouched."""
    bundle = tmp_path_factory.mktemp("migrated") / "bundle"
    shutil.copytree(trained_bundle.out_dir, bundle)
    typed = Manifest.loads((bundle / "manifest.json").read_bytes())
    published = migration.from_manifest(typed, (bundle / "segmenter.onnx").read_bytes())
    frame = validate_file(REAL_DATA).frame
    assert frame is not None
    raw = frame.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    old = migration.published_labels(published, raw, FEATURE_NAMES)
    names = [s.name for s in typed.segments]
    moved = migration.section(published, old, trained_bundle.labels, names)
    (bundle / "manifest.json").write_bytes(replace(typed, migration=moved).dumps())
    stage = local_stage_env()
    with start_moto_server() as endpoint:
        _create_aws(endpoint, stage)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        ModelRegistry(stage["MODEL_BUCKET"], stage["MODEL_PREFIX"], s3_client=s3).publish(bundle)
        with start_chalice_local(endpoint, env={"API_KEY": ""}) as url:
            wait_until_ok(f"{url}/v1/health")
            yield url


@pytest.fixture(scope="session")
def live_api(aws_with_model: str) -> Iterator[str]:
    """The URL of a running API (chalice local) serving the real bundle, no key required."""
    with start_chalice_local(aws_with_model, env={"API_KEY": ""}) as url:
        wait_until_ok(f"{url}/v1/health")
        yield url


@pytest.fixture(scope="session")
def keyed_api(aws_with_model: str) -> Iterator[str]:
    """The same API, but requiring ``x-api-key: API_KEY``."""
    with start_chalice_local(aws_with_model, env={"API_KEY": API_KEY}) as url:
        wait_until_ok(f"{url}/v1/health")
        yield url


@pytest.fixture
def api_env(live_api: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the app (which reads API_URL at run time) at the live API."""
    monkeypatch.setenv("API_URL", live_api)
    monkeypatch.delenv("API_KEY", raising=False)
    return live_api


# --- download capture ---------------------------------------------------------------------


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], bytes]:
    """Read back the bytes behind an ``st.download_button`` (AppTest keeps them in memory)."""
    storages: list[MemoryMediaFileStorage] = []

    class RecordingStorage(MemoryMediaFileStorage):
        def __init__(self, media_endpoint: str) -> None:
            super().__init__(media_endpoint)
            storages.append(self)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", RecordingStorage)

    def data_of(button: Any) -> bytes:
        name = str(button.proto.url).rsplit("/", 1)[-1]
        for storage in reversed(storages):
            try:
                return bytes(storage.get_file(name).content)
            except MediaFileStorageError:
                continue
        raise AssertionError(f"no stored file behind {button.proto.url!r}")

    return data_of


# --- drift reports -----------------------------------------------------------------------


DATA = ROOT / "data" / "CC_GENERAL.csv"
REPORT_NAME = "portfolio"


def _score_file(endpoint: str, path: Path) -> None:
    """``infra/local_stack.py score-file``: the S3 batch function's code, as the README says."""
    env = {**os.environ, **OFFLINE_AWS_ENV, "AWS_ENDPOINT_URL": endpoint}
    done = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "local_stack.py"), "score-file", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="session")
def scored_reports(aws_with_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The same file scored twice, 1,500 real customers, the second time with balances and
    purchases tripled: a report with drift flagged and a migration; returns its name."""
    with DATA.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    rows = rows[:1500]
    tripled = [list(row) for row in rows]
    for name in ("BALANCE", "PURCHASES"):
        at = header.index(name)
        for row in tripled:
            row[at] = str(float(row[at]) * 3)
    for run, data in (("first", rows), ("second", tripled)):
        buffer = io.StringIO(newline="")
        csv.writer(buffer).writerows([header, *data])
        path = tmp_path_factory.mktemp(run) / f"{REPORT_NAME}.csv"
        path.write_text(buffer.getvalue())
        _score_file(aws_with_model, path)
    return REPORT_NAME
