"""Model-store faults: no bundle, bad hash, promotion while warm, pinned versions."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from chalicelib import composition
from chalicelib.contract.bundle import MANIFEST_NAME, SCHEMA_VERSION
from chalicelib.errors import BundleIntegrityError, ModelUnavailable
from chalicelib.scoring.loader import Bundle, BundleReader, ModelLoader
from chalicelib.scoring.model_state import (
    FAILED_TO_LOAD,
    FAILED_VERIFICATION,
    NOT_YET_CHECKED,
    ModelState,
)

from tests.damage import DAMAGED_FILE, damage_file, point_current_at
from tests.functions.api.test_api import problem
from tests.functions.conftest import (
    BUCKET,
    PREFIX,
    ApiFactory,
    TrainedBundle,
    copy_bundle,
    emitted,
    post_json,
)
from training.registry import BundleInvalid, ModelRegistry

V2 = "20991231T000000Z-00000002"


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def versions_store(reader: BundleReader, clock: Ticks, **kwargs: Any) -> ModelLoader[str]:
    """A store whose 'model' is just the version it was built from."""

    def build(bundle: Bundle) -> str:
        return bundle.version

    return ModelLoader(reader, build, clock=clock, **kwargs)


def test_no_bundle_is_a_503_on_every_model_route(
    make_api: ApiFactory, s3: Any, valid_row: dict[str, Any]
) -> None:
    client = make_api()
    body = problem(post_json(client, "/v1/segment", valid_row), 503)
    assert body["detail"] == "no model is published yet: publish a bundle and promote it"
    for path in ("/v1/health", "/v1/model", "/v1/segments"):
        problem(client.http.get(path), 503)
    problem(post_json(client, "/v1/segment/batch", {"customers": [valid_row]}), 503)


def test_missing_bucket_is_a_503(make_api: ApiFactory, aws: None) -> None:
    detail = problem(make_api().http.get("/v1/health"), 503)["detail"]
    assert detail == "the model bucket does not exist: check MODEL_BUCKET"


def test_file_with_wrong_hash_is_refused(
    make_api: ApiFactory, s3: Any, published: str, valid_row: dict[str, Any]
) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}{published}/segmenter.onnx", Body=b"tampered")
    body = problem(post_json(make_api(), "/v1/segment", valid_row), 503)
    assert body["detail"] == (
        f"model {published} was refused: segmenter.onnx does not match the sha256 in its "
        "manifest; publish the version again or roll back"
    )


def test_reader_fetches_and_checks_only_what_scoring_reads(s3: Any, published: str) -> None:
    reader = BundleReader(BUCKET, PREFIX, s3_client=s3)
    bundle = reader.read(published)
    assert set(bundle.files) == set(bundle.manifest.scoring_files())
    assert "elbow.png" in bundle.manifest.files and "elbow.png" not in bundle.files
    assert {"segmenter.onnx", "limit_global.onnx"} <= set(bundle.files)
    # A report file scoring never reads is not even downloaded...
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}{published}/elbow.png")
    assert reader.read(published).version == published
    # ...while every graph it does read is still checked against its sha256.
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}{published}/limit_global.onnx", Body=b"x")
    with pytest.raises(BundleIntegrityError, match=r"limit_global\.onnx"):
        reader.read(published)


def test_unsupported_manifest_schema_is_refused_on_publish_and_on_load(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, tmp_path: Path
) -> None:
    expected = f"schema_version 1 is not supported: this code reads schema_version {SCHEMA_VERSION}"
    old = copy_bundle(bundle, tmp_path / "b", V2, schema_version=1)
    with pytest.raises(BundleInvalid, match=expected):
        store.publish(old)
    # Put there by other means (an older publisher): the loader says the same.
    for name in [*bundle.manifest["files"], MANIFEST_NAME]:
        body = (old / name).read_bytes()
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}{V2}/{name}", Body=body)
    with pytest.raises(ModelUnavailable, match=expected):
        BundleReader(BUCKET, PREFIX, s3_client=s3).read(V2)


def test_a_version_that_fails_to_load_is_logged_and_counted(
    make_api: ApiFactory,
    s3: Any,
    store: ModelRegistry,
    bundle: TrainedBundle,
    published: str,
    tmp_path: Path,
    valid_row: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
    log_lines: io.StringIO,
) -> None:
    client = make_api(MODEL_REFRESH_SECONDS="0", POWERTOOLS_METRICS_DISABLED="false")
    assert post_json(client, "/v1/segment", valid_row).json_body["model_version"] == published
    store.publish(copy_bundle(bundle, tmp_path / "v2", V2))
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}{V2}/segmenter.onnx", Body=b"tampered")
    capfd.readouterr()
    post_json(client, "/v1/segment", valid_row)  # starts the background check of V2
    assert composition.get_model_loader().wait_idle(30)
    after = post_json(client, "/v1/segment", valid_row).json_body  # flushes the metrics
    assert after["model_version"] == published  # the old version keeps serving
    (failure,) = [r for r in emitted(log_lines.getvalue()) if r["message"] == "model load failed"]
    assert failure["level"] == "ERROR"
    assert (failure["model_version"], failure["serving_version"]) == (V2, published)
    assert failure["reason"].startswith("segmenter.onnx has sha256")
    assert str(valid_row["BALANCE"]) not in log_lines.getvalue()
    counted = [m for m in emitted(capfd.readouterr().out) if "ModelLoadFailed" in m]
    values = [m["ModelLoadFailed"] for m in counted]  # EMF writes a value or a list of them
    assert sum(sum(v) if isinstance(v, list) else v for v in values) == 1


def test_promotion_is_picked_up_after_the_refresh_interval(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, published: str, tmp_path: Path
) -> None:
    clock = Ticks()
    models = versions_store(BundleReader(BUCKET, PREFIX, s3_client=s3), clock, refresh_seconds=60)
    assert models.get() == published
    store.publish(copy_bundle(bundle, tmp_path / "v2", V2))
    clock.now = 59.9
    assert models.get() == published  # within the interval: the pointer is not re-read
    assert not models.refreshing
    clock.now = 60.0
    assert models.get() == published  # the check runs in the background ...
    assert models.wait_idle(timeout=60)
    assert models.get() == V2  # ... and the next request gets the new version


def test_a_broken_new_version_leaves_the_old_one_serving(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, published: str, tmp_path: Path
) -> None:
    clock = Ticks()
    models = versions_store(BundleReader(BUCKET, PREFIX, s3_client=s3), clock, refresh_seconds=1)
    assert models.get() == published
    store.publish(copy_bundle(bundle, tmp_path / "v2", V2))
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}{V2}/segmenter.onnx", Body=b"tampered")
    clock.now = 5
    assert models.get() == published
    assert models.wait_idle(timeout=60)
    assert models.get() == published


def test_pinned_version_ignores_the_pointer(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, published: str, tmp_path: Path
) -> None:
    store.publish(copy_bundle(bundle, tmp_path / "v2", V2))
    clock = Ticks()
    reader = BundleReader(BUCKET, PREFIX, s3_client=s3)
    pinned = versions_store(reader, clock, pinned_version=published, refresh_seconds=0)
    assert pinned.get() == published
    clock.now = 1000
    assert pinned.get() == published


def test_promote_while_warm_through_the_api(
    make_api: ApiFactory,
    store: ModelRegistry,
    bundle: TrainedBundle,
    published: str,
    tmp_path: Path,
    valid_row: dict[str, Any],
) -> None:
    client = make_api(MODEL_REFRESH_SECONDS="0")
    assert post_json(client, "/v1/segment", valid_row).json_body["model_version"] == published
    store.publish(copy_bundle(bundle, tmp_path / "v2", V2))
    composition.get_model_loader().wait_idle(timeout=60)  # the check the first request started
    post_json(client, "/v1/segment", valid_row)  # starts the check that sees V2
    assert composition.get_model_loader().wait_idle(timeout=60)
    after = post_json(client, "/v1/segment", valid_row).json_body
    assert after["model_version"] == V2
    assert after["cache"] == "miss"  # a new version never sees the old version's results
    assert client.http.get("/v1/health").json_body["model_version"] == V2


def test_model_version_env_pins_the_api(
    make_api: ApiFactory,
    store: ModelRegistry,
    bundle: TrainedBundle,
    published: str,
    tmp_path: Path,
) -> None:
    store.publish(copy_bundle(bundle, tmp_path / "v2", V2))
    client = make_api(MODEL_VERSION=published)
    assert client.http.get("/v1/model").json_body["version"] == published
    pointer = store.current()
    assert pointer is not None and pointer.version == V2


# --- refresh off the request path: a hung or failing store never slows get() ---------


class Outage:
    """S3 GetObject made to hang (until released) or fail, on the reader's real client."""

    def __init__(self, s3: Any) -> None:
        self.hang = threading.Event()  # set: calls block until released
        self.released = threading.Event()
        self.entered = threading.Event()  # a call is blocked right now
        self.fail = False
        self.calls = 0
        s3.meta.events.register("before-call.s3.GetObject", self)

    def __call__(self, **_: Any) -> None:
        self.calls += 1
        if self.fail:
            raise EndpointConnectionError(endpoint_url="http://s3.example")
        if self.hang.is_set():
            self.entered.set()
            self.released.wait()

    def release(self) -> None:
        self.hang.clear()
        self.released.set()


