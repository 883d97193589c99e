"""Loading the model bundle from the S3 model store, verified, once per container.

Layout (docs/contracts.md, section 1): ``<prefix><version>/manifest.json``, the files the
manifest lists, and the ``<prefix>current`` pointer. The manifest is read through the bundle
contract (``chalicelib.contract.bundle``: schema version first); then only the files scoring
reads (``Manifest.scoring_files``: the ONNX graphs, not the report files) are fetched, each
sha256 checked against the manifest before anything is built from it; a mismatch refuses the
whole version.

A version that cannot be loaded is logged (``model load failed``: the version and the
reason, never customer data) and counted (metric ``ModelLoadFailed``); the 503 a client may
get says what an operator can do, without bucket keys or exception text.

Refresh, off the request path: a warm container re-reads the ``current`` pointer at most
every ``refresh_seconds`` (``MODEL_REFRESH_SECONDS``, default 60 s). The first request after
the interval starts one background thread that reads the pointer and, when it names a new
version, loads it and swaps it in; that request and every one after it are served by the
loaded model meanwhile, so a hung S3 never slows an answer. A check that cannot read the
pointer is retried after ``refresh_seconds``, then twice that, and so on up to
``max_backoff_seconds``; the old model keeps serving. A version the pointer names that fails
to load is retried on the same schedule, but the pointer itself is still read every
``refresh_seconds``, so a rollback or another promotion is seen at the next interval. A pinned
version (``MODEL_VERSION``) is never refreshed. So a promotion reaches every container within
``refresh_seconds`` plus one load, without a redeploy.

What the loader knows (the version serving, the one the pointer names, why that one is not
served) is :meth:`ModelLoader.state`, a :class:`~chalicelib.scoring.model_state.ModelState`
read under the lock and without I/O: ``/v1/health`` reports it and never waits on S3.

Why a thread per check rather than one long-lived thread: Lambda freezes the process between
invocations and SnapStart snapshots it after init. A thread that exists only while a check
runs holds no lock and sleeps in no timer across a freeze or a snapshot, needs no restart
after a restore, and an idle container makes no S3 calls. A check that straddles a freeze
simply resumes (or times out and backs off) on the next invocation; the lock is never held
across I/O.

The first load of a cold container runs on the same kind of thread; callers wait for it until
``load_timeout_seconds`` (``MODEL_LOAD_TIMEOUT_SECONDS``, 20 s, inside API Gateway's 29 s)
after it started, all together, then answer 503 at once while the load goes on. The bound is
per load, not per caller, so a Lambda init that waited and the first request after it never
add up past it.
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

from chalicelib import observability
from chalicelib.contract.bundle import MANIFEST_NAME, POINTER_NAME, Manifest, ManifestError
from chalicelib.errors import BundleIntegrityError, ModelUnavailable
from chalicelib.scoring.model_state import NOT_YET_CHECKED, ModelState, reason_for
from chalicelib.stores import aws

FETCH_THREADS = 8

S3_CLIENT_CONFIG = Config(
    connect_timeout=1, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}
)


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: the typed manifest and the bytes of the files scoring reads."""

    version: str
    manifest: Manifest
    files: dict[str, bytes]


