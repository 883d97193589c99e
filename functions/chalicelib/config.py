"""Every environment variable the functions read, named once.

Helper tooling (the SAM template test) imports ``ENV_VARS`` to check the deployed stack sets
exactly these; nothing else in ``functions/`` calls ``os.environ`` directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MODEL_BUCKET = "MODEL_BUCKET"
MODEL_PREFIX = "MODEL_PREFIX"
CACHE_TABLE = "CACHE_TABLE"
MODEL_VERSION = "MODEL_VERSION"
API_KEY = "API_KEY"
MODEL_REFRESH_SECONDS = "MODEL_REFRESH_SECONDS"
CACHE_TTL_SECONDS = "CACHE_TTL_SECONDS"
# Degraded modes (docs/api.md, "When a dependency fails"): the per-call timeout of the
# optional dependencies and their circuit breakers.
DEPENDENCY_TIMEOUT_SECONDS = "DEPENDENCY_TIMEOUT_SECONDS"
BREAKER_FAILURES = "BREAKER_FAILURES"
BREAKER_COOL_DOWN_SECONDS = "BREAKER_COOL_DOWN_SECONDS"
# Read by chalicelib.batch_files (the S3 batch handler) and by Powertools itself.
BATCH_BUCKET = "BATCH_BUCKET"
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

ENV_VARS: tuple[str, ...] = (
    MODEL_BUCKET,
    MODEL_PREFIX,
    CACHE_TABLE,
    MODEL_VERSION,
    API_KEY,
    MODEL_REFRESH_SECONDS,
    CACHE_TTL_SECONDS,
    DEPENDENCY_TIMEOUT_SECONDS,
    BREAKER_FAILURES,
    BREAKER_COOL_DOWN_SECONDS,
    BATCH_BUCKET,
    POWERTOOLS_SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE,
)

DEFAULT_MODEL_PREFIX = "models/"
DEFAULT_REFRESH_SECONDS = 60.0
DEFAULT_CACHE_TTL_SECONDS = 7 * 24 * 3600
DEFAULT_DEPENDENCY_TIMEOUT_SECONDS = 0.5
DEFAULT_BREAKER_FAILURES = 3
DEFAULT_BREAKER_COOL_DOWN_SECONDS = 10.0

MAX_BATCH = 1000
MAX_BODY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """The service configuration, read once per container from the environment."""

    model_bucket: str
    model_prefix: str = DEFAULT_MODEL_PREFIX
    cache_table: str | None = None
    model_version: str | None = None
    api_key: str | None = None
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS
    cache_ttl_seconds: int = DEFAULT_CACHE_TTL_SECONDS
    dependency_timeout_seconds: float = DEFAULT_DEPENDENCY_TIMEOUT_SECONDS
    breaker_failures: int = DEFAULT_BREAKER_FAILURES
    breaker_cool_down_seconds: float = DEFAULT_BREAKER_COOL_DOWN_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; empty strings count as unset so templates can pass ``""``."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        prefix = get(MODEL_PREFIX) or DEFAULT_MODEL_PREFIX
        if not prefix.endswith("/"):
            prefix += "/"
        return cls(
            model_bucket=get(MODEL_BUCKET) or "",
            model_prefix=prefix,
            cache_table=get(CACHE_TABLE),
            model_version=get(MODEL_VERSION),
            api_key=get(API_KEY),
            refresh_seconds=float(get(MODEL_REFRESH_SECONDS) or DEFAULT_REFRESH_SECONDS),
            cache_ttl_seconds=int(get(CACHE_TTL_SECONDS) or DEFAULT_CACHE_TTL_SECONDS),
            dependency_timeout_seconds=float(
                get(DEPENDENCY_TIMEOUT_SECONDS) or DEFAULT_DEPENDENCY_TIMEOUT_SECONDS
            ),
            breaker_failures=int(get(BREAKER_FAILURES) or DEFAULT_BREAKER_FAILURES),
            breaker_cool_down_seconds=float(
                get(BREAKER_COOL_DOWN_SECONDS) or DEFAULT_BREAKER_COOL_DOWN_SECONDS
            ),
        )
