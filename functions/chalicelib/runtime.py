"""Per-container singletons, built lazily on first use and kept for warm invocations.

Like the Chalice todo-app's ``get_app_db()``: tests (and the benchmark) replace them with
:func:`reset` or by assigning the module globals.
"""

from __future__ import annotations

from chalicelib import observability
from chalicelib.breaker import CircuitBreaker
from chalicelib.cache import DynamoDBCache, ResultCache
from chalicelib.config import Settings
from chalicelib.model_store import BundleReader, ModelStore
from chalicelib.scoring import ScoringModel
from chalicelib.service import ScoringService

_settings: Settings | None = None
_model_store: ModelStore[ScoringModel] | None = None
_cache: ResultCache | None = None
_cache_built = False
_service: ScoringService | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def get_model_store() -> ModelStore[ScoringModel]:
    global _model_store
    if _model_store is None:
        settings = get_settings()
        _model_store = ModelStore(
            BundleReader(settings.model_bucket, settings.model_prefix),
            ScoringModel,
            pinned_version=settings.model_version,
            refresh_seconds=settings.refresh_seconds,
        )
    return _model_store


def get_model() -> ScoringModel:
    """The model to serve now (raises ModelUnavailable -> 503)."""
    return get_model_store().get()


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


def get_cache() -> ResultCache | None:
    """The DynamoDB cache, or None when ``CACHE_TABLE`` is unset (every row: bypass)."""
    global _cache, _cache_built
    if not _cache_built:
        settings = get_settings()
        if settings.cache_table:
            _cache = DynamoDBCache(
                settings.cache_table,
                ttl_seconds=settings.cache_ttl_seconds,
                breaker=breaker("cache"),
                timeout_seconds=settings.dependency_timeout_seconds,
            )
        _cache_built = True
    return _cache


def get_service() -> ScoringService:
    global _service
    if _service is None:
        _service = ScoringService(get_model, get_cache())
    return _service


def reset(
    settings: Settings | None = None,
    model_store: ModelStore[ScoringModel] | None = None,
    cache: ResultCache | None = None,
) -> None:
    """Forget every singleton; optionally install replacements (tests, benchmarks)."""
    global _settings, _model_store, _cache, _cache_built, _service
    _settings, _model_store, _service = settings, model_store, None
    _cache, _cache_built = cache, cache is not None
