"""Per-container singletons, built lazily on first use and kept for warm invocations.

Like the Chalice todo-app's ``get_app_db()``: tests (and the benchmark) replace them with
:func:`reset` or by assigning the module globals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib import observability
from chalicelib.config import MAX_REFRESH_BACKOFF_SECONDS, ConfigError, Settings, batch_bucket
from chalicelib.errors import PathsUnavailable, ServiceMisconfigured
from chalicelib.scoring.loader import BundleReader, ModelLoader, PrefetchingReader
from chalicelib.scoring.scored import Scored, scored_from_text, scored_to_text
from chalicelib.scoring.service import ScoringService
from chalicelib.stores.breaker import CircuitBreaker
from chalicelib.stores.cache import DynamoDBCache, ResultCache
from chalicelib.stores.dynamodb import SharedClient, Table
from chalicelib.stores.history import CustomerHistory, DynamoDBHistory

if TYPE_CHECKING:
    from chalicelib.drift.reports import ReportStore
    from chalicelib.paths import PathFinder
    from chalicelib.scoring.model import ScoringModel

#: The optional dependencies' breaker names: in logs, and in their metrics
#: (``observability.breaker_metric``), which template.yaml alarms on.
CACHE_BREAKER = "cache"
HISTORY_BREAKER = "history"

_settings: Settings | None = None
_model_loader: ModelLoader[ScoringModel] | None = None
_cache: ResultCache[Scored] | None = None
_cache_built = False
_service: ScoringService | None = None
_pinned_services: dict[str, ScoringService] = {}
_reports: ReportStore | None = None
_history: CustomerHistory | None = None
_history_built = False
_dynamodb: SharedClient | None = None
_path_finder: tuple[ScoringModel, PathFinder | str] | None = None  # str: why it has none


def get_settings() -> Settings:
    """The settings; :class:`ServiceMisconfigured` (503) while a setting is malformed.

    The answer names the variables but not their values; the log line written by
    :func:`check_settings` at start-up has both.
    """
    global _settings
    if _settings is None:
        try:
            _settings = Settings.from_env()
        except ConfigError as error:
            raise ServiceMisconfigured(
                f"the service is misconfigured: {', '.join(error.names)} "
                "must be fixed in the function's environment"
            ) from error
    return _settings


def check_settings() -> bool:
    """Run when the container starts: one clear error log line if a setting is malformed.

    Does not raise, so the API can still answer problem+json 503 (not a bare error)
    until the environment is fixed.
    """
    try:
        Settings.from_env()
    except ConfigError as error:
        observability.logger.error(f"invalid configuration, answering 503 until fixed: {error}")
        return False
    return True


def get_model_loader(prefetch: bool = False) -> ModelLoader[ScoringModel]:
    """The model loader; ``prefetch`` (a Lambda init): its S3 client and its first reads
    start on a thread before the scoring code (numpy, onnxruntime) is imported, so the S3
    round trips overlap that import instead of following it."""
    global _model_loader
    if _model_loader is None:
        settings = get_settings()
        bucket, prefix = settings.model_bucket, settings.model_prefix
        reader = (
            PrefetchingReader(bucket, prefix, settings.model_version)
            if prefetch
            else BundleReader(bucket, prefix)
        )
        from chalicelib.scoring.model import ScoringModel  # imported as late as this

        _model_loader = ModelLoader(
            reader,
            ScoringModel,
            pinned_version=settings.model_version,
            refresh_seconds=settings.refresh_seconds,
            load_timeout_seconds=settings.model_load_timeout_seconds,
            max_backoff_seconds=MAX_REFRESH_BACKOFF_SECONDS,
        )
    return _model_loader


def get_model() -> ScoringModel:
    """The model to serve now (raises ModelUnavailable -> 503)."""
    return get_model_loader().get()


def breaker(name: str) -> CircuitBreaker:
    """A circuit breaker for the optional dependency ``name``, tuned by the settings; its
    state changes are logged and counted (chalicelib.observability)."""
    settings = get_settings()
    return CircuitBreaker(
        name,
        failures=settings.breaker_failures,
        cool_down_seconds=settings.breaker_cool_down_seconds,
        listener=observability.breaker_changed,
    )


def dynamodb_client() -> SharedClient | None:
    """The DynamoDB client the cache and the history share (made on first use, renewed
    after a SnapStart restore: chalicelib.lifecycle), or None when neither table is set."""
    settings = get_settings()
    if not (settings.cache_table or settings.history_table):
        return None
    return _shared_dynamodb()


def _shared_dynamodb() -> SharedClient:
    global _dynamodb
    if _dynamodb is None:
        _dynamodb = SharedClient(timeout_seconds=get_settings().dependency_timeout_seconds)
    return _dynamodb


def get_cache() -> ResultCache[Scored] | None:
    """The DynamoDB cache, or None when ``CACHE_TABLE`` is unset (every row: bypass)."""
    global _cache, _cache_built
    if not _cache_built:
        settings = get_settings()
        if settings.cache_table:
            table = Table(settings.cache_table, _shared_dynamodb(), breaker=breaker(CACHE_BREAKER))
            _cache = DynamoDBCache(
                table,
                ttl_seconds=settings.cache_ttl_seconds,
                encode=scored_to_text,
                decode=scored_from_text,
            )
        _cache_built = True
    return _cache


def get_history() -> CustomerHistory | None:
    """The DynamoDB customer history, or None when ``HISTORY_TABLE`` is unset."""
    global _history, _history_built
    if not _history_built:
        settings = get_settings()
        if settings.history_table:
            table = Table(
                settings.history_table, _shared_dynamodb(), breaker=breaker(HISTORY_BREAKER)
            )
            _history = DynamoDBHistory(
                table, ttl_seconds=settings.history_ttl_seconds, writes=settings.history_writes
            )
        _history_built = True
    return _history


def get_service() -> ScoringService:
    global _service
    if _service is None:
        _service = ScoringService(get_model, get_cache(), get_history())
    return _service


def get_service_for(version: str) -> ScoringService:
    """A service scoring with one named model version, never refreshed.

    For the batch workers of one Step Functions run: every batch of a file is scored by the
    version the run pinned when it started, even if another is promoted meanwhile. One
    version is kept per container (a model is tens of MB); a failed load is retried at once
    on the next call (Step Functions retries the batch with backoff).
    """
    service = _pinned_services.get(version)
    if service is None:
        from chalicelib.scoring.model import ScoringModel

        settings = get_settings()
        store = ModelLoader(
            BundleReader(settings.model_bucket, settings.model_prefix),
            ScoringModel,
            pinned_version=version,
            refresh_seconds=0.0,
            load_timeout_seconds=settings.model_load_timeout_seconds,
            max_backoff_seconds=0.0,
        )
        service = ScoringService(store.get, get_cache())
        _pinned_services.clear()
        _pinned_services[version] = service
    return service


def get_reports() -> ReportStore:
    """The drift reports of scored files (its S3 client is made on first use; the module is
    imported on first use too: only the report routes need it)."""
    global _reports
    if _reports is None:
        from chalicelib.drift.reports import ReportStore

        _reports = ReportStore(batch_bucket())
    return _reports


def get_path_finder(model: ScoringModel) -> PathFinder:
    """The path finder of ``model``, built on first use and again when the loader swaps in
    another model (the package is imported on first use too: only the path route needs
    it); :class:`PathsUnavailable` (503) for a bundle without what paths need."""
    global _path_finder
    if _path_finder is None or _path_finder[0] is not model:
        from chalicelib.paths import NoModelSpace, path_finder

        try:
            _path_finder = (model, path_finder(model))
        except NoModelSpace as error:
            _path_finder = (model, str(error))
    built = _path_finder[1]
    if isinstance(built, str):
        raise PathsUnavailable(built)
    return built


def reset(
    settings: Settings | None = None,
    model_loader: ModelLoader[ScoringModel] | None = None,
    cache: ResultCache[Scored] | None = None,
    history: CustomerHistory | None = None,
) -> None:
    """Forget every singleton; optionally install replacements (tests, benchmarks)."""
    global _settings, _model_loader, _cache, _cache_built, _service, _reports
    global _history, _history_built, _dynamodb, _path_finder
    _settings, _model_loader, _service, _reports = settings, model_loader, None, None
    _dynamodb, _path_finder = None, None
    _pinned_services.clear()
    _cache, _cache_built = cache, cache is not None
    _history, _history_built = history, history is not None
