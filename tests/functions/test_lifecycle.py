"""What the cold-start cuts rely on: lazy imports, the work done at init, the restore hook.

Not timed (benchmarks/bench_cold_start.py measures): these check that the work happens
where the design puts it, so a change that moves it back onto the request path fails here.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from chalicelib import composition, lifecycle, observability

from tests.functions.conftest import (
    FUNCTIONS_DIR,
    HISTORY,
    PREFIX,
    ApiFactory,
    TrainedBundle,
    copy_bundle,
    load_functions_app,
    post_json,
)
from tests.functions.scoring.test_loader import Outage
from training.registry import ModelRegistry

V2 = "20991231T000000Z-00000002"

IMPORT_APP = """
import json, sys
import app
print(json.dumps(sorted(sys.modules)))
"""


def modules_after_importing_app(**env: str) -> set[str]:
    """The modules a fresh interpreter has loaded once ``import app`` returns."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA_")}
    run = subprocess.run(
        [sys.executable, "-c", IMPORT_APP],
        cwd=FUNCTIONS_DIR,
        env={**keep, "MODEL_BUCKET": "unused", "AWS_EC2_METADATA_DISABLED": "true", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(run.stdout.strip().splitlines()[-1]))


def test_importing_the_app_leaves_out_what_the_first_request_does_not_need() -> None:
    modules = modules_after_importing_app()
    assert "app" in modules and "chalicelib.lifecycle" in modules
    # The batch-file code is for the S3 trigger only, the path solver for its route only;
    # boto3 is never used (botocore is); numpy and onnxruntime load with the model (in a
    # Lambda init, beside its S3 reads).
    lazy_modules = ("chalicelib.batch.files", "chalicelib.paths", "chalicelib.api.paths")
    for lazy in (*lazy_modules, "boto3", "numpy", "onnxruntime"):
        assert lazy not in modules, lazy
    # Outside a Lambda init (tests, chalice local) nothing is loaded at import.
    assert "AWS_LAMBDA_INITIALIZATION_TYPE" not in os.environ


def test_the_openapi_document_is_read_on_first_use(api: Client) -> None:
    app_module = load_functions_app()
    app_module.openapi_document.cache_clear()
    assert app_module.openapi_document.cache_info().currsize == 0
    response = api.http.get("/v1/openapi.json")
    assert response.status_code == 200
    assert json.loads(response.body)["openapi"].startswith("3.")
    assert app_module.openapi_document.cache_info().currsize == 1


class S3Reads:
    """Records every GetObject key a botocore S3 client sends."""

    def __init__(self, client: Any) -> None:
        self.keys: list[str] = []
        client.meta.events.register("before-parameter-build.s3.GetObject", self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.keys.append(params["Key"])


@pytest.fixture
def lambda_init(make_api: ApiFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """The app as Lambda starts it: ``AWS_LAMBDA_INITIALIZATION_TYPE`` set, then init."""
    client = make_api()  # environment set, singletons reset (a new container)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    yield client
    lifecycle.TIMINGS.clear()


def test_init_loads_the_model_and_makes_the_clients_before_any_request(
    lambda_init: Client, published: str, bundle: TrainedBundle, valid_row: dict[str, Any]
) -> None:
    assert lifecycle.in_lambda_init()
    reads = S3Reads(composition.get_model_loader().reader.s3)
    lifecycle.initialise()

    store = composition.get_model_loader()
    assert store.version == published
    manifest = bundle.manifest
    base = f"{PREFIX}{published}/"
    scoring_files = {manifest["segmenter"]["file"], manifest["limit_model"]["global_file"]}
    scoring_files |= {
        (s.get("limit_model") or {}).get("file", manifest["limit_model"]["global_file"])
        for s in manifest["segments"]
    }
    fetched = reads.keys
    assert len(fetched) == len(set(fetched)), f"an object was fetched twice: {fetched}"
    assert fetched[:2] == [f"{PREFIX}current", f"{base}manifest.json"]
    assert {base + name for name in scoring_files} <= set(fetched)
    assert set(fetched) <= {fetched[0], fetched[1], *(base + name for name in manifest["files"])}
    dynamodb = composition.dynamodb_client()
    assert dynamodb is not None and dynamodb._client is not None  # made, not on first use
    assert set(lifecycle.TIMINGS) == {
        "model loader",
        "model load",
        "first scoring",
        "DynamoDB client",
    }

    # The first request reads nothing from S3: the model came with the container.
    reads.keys.clear()
    response = post_json(lambda_init, "/v1/segment", valid_row)
    assert response.status_code == 200, response.body
    assert reads.keys == []


def test_init_without_a_model_does_not_fail_the_container(
    lambda_init: Client, s3: Any, valid_row: dict[str, Any]
) -> None:
    lifecycle.initialise()  # nothing published: logged, not raised
    assert composition.get_model_loader().version is None
    assert "first scoring" not in lifecycle.TIMINGS
    assert post_json(lambda_init, "/v1/segment", valid_row).status_code == 503


def test_after_restore_renews_clients_cold_start_flag_and_rereads_the_pointer(
    lambda_init: Client,
    make_api: ApiFactory,
    published: str,
    bundle: TrainedBundle,
    store: ModelRegistry,
    tmp_path: Any,
) -> None:
    make_api(HISTORY_TABLE=HISTORY)  # both tables: one client, renewed through one path
    lifecycle.initialise()
    model_loader = composition.get_model_loader()
    cache, history = composition.get_cache(), composition.get_history()
    s3_before = model_loader.reader.s3
    dynamodb_before = cache.table.client  # type: ignore[union-attr]
    assert history.table.client is dynamodb_before  # type: ignore[union-attr]  # one client
    observability._cold_start = False  # the snapshot was taken after a warm-up request
    # Published and promoted after the snapshot was taken, before the restore:
    store.publish(copy_bundle(bundle, tmp_path / "v2", V2))

    lifecycle.after_restore()

    assert model_loader.version == V2  # not after MODEL_REFRESH_SECONDS: now
    assert model_loader.reader.s3 is not s3_before
    # One path renews the client of both tables.
    assert cache.table.client is not dynamodb_before  # type: ignore[union-attr]
    assert history.table.client is cache.table.client  # type: ignore[union-attr]
    assert observability._cold_start is True
    assert set(lifecycle.TIMINGS) == {"S3 client", "DynamoDB client", "pointer check"}


def test_the_hook_is_registered_with_the_runtime_library_when_it_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``snapshot_restore_py`` ships with the Lambda runtime only: a stand-in records."""
    registered: list[Any] = []
    stand_in = types.ModuleType("snapshot_restore_py")
    stand_in.register_after_restore = registered.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", stand_in)
    try:
        reloaded = importlib.reload(lifecycle)
        assert reloaded.REGISTERED is True
        assert registered == [reloaded.after_restore]
    finally:
        monkeypatch.delitem(sys.modules, "snapshot_restore_py")
        importlib.reload(lifecycle)
    assert lifecycle.REGISTERED is False  # and without it, nothing breaks


def test_init_with_a_malformed_setting_does_not_fail_the_container(
    lambda_init: Client, monkeypatch: pytest.MonkeyPatch, valid_row: dict[str, Any]
) -> None:
    monkeypatch.setenv("CACHE_TTL_SECONDS", "a week")
    composition.reset()
    lifecycle.initialise()  # every step fails and is logged; none raises
    assert "model load" in lifecycle.TIMINGS
    assert post_json(lambda_init, "/v1/segment", valid_row).status_code == 503


def test_an_on_demand_init_leaves_a_hung_load_to_the_first_request(
    make_api: ApiFactory,
    monkeypatch: pytest.MonkeyPatch,
    published: str,
    valid_row: dict[str, Any],
) -> None:
    """Lambda gives an on-demand init 10 s: init stops waiting for a hung S3 well before
    that (else Lambda would run init again inside the first request, past API Gateway's
    29 s); the load goes on and the first request that comes after it is served."""
    client = make_api()
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    monkeypatch.setattr(lifecycle, "ON_DEMAND_INIT_LOAD_SECONDS", 0.05)
    store = composition.get_model_loader()
    assert lifecycle._init_load_seconds(store.load_timeout_seconds) == 0.05
    outage = Outage(store.reader.s3)
    outage.hang.set()
    lifecycle.initialise()  # returns although S3 does not answer
    assert outage.entered.is_set() and store.refreshing and store.version is None
    assert "first scoring" not in lifecycle.TIMINGS
    outage.release()
    assert post_json(client, "/v1/segment", valid_row).status_code == 200
    assert store.version == published


def test_a_snapstart_init_waits_the_whole_load_timeout(
    lambda_init: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = composition.get_model_loader()
    assert lifecycle._init_load_seconds(store.load_timeout_seconds) == store.load_timeout_seconds
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    assert lifecycle._init_load_seconds(60.0) == lifecycle.ON_DEMAND_INIT_LOAD_SECONDS


def test_init_reads_the_model_on_a_thread_before_the_scoring_code_imports(
    lambda_init: Client, published: str, valid_row: dict[str, Any]
) -> None:
    """A fresh container's init: the loader's reader starts reading S3 at once (the scoring
    modules import meanwhile) and the first check is answered from it."""
    from chalicelib.scoring.loader import PrefetchingReader

    lifecycle.initialise()
    store = composition.get_model_loader()
    assert isinstance(store.reader, PrefetchingReader)
    assert store.version == published
    assert post_json(lambda_init, "/v1/segment", valid_row).status_code == 200