def test_a_hung_store_never_blocks_get_and_a_promotion_lands_once_it_answers(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, published: str, tmp_path: Path
) -> None:
    clock = Ticks()
    models = versions_store(BundleReader(BUCKET, PREFIX, s3_client=s3), clock, refresh_seconds=60)
    assert models.get() == published
    store.publish(copy_bundle(bundle, tmp_path / "v2", V2))
    outage = Outage(s3)
    outage.hang.set()
    clock.now = 60
    assert models.get() == published  # starts the check, which hangs
    assert outage.entered.wait(timeout=60)
    for _ in range(20):
        assert models.get() == published  # answered while the check is stuck
    assert models.refreshing
    assert outage.calls == 1  # one check at a time, however many requests
    outage.release()
    assert models.wait_idle(timeout=60)
    assert models.get() == V2


def test_failed_checks_back_off_exponentially_up_to_the_cap(s3: Any, published: str) -> None:
    clock = Ticks()
    reader = BundleReader(BUCKET, PREFIX, s3_client=s3)
    models = versions_store(reader, clock, refresh_seconds=10, max_backoff_seconds=35)
    assert models.get() == published
    outage = Outage(s3)
    outage.fail = True
    checks: list[float] = []
    for second in range(10, 200):
        clock.now = second
        calls = outage.calls
        assert models.get() == published
        models.wait_idle(timeout=60)
        if outage.calls > calls:
            checks.append(second)
    assert checks == [10, 20, 40, 75, 110, 145, 180]  # +10, +20, +35 (capped), +35, ...
    outage.fail = False
    clock.now = 215
    models.get()
    assert models.wait_idle(timeout=60)
    clock.now = 225  # healthy again: back to one check per refresh_seconds
    calls = outage.calls
    models.get()
    assert models.wait_idle(timeout=60)
    assert outage.calls == calls + 1


