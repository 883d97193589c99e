"""Loading the model bundle from the S3 model store, verified, once per container.

Layout (docs/contracts.md, section 1): ``<prefix><version>/manifest.json``, the files the
manifest lists, and the ``<prefix>current`` pointer. Every listed file is fetched and its
sha256 checked against the manifest before anything is built from it; a mismatch refuses the
whole version.

Refresh: a warm container re-reads the ``current`` pointer at most every
``refresh_seconds`` (``MODEL_REFRESH_SECONDS``, default 60 s). When the pointer names a new
version, that version is loaded and swapped in; if it cannot be loaded the old model keeps
serving and the load is retried after the next interval. A pinned version
(``MODEL_VERSION``) is never refreshed. So a promotion reaches every container within
``refresh_seconds`` plus one load, without a redeploy.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.errors import BundleIntegrityError, ModelUnavailable

SUPPORTED_SCHEMA_VERSION = 1
POINTER_NAME = "current"
MANIFEST_NAME = "manifest.json"
FETCH_THREADS = 8

S3_CLIENT_CONFIG = Config(
    connect_timeout=1, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}
)


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: the manifest and the bytes of every file it lists."""

    version: str
    manifest: dict[str, Any]
    files: dict[str, bytes]


class BundleReader:
    """Reads and verifies bundles under ``s3://bucket/prefix``."""

    def __init__(self, bucket: str, prefix: str, s3_client: Any = None) -> None:
        if s3_client is None:
            s3_client = aws.client("s3", S3_CLIENT_CONFIG)
        self.s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix

    def current_version(self) -> str:
        """The version the ``current`` pointer names."""
        pointer = json.loads(self._get(self.prefix + POINTER_NAME))
        version = pointer.get("version") if isinstance(pointer, dict) else None
        if not isinstance(version, str) or not version:
            raise ModelUnavailable("the model pointer 'current' names no version")
        return version

    def read(self, version: str) -> Bundle:
        """Fetch the manifest of ``version`` and every file it lists, checking each sha256."""
        base = f"{self.prefix}{version}/"
        manifest = json.loads(self._get(base + MANIFEST_NAME))
        if manifest.get("schema_version") != SUPPORTED_SCHEMA_VERSION:
            raise ModelUnavailable(
                f"model {version} has manifest schema_version "
                f"{manifest.get('schema_version')!r}; this service reads "
                f"{SUPPORTED_SCHEMA_VERSION}"
            )
        listed: dict[str, dict[str, Any]] = manifest.get("files", {})
        with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
            fetched = pool.map(lambda name: self._get(base + name), listed)
            contents = dict(zip(listed, fetched, strict=True))
        for name, expected in listed.items():
            digest = hashlib.sha256(contents[name]).hexdigest()
            if digest != expected.get("sha256"):
                raise BundleIntegrityError(
                    f"model {version}: {name} has sha256 {digest[:12]}..., the manifest says "
                    f"{str(expected.get('sha256'))[:12]}...; version refused"
                )
        return Bundle(version=version, manifest=manifest, files=contents)

    def _get(self, key: str) -> bytes:
        try:
            body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "404", "NoSuchBucket"}:
                raise ModelUnavailable(f"no model found at s3://{self.bucket}/{key}") from error
            raise ModelUnavailable(f"model store error reading {key}: {code}") from error
        except BotoCoreError as error:
            raise ModelUnavailable(f"model store unreachable: {type(error).__name__}") from error
        return body


class ModelStore[T]:
    """Holds the model built from the current (or pinned) bundle, refreshed on a timer.

    ``build`` turns a verified :class:`Bundle` into the object served (the scorer); it is
    injected so this module knows nothing about onnxruntime.
    """

    def __init__(
        self,
        reader: BundleReader,
        build: Callable[[Bundle], T],
        pinned_version: str | None = None,
        refresh_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader
        self.build = build
        self.pinned_version = pinned_version
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._model: T | None = None
        self._version: str | None = None
        self._checked_at: float | None = None
        self._last_error: ModelUnavailable | None = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str | None:
        return self._version

    def get(self) -> T:
        """The model to serve now; raises :class:`ModelUnavailable` when there is none."""
        with self._lock:
            if self._due():
                self._refresh()
            if self._model is None:
                raise self._last_error or ModelUnavailable("no model loaded")
            return self._model

    def _due(self) -> bool:
        if self._checked_at is None:
            return True
        if self._model is not None and self.pinned_version is not None:
            return False
        return self.clock() - self._checked_at >= self.refresh_seconds

    def _refresh(self) -> None:
        self._checked_at = self.clock()
        try:
            version = self.pinned_version or self.reader.current_version()
            if version == self._version:
                return
            model = self.build(self.reader.read(version))
        except ModelUnavailable as error:
            self._last_error = error
            return
        except Exception as error:  # an unreadable or unbuildable bundle is not served
            self._last_error = ModelUnavailable(
                f"model could not be loaded: {type(error).__name__}: {error}"
            )
            return
        self._model, self._version, self._last_error = model, version, None