class BundleReader:
    """Reads and verifies bundles under ``s3://bucket/prefix``."""

    def __init__(self, bucket: str, prefix: str, s3_client: Any = None) -> None:
        self._owns_client = s3_client is None
        self.s3 = aws.client("s3", S3_CLIENT_CONFIG) if s3_client is None else s3_client
        self.bucket = bucket
        self.prefix = prefix

    def renew_client(self) -> None:
        """A new S3 client (and so no pooled connection) after a SnapStart restore; an
        injected client is kept."""
        if self._owns_client:
            self.s3 = aws.client("s3", S3_CLIENT_CONFIG)

    def current_version(self) -> str:
        """The version the ``current`` pointer names."""
        missing = "no model is published yet: publish a bundle and promote it"
        try:
            pointer = json.loads(self._get(self.prefix + POINTER_NAME, missing))
        except ValueError as error:
            raise ModelUnavailable(
                "the model pointer is unreadable: promote a version again",
                reason=f"{POINTER_NAME}: {error}",
            ) from error
        version = pointer.get("version") if isinstance(pointer, dict) else None
        if not isinstance(version, str) or not version:
            raise ModelUnavailable("the model pointer names no version: promote a version again")
        return version

    def read(self, version: str) -> Bundle:
        """Fetch the manifest of ``version`` and the files scoring reads, checking each sha256."""
        base = f"{self.prefix}{version}/"
        incomplete = f"model {version} is not complete in the model store: publish it again"
        try:
            manifest = Manifest.loads(self._get(base + MANIFEST_NAME, incomplete))
        except ManifestError as error:
            raise ModelUnavailable(f"model {version} was refused: {error}") from error
        needed = manifest.scoring_files()
        with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
            fetched = pool.map(lambda name: self._get(base + name, incomplete), needed)
            contents = dict(zip(needed, fetched, strict=True))
        for name in needed:
            digest = hashlib.sha256(contents[name]).hexdigest()
            expected = manifest.files[name].sha256
            if digest != expected:
                raise BundleIntegrityError(
                    f"model {version} was refused: {name} does not match the sha256 in its "
                    "manifest; publish the version again or roll back",
                    reason=f"{name} has sha256 {digest[:12]}..., manifest {expected[:12]}...",
                )
        return Bundle(version=version, manifest=manifest, files=contents)

    def _get(self, key: str, missing: str) -> bytes:
        """The object's bytes; ``missing`` is the public detail when it does not exist."""
        where = f"s3://{self.bucket}/{key}"  # for the log only
        try:
            body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                missing = "the model bucket does not exist: check MODEL_BUCKET"
            if code in {"NoSuchKey", "404", "NoSuchBucket"}:
                raise ModelUnavailable(missing, reason=f"{where}: {code}") from error
            raise ModelUnavailable(
                f"the model store refused the read ({code}): check the function's access to it",
                reason=f"{where}: {code}",
            ) from error
        except BotoCoreError as error:
            raise ModelUnavailable(
                "the model store is unreachable; loading is retried",
                reason=f"{where}: {type(error).__name__}: {error}",
            ) from error
        return body


class PrefetchingReader(BundleReader):
    """A :class:`BundleReader` that starts reading at once, on a thread: the ``current``
    pointer (unless ``pinned_version``) and that version's bundle.

    A Lambda init makes one, then imports numpy, onnxruntime and the scoring code while the
    thread waits on S3: the round trips (the first is the slowest: connection, signing)
    overlap that import work instead of following it. Its S3 client is made before the
    thread starts, on the caller's thread: making one is CPU work, which would only contend
    with the imports. The first :meth:`current_version` and the :meth:`read` of that version
    answer what the thread read, or raise what it met; every later call reads S3 as a
    :class:`BundleReader` does.
    """

    def __init__(self, bucket: str, prefix: str, pinned_version: str | None = None) -> None:
        super().__init__(bucket, prefix)
        self._pinned = pinned_version
        self._unused = True  # the thread's result is still to be answered
        self._result: tuple[str | None, Bundle | None, Exception | None] = (None, None, None)
        self._thread = threading.Thread(target=self._prefetch, name="model-prefetch", daemon=True)
        self._thread.start()

    def _prefetch(self) -> None:
        version = self._pinned
        try:
            version = version or super().current_version()
            self._result = (version, super().read(version), None)
        except Exception as error:  # answered to the first caller, as its own read's failure
            self._result = (version, None, error)

    def current_version(self) -> str:
        if self._pinned is None and self._unused:
            self._thread.join()
            version, _, error = self._result
            if version is not None:
                return version  # its bundle waits for the read
            self._unused = False
            assert error is not None
            raise error
        return super().current_version()

    def read(self, version: str) -> Bundle:
        if self._unused:
            self._thread.join()
            self._unused = False
            read, bundle, error = self._result
            if read == version and error is not None:
                raise error
            if read == version and bundle is not None:
                return bundle
        return super().read(version)