def test_a_cold_load_waits_at_most_the_load_timeout_then_serves_when_loaded(
    s3: Any, published: str
) -> None:
    outage = Outage(s3)
    outage.hang.set()
    reader = BundleReader(BUCKET, PREFIX, s3_client=s3)
    models = versions_store(reader, Ticks(), refresh_seconds=60, load_timeout_seconds=0.05)
    with pytest.raises(ModelUnavailable, match=r"did not answer within 0\.05 s"):
        models.get()
    with pytest.raises(ModelUnavailable, match="still loading"):
        models.get()  # joins the same load; no second one
    assert outage.calls == 1
    outage.release()
    assert models.wait_idle(timeout=60)
    assert models.get() == published


def test_a_cold_container_retries_a_failed_load_once_per_interval(s3: Any, published: str) -> None:
    outage = Outage(s3)
    outage.fail = True
    clock = Ticks()
    models = versions_store(BundleReader(BUCKET, PREFIX, s3_client=s3), clock, refresh_seconds=5)
    for _ in range(3):
        with pytest.raises(ModelUnavailable, match="unreachable"):
            models.get()
    assert outage.calls == 1
    outage.fail = False
    clock.now = 5
    assert models.get() == published


def test_a_clock_that_went_backwards_triggers_a_check(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, published: str, tmp_path: Path
) -> None:
    """After a SnapStart restore the monotonic clock may read less than at the snapshot."""
    clock = Ticks()
    clock.now = 1000
    models = versions_store(BundleReader(BUCKET, PREFIX, s3_client=s3), clock, refresh_seconds=60)
    assert models.get() == published
    store.publish(copy_bundle(bundle, tmp_path / "v2", V2))
    clock.now = 3
    models.get()
    assert models.wait_idle(timeout=60)
    assert models.get() == V2


