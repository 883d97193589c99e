"""``GET /v1/health`` when a promotion cannot be served: degraded, which version, why.

The pointer is moved by hand to a copy of the published version with one damaged byte range
in ``segmenter.onnx`` (tests/damage.py); answers keep coming from the old version.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from chalicelib import composition
from chalicelib.scoring.model_state import FAILED_VERIFICATION, NOT_YET_CHECKED

from tests.damage import DAMAGED_FILE, damage_file, point_current_at
from tests.functions.conftest import (
    BUCKET,
    PREFIX,
    ApiFactory,
    TrainedBundle,
    copy_bundle,
    post_json,
)
from training.registry import ModelRegistry

V2 = "20991231T000000Z-00000002"


def health_after_a_check(client: Client) -> dict[str, Any]:
    """Health once a check that started after the caller's last change has finished.

    A check an earlier request started may still be running with the pointer it read
    before the change (it failed this test once in CI, after the rollback): wait for it,
    then start one (the interval is 0 here) and wait for that."""
    loader = composition.get_model_loader()
    assert loader.wait_idle(60)
    client.http.get("/v1/health")
    assert loader.wait_idle(60)
    body: dict[str, Any] = client.http.get("/v1/health").json_body
    return body


@pytest.fixture
def client(make_api: ApiFactory, published: str) -> Iterator[Client]:
    """The API serving the published version, re-reading the pointer on every request; the
    check its last request started finishes before moto goes away."""
    api = make_api(MODEL_REFRESH_SECONDS="0")
    assert health_after_a_check(api)["model_version"] == published
    yield api
    composition.get_model_loader().wait_idle(60)


@pytest.fixture
def v2_copy(bundle: TrainedBundle, tmp_path: Path) -> Path:
    """The published bundle under version V2, not yet published."""
    return copy_bundle(bundle, tmp_path / "v2", V2)


@pytest.fixture
def damaged_v2(s3: Any, store: ModelRegistry, v2_copy: Path, published: str) -> Callable[[], None]:
    """Publish V2, damage one byte range of its segmenter, move ``current`` to it by hand."""

    def damage() -> None:
        store.publish(v2_copy, promote=False)
        damage_file(s3, BUCKET, f"{PREFIX}{V2}/{DAMAGED_FILE}")
        point_current_at(s3, BUCKET, PREFIX, V2, published)

    return damage


def test_a_damaged_promotion_is_degraded_then_ok_after_rollback(
    client: Client,
    damaged_v2: Callable[[], None],
    store: ModelRegistry,
    published: str,
    valid_row: dict[str, Any],
) -> None:
    damaged_v2()
    degraded = health_after_a_check(client)
    assert degraded == {
        "status": "degraded",
        "model_version": published,
        "current": {"version": V2, "reason": FAILED_VERIFICATION},
        "cache": "ok",
        "history": "disabled",
    }
    answer = post_json(client, "/v1/segment", valid_row)
    assert (answer.status_code, answer.json_body["model_version"]) == (200, published)

    store.rollback()
    healthy = health_after_a_check(client)
    assert (healthy["status"], healthy["model_version"], healthy["current"]) == (
        "ok",
        published,
        None,
    )


def test_health_says_nothing_an_operator_should_not_see(
    client: Client, damaged_v2: Callable[[], None]
) -> None:
    """The reason is a few public words: no bucket, key, file name, hash or exception."""
    damaged_v2()
    body = health_after_a_check(client)
    assert body["current"] == {"version": V2, "reason": FAILED_VERIFICATION}
    text = json.dumps(body)
    for secret in (BUCKET, PREFIX, DAMAGED_FILE, "sha256", "s3://", "Error"):
        assert secret not in text


def test_health_answers_while_the_new_version_loads_and_never_waits_for_it(
    client: Client, store: ModelRegistry, v2_copy: Path, published: str
) -> None:
    """While the loader downloads a newly promoted version (held here), health answers at
    once from what the loader knows: the new version is "not yet checked", status ok."""
    store.publish(v2_copy)
    held, release = threading.Event(), threading.Event()

    def hold(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].startswith(f"{PREFIX}{V2}/"):
            held.set()
            release.wait(60)

    loader = composition.get_model_loader()
    loader.reader.s3.meta.events.register("before-parameter-build.s3.GetObject", hold)
    try:
        client.http.get("/v1/health")  # starts the check, which hangs on V2's files
        assert held.wait(60)
        during = client.http.get("/v1/health")
    finally:
        release.set()
    assert during.status_code == 200
    assert during.json_body["status"] == "ok"
    assert during.json_body["model_version"] == published
    assert during.json_body["current"] == {"version": V2, "reason": NOT_YET_CHECKED}
    assert loader.wait_idle(60)
    after = client.http.get("/v1/health").json_body
    assert (after["status"], after["model_version"], after["current"]) == ("ok", V2, None)
