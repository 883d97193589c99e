"""The S3 model store: immutable versioned bundles and a ``current`` pointer moved last.

Layout (docs/contracts.md, "S3 layout and publishing")::

    s3://<bucket>/<prefix><version>/<every file in manifest.files>
    s3://<bucket>/<prefix><version>/manifest.json      written last within the version
    s3://<bucket>/<prefix>current                       JSON pointer, moved last

A version counts as published only when its ``manifest.json`` exists and every file it
lists is present with the right sha256. Publishing uploads the files, then the manifest
(a conditional write, so two publishers cannot both create a version), then downloads and
checks everything, and only then moves the pointer. An interrupted publish therefore
leaves the pointer where it was and a version that is listed as incomplete and cannot be
promoted; publishing the same bundle again completes it.

The pointer holds ``version``, ``previous`` and ``promoted_at`` (the contract) and also
``history``: earlier current versions, most recent first, so ``rollback`` can be repeated.
Pointer writes are conditional on the pointer not having changed since it was read.

Any S3 endpoint works: the client is plain boto3, so ``AWS_ENDPOINT_URL`` points it at a
moto server. Botocore errors are translated into :class:`StoreError` subclasses here, at
the boundary, so callers print a sentence instead of a traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from chalicelib.contract.bundle import MANIFEST_NAME, POINTER_NAME, Manifest, ManifestError
from tqdm import tqdm

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MANIFEST = MANIFEST_NAME
POINTER = POINTER_NAME
DEFAULT_PREFIX = "models/"
HISTORY_LIMIT = 20
_VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FILE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_CONTENT_TYPES = {".json": "application/json", ".png": "image/png"}


class StoreError(Exception):
    """A model-store operation failed; the message is meant for the person at the terminal."""


class BundleInvalid(StoreError):
    """The local bundle directory is not a complete, consistent bundle."""


class VersionExists(StoreError):
    """Versions are immutable: this one is already published."""


class VersionNotFound(StoreError):
    """No object at all under the version's prefix."""


class VersionIncomplete(StoreError):
    """The version's manifest or one of its files is missing or has the wrong sha256."""


class NothingToRollBack(StoreError):
    """No current version, or the current one has no previous version."""


class ConcurrentUpdate(StoreError):
    """Someone else changed the pointer (or created the version) between read and write."""


@dataclass(frozen=True)
class Pointer:
    """The ``current`` pointer: which version serving loads, and what came before."""

    version: str
    promoted_at: str
    history: tuple[str, ...] = ()

    @property
    def previous(self) -> str | None:
        return self.history[0] if self.history else None

    def to_json(self) -> bytes:
        body = {
            "version": self.version,
            "previous": self.previous,
            "promoted_at": self.promoted_at,
            "history": list(self.history),
        }
        return json.dumps(body, indent=2).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Pointer:
        body = json.loads(raw)
        history = body.get("history")
        if history is None:
            history = [body["previous"]] if body.get("previous") else []
        return cls(str(body["version"]), str(body.get("promoted_at", "")), tuple(history))


#: What ``list`` found a version to be (:attr:`VersionInfo.status`).
VERIFIED = "verified"  # every file present with the sha256 its manifest names
UNVERIFIED = "not verified"  # every file present with the manifest's size; no sha256 checked
DAMAGED = "damaged"  # every file present, one at least with another sha256: never servable
INCOMPLETE = "incomplete"  # the manifest or a file missing or unreadable (or truncated)
STATUSES = (VERIFIED, UNVERIFIED, DAMAGED, INCOMPLETE)
_MISSING, _WRONG_SHA256 = "is missing", "has the wrong sha256"


@dataclass(frozen=True)
class VersionInfo:
    """One version as ``list`` shows it: ``status`` is one of :data:`STATUSES`."""

    version: str
    status: str
    problem: str | None = None
    created_at: str | None = None
    k: int | None = None
    segments: tuple[str, ...] = ()
    current: bool = False
    previous: bool = False

    @property
    def complete(self) -> bool:
        """Every file is there (checked by sha256 when ``verified``, else by size)."""
        return self.status in (VERIFIED, UNVERIFIED)

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED


@dataclass(frozen=True)
class PublishResult:
    version: str
    files: int
    bytes: int
    pointer: Pointer | None
    notes: tuple[str, ...] = field(default=())


def load_bundle(bundle_dir: Path) -> Manifest:
    """Check a local bundle and return its manifest, or raise :class:`BundleInvalid`.

    The manifest is read through the bundle contract (schema version first, then every
    section); then every problem with the files is collected so the message lists all
    of them at once.
    """
    manifest_path = bundle_dir / MANIFEST
    if not bundle_dir.is_dir():
        raise BundleInvalid(f"{bundle_dir} is not a directory")
    if not manifest_path.is_file():
        raise BundleInvalid(f"{bundle_dir} has no {MANIFEST}: not a bundle (or training failed)")
    try:
        manifest = Manifest.loads(manifest_path.read_bytes())
    except ManifestError as exc:
        raise BundleInvalid(f"{manifest_path}: {exc}") from exc
    problems = []
    version = manifest.version
    if not _VERSION_PATTERN.match(version) or version == POINTER:
        problems.append(f"version {version!r} is not a valid version name")
    if not manifest.parity.passed:
        problems.append("parity check did not pass: this bundle must not be served")
    if not manifest.files:
        problems.append("'files' must be a non-empty object of file name -> {sha256, bytes}")
    problems += _check_local_files(bundle_dir, manifest)
    if problems:
        raise BundleInvalid(f"bundle {bundle_dir} is not valid: " + "; ".join(problems))
    return manifest


def _check_local_files(bundle_dir: Path, manifest: Manifest) -> list[str]:
    problems: list[str] = []
    for name, entry in manifest.files.items():
        if name == MANIFEST or not _FILE_PATTERN.match(name):
            problems.append(f"file name {name!r} is not allowed in a bundle")
            continue
        path = bundle_dir / name
        if not path.is_file():
            problems.append(f"{name} is listed but missing")
        elif (actual := _sha256(path.read_bytes())) != entry.sha256:
            problems.append(
                f"{name} sha256 is {actual[:12]}..., manifest says {entry.sha256[:12]}..."
            )
    return problems