# --- what the loader knows: the version serving, the one current names, why not served ---


def damaged_v2(s3: Any, store: ModelRegistry, bundle: TrainedBundle, tmp_path: Path) -> None:
    """V2 published, then one byte range of its segmenter damaged and the pointer moved to
    it by hand (``promote`` would refuse it)."""
    previous = store.current()
    assert previous is not None
    store.publish(copy_bundle(bundle, tmp_path / "v2", V2), promote=False)
    damage_file(s3, BUCKET, f"{PREFIX}{V2}/{DAMAGED_FILE}")
    point_current_at(s3, BUCKET, PREFIX, V2, previous.version)


def refusing_v2(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, tmp_path: Path
) -> tuple[ModelLoader[str], Ticks]:
    """A loader serving the published version that has just refused a damaged V2 (its
    first check, at 10 s, of a 10 s interval)."""
    clock = Ticks()
    models = versions_store(BundleReader(BUCKET, PREFIX, s3_client=s3), clock, refresh_seconds=10)
    published = models.get()
    damaged_v2(s3, store, bundle, tmp_path)
    clock.now = 10
    models.get()
    assert models.wait_idle(30)
    assert models.state() == ModelState(published, V2, FAILED_VERIFICATION)
    return models, clock


class SegmenterReads:
    """Counts the GetObject calls for V2's damaged file (i.e. attempts to load V2)."""

    def __init__(self, s3: Any) -> None:
        self.count = 0
        s3.meta.events.register("before-parameter-build.s3.GetObject", self)

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == f"{PREFIX}{V2}/{DAMAGED_FILE}":
            self.count += 1


def test_state_names_the_serving_version_and_nothing_else_when_current_is_served(
    s3: Any, published: str
) -> None:
    models = versions_store(BundleReader(BUCKET, PREFIX, s3_client=s3), Ticks())
    assert models.state() == ModelState(serving=None)  # nothing read yet
    assert models.get() == published
    state = models.state()
    assert state == ModelState(serving=published, current=published, reason=None)
    assert not state.behind and not state.degraded


def test_a_damaged_current_version_is_not_yet_checked_then_failed_verification(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, published: str, tmp_path: Path
) -> None:
    clock = Ticks()
    loading, finish = threading.Event(), threading.Event()

    def build(loaded: Bundle) -> str:  # the load of V2 never gets here (bad sha256)...
        return loaded.version

    def slow_read(version: str) -> Bundle:  # ...but its download is held to look inside
        if version == V2:
            loading.set()
            finish.wait(30)
        return real_read(version)

    reader = BundleReader(BUCKET, PREFIX, s3_client=s3)
    real_read = reader.read
    reader.read = slow_read  # type: ignore[method-assign]
    models = ModelLoader(reader, build, clock=clock, refresh_seconds=10)
    assert models.get() == published
    damaged_v2(s3, store, bundle, tmp_path)
    clock.now = 10
    assert models.get() == published
    assert loading.wait(30)
    assert models.state() == ModelState(published, V2, NOT_YET_CHECKED)
    assert models.state().behind and not models.state().degraded  # not failed: loading
    finish.set()
    assert models.wait_idle(30)
    assert models.state() == ModelState(published, V2, FAILED_VERIFICATION)
    assert models.state().degraded
    assert models.get() == published


def test_a_version_that_cannot_be_built_failed_to_load(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, published: str, tmp_path: Path
) -> None:
    def build(loaded: Bundle) -> str:
        if loaded.version == V2:
            raise ValueError("graph has no output 'label'")
        return loaded.version

    clock = Ticks()
    models = ModelLoader(BundleReader(BUCKET, PREFIX, s3_client=s3), build, clock=clock)
    assert models.get() == published
    store.publish(copy_bundle(bundle, tmp_path / "v2", V2))
    clock.now = 60
    models.get()
    assert models.wait_idle(30)
    assert models.state() == ModelState(published, V2, FAILED_TO_LOAD)


