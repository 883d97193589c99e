"""Fixtures for the scoring API's tests: the functions/ code on the path, moto, the app.

``functions/`` is a Chalice project, not a package: its ``chalicelib`` is imported from the
project directory (as Lambda does) and ``app.py`` is loaded under a unique module name so it
cannot clash with another part's ``app`` module in the same test session.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from chalice.test import Client
from chalicelib.contract.feature import Feature
from moto import mock_aws

from training.registry import ModelRegistry
from training.schema import FEATURES, ID_COLUMN

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
if str(FUNCTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS_DIR))

# The training ranges of the real data set (data/README.md), for manifest-only tests.
TRAIN_RANGES: dict[str, tuple[float, float]] = {
    "BALANCE": (0.0, 19043.14),
    "BALANCE_FREQUENCY": (0.0, 1.0),
    "PURCHASES": (0.0, 49039.57),
    "ONEOFF_PURCHASES": (0.0, 40761.25),
    "INSTALLMENTS_PURCHASES": (0.0, 22500.0),
    "CASH_ADVANCE": (0.0, 47137.21),
    "PURCHASES_FREQUENCY": (0.0, 1.0),
    "ONEOFF_PURCHASES_FREQUENCY": (0.0, 1.0),
    "PURCHASES_INSTALLMENTS_FREQUENCY": (0.0, 1.0),
    "CASH_ADVANCE_FREQUENCY": (0.0, 1.5),
    "CASH_ADVANCE_TRX": (0.0, 123.0),
    "PURCHASES_TRX": (0.0, 358.0),
    "CREDIT_LIMIT": (50.0, 30000.0),
    "PAYMENTS": (0.0, 50721.48),
    "MINIMUM_PAYMENTS": (0.019163, 76406.21),
    "PRC_FULL_PAYMENT": (0.0, 1.0),
    "TENURE": (6.0, 12.0),
}


def load_functions_app() -> ModuleType:
    """functions/app.py as module ``functions_app`` (loaded once per session)."""
    if "functions_app" in sys.modules:
        return sys.modules["functions_app"]
    spec = importlib.util.spec_from_file_location("functions_app", FUNCTIONS_DIR / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["functions_app"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def schema_features() -> tuple[Feature, ...]:
    """The manifest's ``features`` as training completes them: the catalogue with the
    data's ranges (no drift bins)."""
    return tuple(
        replace(f, train_min=low, train_max=high, default=(low + high) / 2)
        for f in FEATURES
        for low, high in [TRAIN_RANGES[f.name]]
    )


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The service's JSON log lines, formatted by its own Powertools formatter."""
    from chalicelib.observability import SERVICE, logger

    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logger.registered_formatter)
    standard = logging.getLogger(SERVICE)  # the logging.Logger behind Powertools' Logger
    standard.addHandler(handler)
    yield lines
    standard.removeHandler(handler)


def emitted(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a log or of printed output (metrics), parsed."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def valid_row() -> dict[str, Any]:
    """A real customer (C10001, the first row of the data set)."""
    return {
        ID_COLUMN: "C10001",
        "BALANCE": 40.900749,
        "BALANCE_FREQUENCY": 0.818182,
        "PURCHASES": 95.4,
        "ONEOFF_PURCHASES": 0,
        "INSTALLMENTS_PURCHASES": 95.4,
        "CASH_ADVANCE": 0,
        "PURCHASES_FREQUENCY": 0.166667,
        "ONEOFF_PURCHASES_FREQUENCY": 0,
        "PURCHASES_INSTALLMENTS_FREQUENCY": 0.083333,
        "CASH_ADVANCE_FREQUENCY": 0,
        "CASH_ADVANCE_TRX": 0,
        "PURCHASES_TRX": 2,
        "CREDIT_LIMIT": 1000,
        "PAYMENTS": 201.802084,
        "MINIMUM_PAYMENTS": 139.509787,
        "PRC_FULL_PAYMENT": 0,
        "TENURE": 12,
    }


# --- AWS (moto) and the app -----------------------------------------------------------

BUCKET = "cc-models-test"
PREFIX = "models/"
TABLE = "cc-cache-test"
HISTORY = "cc-history-test"


@dataclass(frozen=True)
class TrainedBundle:
    """A real bundle directory and the labels training gave the 8,950 rows."""

    path: Path
    labels: list[int]

    @property
    def manifest(self) -> dict[str, Any]:
        manifest: dict[str, Any] = json.loads((self.path / "manifest.json").read_text())
        return manifest


@pytest.fixture(scope="session")
def bundle(trained_bundle: Any) -> TrainedBundle:
    """training's session bundle (tests/fixtures_bundle.py), as a path and labels."""
    return TrainedBundle(Path(trained_bundle.out_dir), [int(x) for x in trained_bundle.labels])


def create_cache_table(client: Any, name: str = TABLE) -> None:
    """The cache table as the SAM template declares it (partition key ``key``)."""
    from chalicelib.stores.cache import TABLE_DEFINITION

    client.create_table(TableName=name, **TABLE_DEFINITION)


def create_history_table(client: Any, name: str = HISTORY) -> None:
    """The history table as template.yaml declares it."""
    from chalicelib.stores.history import TABLE_DEFINITION

    client.create_table(TableName=name, **TABLE_DEFINITION)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb")
    create_cache_table(client)
    return client


@pytest.fixture
def store(s3: Any) -> ModelRegistry:
    """training's model store on the moto bucket (how bundles really get published)."""
    return ModelRegistry(BUCKET, PREFIX, s3_client=s3)


@pytest.fixture
def published(store: ModelRegistry, bundle: TrainedBundle) -> str:
    """The real bundle published and promoted; returns its version."""
    return store.publish(bundle.path).version


def copy_bundle(bundle: TrainedBundle, target: Path, version: str, **changes: Any) -> Path:
    """The same bundle under another version (and optional manifest changes)."""
    shutil.copytree(bundle.path, target)
    manifest = bundle.manifest
    manifest.update(version=version, **changes)
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


ApiFactory = Callable[..., Client]


@pytest.fixture
def make_api(monkeypatch: pytest.MonkeyPatch, dynamodb: Any) -> Iterator[ApiFactory]:
    """A chalice test client on the real app, configured from the environment like Lambda.

    Each call resets the per-container singletons, i.e. simulates a cold start.
    """
    from chalicelib import composition

    app_module = load_functions_app()

    def build(**env: str) -> Client:
        settings = {
            "MODEL_BUCKET": BUCKET,
            "MODEL_PREFIX": PREFIX,
            "CACHE_TABLE": TABLE,
            "MODEL_REFRESH_SECONDS": "60",
            "POWERTOOLS_METRICS_DISABLED": "true",
            **env,
        }
        for name in ("MODEL_VERSION", "API_KEY", "HISTORY_TABLE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        composition.reset()
        return Client(app_module.app)

    yield build
    composition.reset()


@pytest.fixture
def api(make_api: ApiFactory, published: str) -> Client:
    return make_api()


def post_json(client: Client, path: str, body: Any, **headers: str) -> Any:
    return client.http.post(
        path,
        headers={"Content-Type": "application/json", **headers},
        body=json.dumps(body).encode(),
    )