class ModelRegistry:
    """Versioned bundles under ``s3://bucket/prefix``; see the module docstring."""

    def __init__(
        self, bucket: str, prefix: str = DEFAULT_PREFIX, s3_client: S3Client | None = None
    ) -> None:
        if not bucket:
            raise StoreError("no bucket: pass --bucket or set MODEL_BUCKET")
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self._s3: S3Client = s3_client or boto3.client("s3")

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    # -- reading ---------------------------------------------------------------------

    def current(self) -> Pointer | None:
        """The pointer, or None when nothing has been promoted yet."""
        found = self._read_pointer()
        return found[0] if found else None

    def current_manifest(self) -> Manifest | None:
        """The manifest of the current version (None when nothing is current)."""
        pointer = self.current()
        return self._read_manifest(pointer.version) if pointer else None

    def versions(self, *, verify: bool = True) -> list[VersionInfo]:
        """Every version under the prefix, oldest first, each checked as ``promote`` checks.

        With ``verify`` (the default) every file of every version is downloaded and its
        sha256 compared with the manifest, so a damaged version shows as ``damaged``
        whatever its sizes say. Without, only object sizes are compared (one listing per
        version) and complete versions are ``not verified``: a file with the right size
        but other bytes passes.
        """
        pointer = self.current()
        current, previous = (pointer.version, pointer.previous) if pointer else (None, None)
        return [
            replace(self._describe(v, verify), current=v == current, previous=v == previous)
            for v in self._version_names()
        ]

    def verify(self, version: str) -> Manifest:
        """Download the version's manifest and every file it lists and check each sha256."""
        manifest = self._read_manifest(version)
        bad = self._hash_problems(version, manifest)
        if bad:
            raise VersionIncomplete(f"version {version} is not complete: " + "; ".join(bad))
        return manifest

    def read_file(self, manifest: Manifest, name: str) -> bytes:
        """One file of the version ``manifest`` describes, checked against its sha256."""
        version = manifest.version
        entry = manifest.files.get(name)
        if entry is None:
            raise VersionIncomplete(f"version {version} lists no file {name!r}")
        body = self._get(self._key(version, name))
        if body is None:
            raise VersionIncomplete(f"version {version}: {name} is missing")
        if _sha256(body) != entry.sha256:
            raise VersionIncomplete(f"version {version}: {name} has the wrong sha256")
        return body

    # -- writing ---------------------------------------------------------------------

    def publish(
        self, bundle_dir: Path, *, promote: bool = True, progress: bool = False
    ) -> PublishResult:
        """Upload a verified local bundle, manifest last, verify it, then move the pointer."""
        manifest = load_bundle(bundle_dir)
        version = manifest.version
        self.check_bucket()
        notes = []
        leftovers = self._list(self._key(version, ""))
        if any(key.endswith("/" + MANIFEST) for key in leftovers):
            raise VersionExists(
                f"version {version} is already published at {self.location}{version}/ "
                "and versions are immutable; train a new bundle to publish a change"
            )
        if leftovers:
            notes.append(f"completed an earlier interrupted upload of {version}")
        names = list(manifest.files)
        total = 0
        for name in tqdm(names, desc="upload", unit="file", disable=not progress):
            body = (bundle_dir / name).read_bytes()
            total += len(body)
            self._put(self._key(version, name), body, during=f"uploading {name}")
        manifest_body = (bundle_dir / MANIFEST).read_bytes()
        self._put(
            self._key(version, MANIFEST),
            manifest_body,
            during=f"uploading {MANIFEST}",
            if_none_match=True,
        )
        self.verify(version)
        pointer = self._move_pointer(version) if promote else None
        return PublishResult(
            version, len(names) + 1, total + len(manifest_body), pointer, tuple(notes)
        )

    def promote(self, version: str) -> Pointer:
        """Make a complete, verified version current; the old one becomes ``previous``."""
        self.verify(version)
        return self._move_pointer(version)

    def rollback(self) -> Pointer:
        """Point ``current`` back at the previous version (verified first)."""
        found = self._read_pointer()
        if found is None:
            raise NothingToRollBack(f"nothing to roll back: no current version in {self.location}")
        pointer, etag = found
        if pointer.previous is None:
            raise NothingToRollBack(
                f"nothing to roll back: {pointer.version} is current and has no previous version"
            )
        self.verify(pointer.previous)
        restored = Pointer(pointer.previous, _now(), pointer.history[1:])
        self._write_pointer(restored, etag)
        return restored

    def check_bucket(self) -> None:
        """Fail early, with the bucket's name, when it does not exist or is not reachable."""
        with self._translate(f"checking bucket {self.bucket}"):
            self._s3.head_bucket(Bucket=self.bucket)

    # -- internals -------------------------------------------------------------------

    def _move_pointer(self, version: str) -> Pointer:
        found = self._read_pointer()
        if found is None:
            pointer = Pointer(version, _now())
            self._write_pointer(pointer, None)
            return pointer
        old, etag = found
        if old.version == version:
            return old
        history = (old.version, *(v for v in old.history if v != version))[:HISTORY_LIMIT]
        pointer = Pointer(version, _now(), history)
        self._write_pointer(pointer, etag)
        return pointer

    def _read_pointer(self) -> tuple[Pointer, str] | None:
        key = self.prefix + POINTER
        with self._translate(f"reading {key}"):
            try:
                response = self._s3.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in {"NoSuchKey", "404"}:
                    return None
                raise
            body = response["Body"].read()
        try:
            return Pointer.from_json(body), response["ETag"]
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{self.location}{POINTER} is not a valid pointer: {exc}") from exc

    def _write_pointer(self, pointer: Pointer, etag: str | None) -> None:
        key = self.prefix + POINTER
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        with self._translate(f"moving {key}"):
            try:
                self._s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=pointer.to_json(),
                    ContentType="application/json",
                    **condition,  # type: ignore[arg-type]
                )
            except ClientError as exc:
                if _code(exc) in {"PreconditionFailed", "ConditionalRequestConflict", "412"}:
                    raise ConcurrentUpdate(
                        f"{key} changed while this command ran; nothing was changed, try again"
                    ) from exc
                raise

    def _read_manifest(self, version: str) -> Manifest:
        if not _VERSION_PATTERN.match(version) or version == POINTER:
            raise VersionNotFound(f"{version!r} is not a valid version name")
        body = self._get(self._key(version, MANIFEST))
        if body is None:
            if self._list(self._key(version, "")):
                raise VersionIncomplete(
                    f"version {version} is incomplete (no {MANIFEST}: an interrupted publish); "
                    "publish the bundle again to complete it"
                )
            raise VersionNotFound(f"no version {version} in {self.location}")
        try:
            return Manifest.loads(body)
        except ManifestError as exc:
            raise VersionIncomplete(f"version {version} has an unusable {MANIFEST}: {exc}") from exc

    def _describe(self, version: str, verify: bool) -> VersionInfo:
        try:
            manifest = self._read_manifest(version)
        except StoreError as exc:
            return VersionInfo(version, INCOMPLETE, problem=str(exc))
        if verify:
            bad = self._hash_problems(version, manifest)
            missing = any(problem.endswith(_MISSING) for problem in bad)
            status = INCOMPLETE if missing else DAMAGED if bad else VERIFIED
        else:
            sizes = self._list(self._key(version, ""))
            short = [
                name
                for name, entry in manifest.files.items()
                if sizes.get(self._key(version, name)) != entry.bytes
            ]
            bad = [f"missing or truncated: {', '.join(short)}"] if short else []
            status = INCOMPLETE if short else UNVERIFIED
        return VersionInfo(
            version,
            status,
            problem="; ".join(bad) or None,
            created_at=manifest.created_at,
            k=manifest.k,
            segments=tuple(s.name for s in manifest.segments),
        )

    def _hash_problems(self, version: str, manifest: Manifest) -> list[str]:
        """Each file of the version that is missing or has another sha256 than the manifest
        says, as ``"<name> is missing"`` / ``"<name> has the wrong sha256"``."""
        problems = []
        for name, entry in manifest.files.items():
            body = self._get(self._key(version, name))
            if body is None:
                problems.append(f"{name} {_MISSING}")
            elif _sha256(body) != entry.sha256:
                problems.append(f"{name} {_WRONG_SHA256}")
        return problems

    def _version_names(self) -> list[str]:
        names = []
        with self._translate(f"listing {self.location}"):
            paginator = self._s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    names.append(common["Prefix"][len(self.prefix) :].rstrip("/"))
        return sorted(names)

    def _list(self, key_prefix: str) -> dict[str, int]:
        sizes: dict[str, int] = {}
        with self._translate(f"listing s3://{self.bucket}/{key_prefix}"):
            paginator = self._s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=key_prefix):
                for item in page.get("Contents", []):
                    sizes[item["Key"]] = item["Size"]
        return sizes

    def _get(self, key: str) -> bytes | None:
        with self._translate(f"reading s3://{self.bucket}/{key}"):
            try:
                return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if _code(exc) in {"NoSuchKey", "404"}:
                    return None
                raise

    def _put(self, key: str, body: bytes, *, during: str, if_none_match: bool = False) -> None:
        extra = {"IfNoneMatch": "*"} if if_none_match else {}
        suffix = Path(key).suffix
        with self._translate(during):
            try:
                self._s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType=_CONTENT_TYPES.get(suffix, "application/octet-stream"),
                    Metadata={"sha256": _sha256(body)},
                    **extra,  # type: ignore[arg-type]
                )
            except ClientError as exc:
                if if_none_match and _code(exc) in {"PreconditionFailed", "412"}:
                    raise VersionExists(
                        f"{key} appeared while publishing: someone else published this version"
                    ) from exc
                raise

    def _key(self, version: str, name: str) -> str:
        return f"{self.prefix}{version}/{name}"

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """Turn botocore failures into a StoreError that says what was being done."""
        try:
            yield
        except StoreError:
            raise
        except ClientError as exc:
            code = _code(exc)
            if code == "NoSuchBucket" or (code == "404" and action.startswith("checking bucket")):
                raise StoreError(f"bucket {self.bucket!r} does not exist") from exc
            if code in {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
                raise StoreError(f"access denied while {action} ({code})") from exc
            raise StoreError(f"S3 error while {action}: {code}: {_message(exc)}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"S3 unreachable while {action}: {exc}") from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