def test_a_refused_version_is_retried_with_backoff_while_the_pointer_is_read_each_interval(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, published: str, tmp_path: Path
) -> None:
    """Reloading a damaged version backs off (10, 20, 35, 35 s: it is tens of MB), but the
    pointer is re-read every interval, so a rollback is seen at the next one."""
    clock = Ticks()
    reader = BundleReader(BUCKET, PREFIX, s3_client=s3)
    models = versions_store(reader, clock, refresh_seconds=10, max_backoff_seconds=35)
    assert models.get() == published
    damaged_v2(s3, store, bundle, tmp_path)
    reads = SegmenterReads(s3)
    loads: list[int] = []
    for second in range(10, 150, 10):
        clock.now = second
        before = reads.count
        assert models.get() == published
        assert models.wait_idle(30)
        loads += [second] if reads.count > before else []
        assert models.state() == ModelState(published, V2, FAILED_VERIFICATION)
    assert loads == [10, 20, 40, 80, 120]  # retries due at 20, 40, 75, 115, 155
    store.rollback()  # back to the version serving: seen at the next interval
    clock.now = 150
    models.get()
    assert models.wait_idle(30)
    assert models.state() == ModelState(published, published, None)
    assert reads.count == 5


def test_check_now_tries_a_refused_version_again_at_once(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, published: str, tmp_path: Path
) -> None:
    """After a SnapStart restore (or any forced check), a refused version is not left
    waiting for its backoff: it may have been published again meanwhile."""
    models, _ = refusing_v2(s3, store, bundle, tmp_path)
    good = (tmp_path / "v2" / DAMAGED_FILE).read_bytes()  # publish's files: the repair
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}{V2}/{DAMAGED_FILE}", Body=good)
    models.check_now(timeout=30)
    assert models.state() == ModelState(V2, V2, None)
    assert models.get() == V2


def test_a_store_outage_keeps_what_is_known_of_the_current_version(
    s3: Any, store: ModelRegistry, bundle: TrainedBundle, published: str, tmp_path: Path
) -> None:
    models, clock = refusing_v2(s3, store, bundle, tmp_path)
    outage = Outage(s3)
    outage.fail = True
    clock.now = 20
    models.get()
    assert models.wait_idle(30)
    assert outage.calls == 1  # the pointer read failed
    assert models.state() == ModelState(published, V2, FAILED_VERIFICATION)


class CountingS3:
    """A real (moto) S3 client that counts its GetObject calls by key."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.keys: list[str] = []

    def get_object(self, **kwargs: Any) -> Any:
        self.keys.append(kwargs["Key"])
        return self.client.get_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_prefetching_reader_reads_pointer_and_bundle_once_then_as_any_reader(
    s3: Any, published: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Lambda init's reader reads on its own thread from the start; the loader's first
    check is answered from what it read (no second read), later checks read S3 again."""
    from chalicelib.scoring import loader as loader_module

    counting = CountingS3(s3)
    monkeypatch.setattr(loader_module.aws, "client", lambda *_: counting)
    reader = loader_module.PrefetchingReader(BUCKET, PREFIX)
    store = versions_store(reader, Ticks())
    assert store.get() == published
    base = f"{PREFIX}{published}/"
    assert counting.keys.count(f"{PREFIX}current") == 1
    assert counting.keys.count(base + MANIFEST_NAME) == 1
    counting.keys.clear()
    assert reader.current_version() == published and counting.keys == [f"{PREFIX}current"]
    assert reader.read(published).version == published
    assert base + MANIFEST_NAME in counting.keys


def test_what_a_prefetch_met_is_answered_to_the_first_check_then_retried(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.scoring import loader as loader_module

    monkeypatch.setattr(loader_module.aws, "client", lambda *_: s3)
    reader = loader_module.PrefetchingReader(BUCKET, PREFIX)  # nothing published yet
    with pytest.raises(ModelUnavailable, match="no model is published"):
        reader.current_version()
    with pytest.raises(ModelUnavailable, match="no model is published"):
        reader.current_version()  # an S3 read of its own, as any reader's
    pinned = loader_module.PrefetchingReader(BUCKET, PREFIX, pinned_version=V2)
    with pytest.raises(ModelUnavailable, match="not complete"):
        pinned.read(V2)