class ModelLoader[T]:
    """Holds the model built from the current (or pinned) bundle, refreshed off the request path.

    ``build`` turns a verified :class:`Bundle` into the object served (the scorer); it is
    injected so this module knows nothing about onnxruntime.

    :meth:`get` never waits on S3 once a model is loaded: when a check of the pointer is
    due it starts one short-lived background thread for it and returns the loaded model.
    Only a container with nothing loaded waits, at most ``load_timeout_seconds``.
    """

    def __init__(
        self,
        reader: BundleReader,
        build: Callable[[Bundle], T],
        pinned_version: str | None = None,
        refresh_seconds: float = 60.0,
        load_timeout_seconds: float = 20.0,
        max_backoff_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader
        self.build = build
        self.pinned_version = pinned_version
        self.refresh_seconds = refresh_seconds
        self.load_timeout_seconds = load_timeout_seconds
        self.max_backoff_seconds = max(max_backoff_seconds, refresh_seconds)
        self.clock = clock
        self._model: T | None = None
        self._version: str | None = None
        self._last_error: ModelUnavailable | None = None
        self._failures = 0  # consecutive checks that could not read the pointer
        self._scheduled_at = 0.0
        self._next_check: float | None = None  # None: never checked
        self._current: str | None = None  # what the pointer (or pin) named when last read
        self._reason: str | None = None  # why _current is not served (model_state.REASONS)
        self._refusals = 0  # failed loads of _current in a row
        self._retry_from = 0.0
        self._retry_at = 0.0  # _current is not loaded again before this (while a model serves)
        self._worker: threading.Thread | None = None
        self._load_deadline = 0.0  # time.monotonic() until which callers wait for a cold load
        self._lock = threading.Lock()  # guards the fields above; never held across I/O

    @property
    def version(self) -> str | None:
        return self._version

    @property
    def last_error(self) -> ModelUnavailable | None:
        """Why the last check failed (None after a good one, or before any)."""
        return self._last_error

    def state(self) -> ModelState:
        """What this container knows of its model, at once: no I/O, the lock only."""
        with self._lock:
            return ModelState(serving=self._version, current=self._current, reason=self._reason)

    @property
    def refreshing(self) -> bool:
        """True while a background check or load is running."""
        worker = self._worker
        return worker is not None and worker.is_alive()

    def get(self) -> T:
        """The model to serve now; raises :class:`ModelUnavailable` when there is none.

        Warm: the loaded model, at once (a due check runs in the background). Cold: waits
        for the first load until ``load_timeout_seconds`` after it started.
        """
        model = self._model
        if model is None:
            return self._first_load()
        if self._due():
            self._start_check()
        return model

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for a running check or load to finish (tests, benchmarks, a snapshot hook);
        True when none is running any more."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return not self.refreshing

    def _first_load(self) -> T:
        worker = self._start_check()
        if worker is not None:
            # Never more than one timeout, even if the clock jumped (a restored snapshot).
            left = self._load_deadline - time.monotonic()
            worker.join(min(self.load_timeout_seconds, max(0.0, left)))
        if self._model is not None:
            return self._model
        if worker is not None and worker.is_alive():
            raise ModelUnavailable(
                f"the model store did not answer within {self.load_timeout_seconds:g} s; "
                "the model is still loading"
            )
        raise self._last_error or ModelUnavailable("no model loaded")

    def check_now(self, timeout: float | None = None) -> None:
        """Re-read the pointer (or pinned version) now, not when the interval says, and wait
        for it at most ``timeout`` (a SnapStart restore: the snapshot may be old). A failure
        leaves the current model serving, as a timed check does."""
        with self._lock:
            self._next_check = None
            self._retry_from = self._retry_at = 0.0  # a refused version is tried again too
        worker = self._start_check()
        if worker is not None:
            worker.join(timeout)

    def _due(self) -> bool:
        if self._model is not None and self.pinned_version is not None:
            return False
        if self._next_check is None:
            return True
        now = self.clock()
        # A clock that went backwards (a restored snapshot) counts as due.
        return not self._scheduled_at <= now < self._next_check

    def _start_check(self) -> threading.Thread | None:
        """The running check, a new one if it is due, or None (not due: the last error holds)."""
        with self._lock:
            if self._worker is not None:
                return self._worker
            if not self._due():
                return None
            self._worker = threading.Thread(target=self._check, name="model-refresh", daemon=True)
            if self._model is None:  # wall time for join(), whatever clock the tests inject
                self._load_deadline = time.monotonic() + self.load_timeout_seconds
            self._worker.start()
            return self._worker

    def _check(self) -> None:
        """Read the pointer; load and swap in a new version. Runs on the worker thread."""
        error: ModelUnavailable | None = ModelUnavailable("the model check was interrupted")
        version: str | None = None
        try:
            version = self.pinned_version or self.reader.current_version()
            if self._aim(version):
                model = self.build(self.reader.read(version))
                with self._lock:
                    self._model, self._version, self._reason = model, version, None
            error = None
        except ModelUnavailable as failure:
            error = failure
        except Exception as failure:  # an unreadable or unbuildable bundle is not served
            error = ModelUnavailable(
                f"model {version} could not be loaded: the service log has the reason",
                reason=f"{type(failure).__name__}: {failure}",
            )
        finally:  # whatever happened, the next check can start
            if error is not None:
                observability.model_load_failed(version, error.reason, serving=self._version)
            with self._lock:
                if version is not None and error is not None:
                    self._refuse(version, error)
                self._schedule(error, pointer_read=version is not None)
                self._worker = None

    def _aim(self, version: str) -> bool:
        """Note the version the pointer names; True when it is to be loaded now.

        The version serving is not loaded again. A newly named one is, and is "not yet
        checked" meanwhile. One refused before is loaded again when its retry is due, or at
        once while nothing serves (requests are getting 503s).
        """
        with self._lock:
            if version == self._version:
                self._current, self._reason, self._refusals = version, None, 0
                return False
            if version != self._current:
                self._current, self._reason, self._refusals = version, NOT_YET_CHECKED, 0
                return True
            now = self.clock()  # a clock that went backwards (a restored snapshot) is due
            return self._model is None or not self._retry_from <= now < self._retry_at

    def _refuse(self, version: str, error: ModelUnavailable) -> None:
        """``version`` failed to load: say why (publicly) and when to try it again."""
        if version != self._current:
            return  # interrupted before it was aimed at: nothing was learnt about it
        self._reason = reason_for(error)
        self._refusals += 1
        self._retry_from = self.clock()
        self._retry_at = self._retry_from + self._backoff(self._refusals)

    def _schedule(self, error: ModelUnavailable | None, pointer_read: bool) -> None:
        """When to read the pointer next: after ``refresh_seconds``; after a check that could
        not read it while a model is served, after twice as long per failure in a row, at most
        ``max_backoff_seconds``. With nothing loaded, failures are retried every
        ``refresh_seconds`` (requests get the last error meanwhile). A version that fails to
        load does not slow the reads: its own retries back off (:meth:`_refuse`)."""
        self._last_error = error
        self._failures = 0 if pointer_read else self._failures + 1
        delay = self.refresh_seconds
        if not pointer_read and self._model is not None:
            delay = self._backoff(self._failures)
        self._scheduled_at = self.clock()
        self._next_check = self._scheduled_at + delay

    def _backoff(self, failures: int) -> float:
        """``refresh_seconds`` doubled per failure in a row after the first, capped."""
        return min(self.refresh_seconds * 2 ** (failures - 1), self.max_backoff_seconds)
