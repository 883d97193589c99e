"""The S3 model store against moto: publish, list, promote, rollback, interrupted publish."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from tests.damage import DAMAGED_FILE, damage_file
from tests.training.conftest import BUCKET, BundleFactory
from training.registry import (
    DAMAGED,
    INCOMPLETE,
    UNVERIFIED,
    VERIFIED,
    BundleInvalid,
    ConcurrentUpdate,
    ModelRegistry,
    NothingToRollBack,
    StoreError,
    VersionExists,
    VersionIncomplete,
    VersionNotFound,
    load_bundle,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

V1 = "20261127T120000Z-aaaaaaaa"
V2 = "20261127T130000Z-bbbbbbbb"


def keys(s3: S3Client) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def pointer_body(s3: S3Client) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key="models/current")["Body"].read())


def fail_on_put(s3: S3Client, nth: int) -> list[str]:
    """Fail the ``nth`` PutObject of ``s3`` like a dropped connection; return keys tried."""
    tried: list[str] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        tried.append(params["Key"])
        if len(tried) == nth:
            raise EndpointConnectionError(endpoint_url="https://s3.example")

    s3.meta.events.register("before-parameter-build.s3.PutObject", hook)
    return tried


def test_publish_uploads_every_file_manifest_last_and_moves_pointer(
    s3: S3Client, store: ModelRegistry, make_bundle: BundleFactory
) -> None:
    tried = fail_on_put(s3, nth=0)  # records only
    result = store.publish(make_bundle(V1))

    assert tried[-2:] == [f"models/{V1}/manifest.json", "models/current"]
    assert keys(s3) == sorted(
        [
            "models/current",
            *(
                f"models/{V1}/{n}"
                for n in ("manifest.json", "segmenter.onnx", "limit_global.onnx", "profiles.json")
            ),
        ]
    )
    assert result.version == V1 and result.files == 4
    body = pointer_body(s3)
    assert body["version"] == V1 and body["previous"] is None
    assert body["promoted_at"].endswith("Z")


def test_list_promote_rollback_cycle(
    s3: S3Client, store: ModelRegistry, make_bundle: BundleFactory
) -> None:
    store.publish(make_bundle(V1))
    store.publish(make_bundle(V2, k=3))

    listed = {v.version: v for v in store.versions()}
    assert list(listed) == [V1, V2]
    assert listed[V2].current and listed[V2].complete and listed[V2].k == 3
    assert listed[V1].previous and not listed[V1].current
    assert listed[V2].segments == ("Segment 0", "Segment 1", "Segment 2")
    assert pointer_body(s3)["previous"] == V1

    restored = store.rollback()
    assert restored.version == V1 and restored.previous is None
    assert pointer_body(s3)["version"] == V1
    with pytest.raises(NothingToRollBack, match="no previous version"):
        store.rollback()

    promoted = store.promote(V2)
    assert (promoted.version, promoted.previous) == (V2, V1)
    assert store.promote(V2) == promoted  # already current: nothing moves


def test_rollback_walks_back_through_history(
    store: ModelRegistry, make_bundle: BundleFactory
) -> None:
    v3 = "20261127T140000Z-cccccccc"
    for version in (V1, V2, v3):
        store.publish(make_bundle(version))
    assert store.rollback().version == V2
    assert store.rollback().version == V1


def test_publishing_an_existing_version_is_refused(
    s3: S3Client, store: ModelRegistry, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(V1)
    store.publish(bundle)
    store.publish(make_bundle(V2))
    before = keys(s3), pointer_body(s3)

    with pytest.raises(VersionExists, match=f"{V1} is already published"):
        store.publish(bundle)
    assert (keys(s3), pointer_body(s3)) == before


def test_publish_without_promote_leaves_pointer(
    s3: S3Client, store: ModelRegistry, make_bundle: BundleFactory
) -> None:
    store.publish(make_bundle(V1))
    result = store.publish(make_bundle(V2), promote=False)
    assert result.pointer is None
    assert pointer_body(s3)["version"] == V1
    assert store.promote(V2).previous == V1


@pytest.mark.parametrize("nth", [1, 2, 4], ids=["first-file", "second-file", "manifest"])
def test_interrupted_publish_changes_nothing_served(
    s3: S3Client, store: ModelRegistry, make_bundle: BundleFactory, nth: int
) -> None:
    store.publish(make_bundle(V1))
    bundle = make_bundle(V2)
    tried = fail_on_put(s3, nth=nth)

    with pytest.raises(StoreError, match="S3 unreachable while uploading"):
        store.publish(bundle)

    assert f"models/{V2}/manifest.json" not in keys(s3)
    assert "models/current" not in tried
    assert pointer_body(s3)["version"] == V1
    listed = {v.version: v for v in store.versions()}
    if nth == 1:  # nothing of V2 reached the bucket
        assert V2 not in listed
        with pytest.raises(VersionNotFound):
            store.promote(V2)
    else:
        assert not listed[V2].complete and not listed[V2].current
        assert "interrupted publish" in (listed[V2].problem or "")
        with pytest.raises(VersionIncomplete, match="interrupted publish"):
            store.promote(V2)
    assert pointer_body(s3)["version"] == V1


def test_publishing_again_completes_an_interrupted_upload(
    s3: S3Client, store: ModelRegistry, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(V1)
    fail_on_put(s3, nth=2)
    with pytest.raises(StoreError):
        store.publish(bundle)

    result = store.publish(bundle)
    assert "interrupted" in " ".join(result.notes)
    assert store.versions()[0].complete and store.versions()[0].current


def test_promote_refuses_a_version_whose_file_was_corrupted(
    s3: S3Client, store: ModelRegistry, make_bundle: BundleFactory
) -> None:
    store.publish(make_bundle(V1))
    store.publish(make_bundle(V2), promote=False)
    s3.put_object(Bucket=BUCKET, Key=f"models/{V2}/segmenter.onnx", Body=b"tampered")

    with pytest.raises(VersionIncomplete, match=r"segmenter\.onnx has the wrong sha256"):
        store.promote(V2)
    assert pointer_body(s3)["version"] == V1
    assert not {v.version: v for v in store.versions()}[V2].complete


def test_listing_verifies_every_file_so_a_same_size_damage_is_caught(
    s3: S3Client, store: ModelRegistry, make_bundle: BundleFactory
) -> None:
    store.publish(make_bundle(V1))
    store.publish(make_bundle(V2))
    damage_file(s3, BUCKET, f"models/{V2}/{DAMAGED_FILE}")  # same size, manifest unchanged

    listed = {v.version: v for v in store.versions()}
    assert (listed[V1].status, listed[V1].verified, listed[V1].complete) == (VERIFIED, True, True)
    assert (listed[V2].status, listed[V2].complete) == (DAMAGED, False)
    assert listed[V2].problem == f"{DAMAGED_FILE} has the wrong sha256"
    quick = {v.version: v for v in store.versions(verify=False)}  # sizes only
    assert quick[V2].status == UNVERIFIED and not quick[V2].verified
    s3.delete_object(Bucket=BUCKET, Key=f"models/{V2}/limit_global.onnx")
    listed = {v.version: v for v in store.versions()}
    assert listed[V2].status == INCOMPLETE
    expected = f"{DAMAGED_FILE} has the wrong sha256; limit_global.onnx is missing"
    assert listed[V2].problem == expected
    assert {v.version: v for v in store.versions(verify=False)}[V2].status == INCOMPLETE


def test_read_file_returns_a_published_file_only_when_its_sha256_matches(
    s3: S3Client, store: ModelRegistry, make_bundle: BundleFactory
) -> None:
    local = make_bundle(V1)
    store.publish(local)
    manifest = store.current_manifest()
    assert manifest is not None
    assert store.read_file(manifest, "segmenter.onnx") == (local / "segmenter.onnx").read_bytes()
    with pytest.raises(VersionIncomplete, match=r"lists no file 'nothing\.onnx'"):
        store.read_file(manifest, "nothing.onnx")
    s3.put_object(Bucket=BUCKET, Key=f"models/{V1}/segmenter.onnx", Body=b"tampered")
    with pytest.raises(VersionIncomplete, match=r"segmenter\.onnx has the wrong sha256"):
        store.read_file(manifest, "segmenter.onnx")


def test_unknown_version_and_empty_store_errors(store: ModelRegistry) -> None:
    with pytest.raises(VersionNotFound, match="no version 20990101T000000Z-deadbeef"):
        store.promote("20990101T000000Z-deadbeef")
    with pytest.raises(VersionNotFound, match="not a valid version name"):
        store.promote("../etc")
    with pytest.raises(NothingToRollBack, match="no current version"):
        store.rollback()
    assert store.versions() == [] and store.current() is None and store.current_manifest() is None


def test_missing_bucket_is_a_clear_error(s3: S3Client, make_bundle: BundleFactory) -> None:
    store = ModelRegistry("no-such-bucket", s3_client=s3)
    with pytest.raises(StoreError, match="bucket 'no-such-bucket' does not exist"):
        store.publish(make_bundle(V1))
    with pytest.raises(StoreError, match="bucket 'no-such-bucket' does not exist"):
        store.versions()


def test_pointer_moved_by_someone_else_meanwhile_is_not_overwritten(
    s3: S3Client, store: ModelRegistry, make_bundle: BundleFactory
) -> None:
    store.publish(make_bundle(V1))
    store.publish(make_bundle(V2), promote=False)
    other = boto3.client("s3", region_name="us-east-1")

    def race(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == "models/current":
            other.put_object(Bucket=BUCKET, Key="models/current", Body=b'{"version": "x"}')

    s3.meta.events.register("before-parameter-build.s3.PutObject", race)
    with pytest.raises(ConcurrentUpdate, match="changed while this command ran"):
        store.promote(V2)
    assert pointer_body(s3) == {"version": "x"}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "limit_global.onnx").unlink(), "limit_global.onnx is listed but missing"),
        (lambda d: (d / "profiles.json").write_text("[]"), "profiles.json sha256 is"),
        (lambda d: (d / "manifest.json").unlink(), "has no manifest.json"),
        (lambda d: (d / "manifest.json").write_text("{"), "not valid JSON"),
        (lambda d: _edit(d, lambda m: m.pop("segments")), "segments is missing"),
        (lambda d: _edit(d, lambda m: m.update(schema_version=1)), "schema_version 1 is not"),
        (lambda d: _edit(d, lambda m: m["parity"].update(passed=False)), "parity check did not"),
        (lambda d: _edit(d, lambda m: m.update(version="a/b")), "not a valid version name"),
    ],
    ids=[
        "missing-file",
        "wrong-sha",
        "no-manifest",
        "bad-json",
        "no-key",
        "old-schema",
        "parity",
        "version",
    ],
)
def test_invalid_local_bundle_is_refused_before_any_upload(
    s3: S3Client, store: ModelRegistry, make_bundle: BundleFactory, damage: Any, message: str
) -> None:
    bundle = make_bundle(V1)
    damage(bundle)
    with pytest.raises(BundleInvalid, match=message):
        load_bundle(bundle)
    with pytest.raises(BundleInvalid):
        store.publish(bundle)
    assert keys(s3) == []


def _edit(bundle: Path, change: Any) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
