"""A promotion that cannot be served, on the local stack, seen everywhere an operator looks.

moto server + ``chalice local`` (as ``infra/local.sh`` runs them) serve the real bundle V1.
A copy of it, V2, is published without promotion, one byte range of its ``segmenter.onnx``
is damaged (manifest unchanged: a broken upload) and the ``current`` pointer is moved to it
by hand (``training promote`` would refuse it). Then: answers stay 200 from V1, health says
``degraded`` naming V2 and the reason within the documented bound (MODEL_REFRESH_SECONDS
plus one load), ``training list`` flags V2, the home page warns (AppTest); after
``training rollback`` all of it is back to normal within the same bound.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from streamlit.testing.v1 import AppTest

from tests.damage import DAMAGED_FILE, damage_file, point_current_at
from tests.frontend.conftest import _create_aws
from tests.frontend.stack import ROOT, wait_until_ok
from tests.servers import local_stage_env, start_chalice_local, start_moto_server
from training.cli import EXIT_OK, main
from training.registry import ModelRegistry

pytestmark = pytest.mark.slow

HOME = ROOT / "frontend" / "Home.py"
DATA = ROOT / "data" / "CC_GENERAL.csv"
V2 = "20991231T000000Z-0000d2d2"
REFRESH_SECONDS = 1.0
LOAD_SECONDS = 15.0  # MODEL_LOAD_TIMEOUT_SECONDS here: what "one load" may take at most
BOUND = REFRESH_SECONDS + LOAD_SECONDS  # docs/api.md, "Health": how soon health shows it


@dataclass(frozen=True)
class Stack:
    api: str
    s3: Any
    bucket: str
    prefix: str
    v1: str


@pytest.fixture(scope="module")
def stack(trained_bundle: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Its own moto server and API (the session's stay untouched), serving V1, with V2
    published but not current."""
    stage = local_stage_env()
    bucket, prefix = stage["MODEL_BUCKET"], stage["MODEL_PREFIX"]
    copy = tmp_path_factory.mktemp("v2") / "bundle"
    shutil.copytree(trained_bundle.out_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "version": V2}))
    env = {
        "API_KEY": "",
        "MODEL_REFRESH_SECONDS": str(REFRESH_SECONDS),
        "MODEL_LOAD_TIMEOUT_SECONDS": str(LOAD_SECONDS),
    }
    with start_moto_server() as endpoint:
        _create_aws(endpoint, stage)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        store = ModelRegistry(bucket, prefix, s3_client=s3)
        v1 = store.publish(Path(trained_bundle.out_dir)).version
        store.publish(copy, promote=False)
        with start_chalice_local(endpoint, env=env) as api:
            wait_until_ok(f"{api}/v1/health")
            yield Stack(api, s3, bucket, prefix, v1)


def first_customer() -> dict[str, Any]:
    with DATA.open(newline="") as handle:
        row = next(csv.DictReader(handle))
    return {k: (v if k == "CUST_ID" else float(v) if v else None) for k, v in row.items()}


def score(api: str) -> tuple[int, str]:
    answer = requests.post(f"{api}/v1/segment", json=first_customer(), timeout=60)
    return answer.status_code, str(answer.json().get("model_version"))


def health_once(api: str, done: Callable[[dict[str, Any]], bool]) -> tuple[dict[str, Any], float]:
    """Poll health (each request may start the pointer check) until ``done``; the last body
    and the seconds it took, at most ``BOUND`` plus one poll."""
    started = time.monotonic()
    while True:
        body: dict[str, Any] = requests.get(f"{api}/v1/health", timeout=60).json()
        elapsed = time.monotonic() - started
        if done(body) or elapsed > BOUND:
            return body, elapsed
        time.sleep(0.2)


def training(capsys: pytest.CaptureFixture[str], stack: Stack, *argv: str) -> list[str]:
    """``python -m training ...`` against the stack's bucket; its stdout lines."""
    capsys.readouterr()
    where = ["--bucket", stack.bucket, "--prefix", stack.prefix]
    assert main([*argv, *where], s3_client=stack.s3) == EXIT_OK
    return capsys.readouterr().out.splitlines()


def home(monkeypatch: pytest.MonkeyPatch, api: str) -> AppTest:
    monkeypatch.setenv("API_URL", api)
    monkeypatch.delenv("API_KEY", raising=False)
    app = AppTest.from_file(HOME, default_timeout=60).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_a_damaged_promotion_is_visible_everywhere_and_rollback_clears_it(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert score(stack.api) == (200, stack.v1)
    damage_file(stack.s3, stack.bucket, f"{stack.prefix}{V2}/{DAMAGED_FILE}")
    point_current_at(stack.s3, stack.bucket, stack.prefix, V2, stack.v1)

    degraded, took = health_once(stack.api, lambda body: body["status"] == "degraded")
    with capsys.disabled():  # the measured time, for whoever runs this with -s
        print(f"\nhealth degraded {took:.2f} s after the pointer moved (bound {BOUND:g} s)")
    assert degraded == {
        "status": "degraded",
        "model_version": stack.v1,
        "current": {"version": V2, "reason": "failed verification"},
        "cache": "ok",
        "history": "ok",
    }
    assert took <= BOUND
    assert score(stack.api) == (200, stack.v1)  # answers keep coming from the old version

    listed = training(capsys, stack, "list")
    assert f"* {V2}  DAMAGED: {DAMAGED_FILE} has the wrong sha256" in listed
    assert any(line.startswith(f"warning: the current version {V2} is damaged") for line in listed)

    app = home(monkeypatch, stack.api)
    assert {m.label: m.value for m in app.metric}["API"] == "DEGRADED"
    (warning,) = [str(w.value) for w in app.warning]
    assert V2 in warning and "failed verification" in warning and stack.v1 in warning

    rolled = training(capsys, stack, "rollback")
    assert rolled[-1].startswith(f"rolled back: current -> {stack.v1} (was {V2}")
    healthy, took = health_once(stack.api, lambda body: body["status"] == "ok")
    with capsys.disabled():
        print(f"health ok {took:.2f} s after the rollback (bound {BOUND:g} s)")
    assert (healthy["status"], healthy["model_version"], healthy["current"]) == (
        "ok",
        stack.v1,
        None,
    )
    assert took <= BOUND
    assert score(stack.api) == (200, stack.v1)
    listed = training(capsys, stack, "list")
    assert not any(line.startswith("warning:") for line in listed)
    assert listed[-1].endswith(f"current: {stack.v1}")
    app = home(monkeypatch, stack.api)
    assert {m.label: m.value for m in app.metric}["API"] == "OK"
    assert not app.warning
