"""Every environment variable the functions read, named once.

Helper tooling (the SAM template test) imports ``ENV_VARS`` to check the deployed stack sets
exactly these; nothing else in ``functions/`` calls ``os.environ`` directly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

MODEL_BUCKET = "MODEL_BUCKET"
MODEL_PREFIX = "MODEL_PREFIX"
CACHE_TABLE = "CACHE_TABLE"
MODEL_VERSION = "MODEL_VERSION"
API_KEY = "API_KEY"
MODEL_REFRESH_SECONDS = "MODEL_REFRESH_SECONDS"
CACHE_TTL_SECONDS = "CACHE_TTL_SECONDS"
# Degraded modes (docs/api.md, "When a dependency fails"): the per-call timeout of the
# optional dependencies, their circuit breakers, and how long a cold container's request
# waits for its first model.
DEPENDENCY_TIMEOUT_SECONDS = "DEPENDENCY_TIMEOUT_SECONDS"
BREAKER_FAILURES = "BREAKER_FAILURES"
BREAKER_COOL_DOWN_SECONDS = "BREAKER_COOL_DOWN_SECONDS"
MODEL_LOAD_TIMEOUT_SECONDS = "MODEL_LOAD_TIMEOUT_SECONDS"
HISTORY_TABLE = "HISTORY_TABLE"
HISTORY_TTL_SECONDS = "HISTORY_TTL_SECONDS"
HISTORY_WRITES = "HISTORY_WRITES"
# Read by chalicelib.batch.files (the S3 batch handler) and by Powertools itself.
BATCH_BUCKET = "BATCH_BUCKET"
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
# Read by chalicelib.observability (its metrics and log lines, as Powertools' did), which the
# layer rule keeps from importing this module: it spells the names itself.
POWERTOOLS_METRICS_DISABLED = "POWERTOOLS_METRICS_DISABLED"
POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

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
    MODEL_LOAD_TIMEOUT_SECONDS,
    HISTORY_TABLE,
    HISTORY_TTL_SECONDS,
    HISTORY_WRITES,
    BATCH_BUCKET,
    POWERTOOLS_SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE,
    POWERTOOLS_METRICS_DISABLED,
    POWERTOOLS_LOG_LEVEL,
)

# Set by the Lambda runtime itself, never by the template: its presence means the code is
# running in a Lambda init phase ("on-demand", "provisioned-concurrency" or "snap-start").
LAMBDA_INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
# Set per invocation when X-Ray tracing is on: its root id rides on every log line.
XRAY_TRACE_ID = "_X_AMZN_TRACE_ID"
RUNTIME_VARS: tuple[str, ...] = (LAMBDA_INITIALIZATION_TYPE, XRAY_TRACE_ID)

DEFAULT_MODEL_PREFIX = "models/"
DEFAULT_REFRESH_SECONDS = 60.0
DEFAULT_CACHE_TTL_SECONDS = 7 * 24 * 3600
DEFAULT_DEPENDENCY_TIMEOUT_SECONDS = 0.5
DEFAULT_BREAKER_FAILURES = 3
DEFAULT_BREAKER_COOL_DOWN_SECONDS = 10.0
# Inside API Gateway's 29 s, with room for the imports of a cold start.
DEFAULT_MODEL_LOAD_TIMEOUT_SECONDS = 20.0
# A failed check of the model pointer is retried after refresh_seconds, then twice that,
# and so on, never more than this apart (nor less than refresh_seconds).
MAX_REFRESH_BACKOFF_SECONDS = 300.0
DEFAULT_HISTORY_TTL_SECONDS = 400 * 24 * 3600  # a year of monthly rescoring, and a bit


class HistoryWrites(StrEnum):
    """How a batch records its sightings (docs/api.md, "Customer history")."""

    # TransactWriteItems, 100 items a call, a customer whole or not at all: 30 calls per
    # 1,000 new sightings, at twice the write units.
    TRANSACTIONS = "transactions"
    # BatchWriteItem, 25 items a call: 90 calls, single write units. For moto (the local
    # stack), which copies the whole table on every transaction.
    BATCH = "batch"


# The S3 batch trigger: files put under this prefix with this suffix in the batch bucket.
BATCH_INPUT_PREFIX = "batch/input/"
BATCH_INPUT_SUFFIX = ".csv"
DEFAULT_BATCH_BUCKET = "cc-segmentation-batch"


class ConfigError(ValueError):
    """Environment variables hold values the service cannot use; every one is listed.

    The message names each variable and its value: it is for the operator's log. The API
    names only the variables (see ``composition.get_settings``).
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        self.names = [name for name, _ in problems]
        super().__init__("; ".join(f"{name} {message}" for name, message in problems))


def _parse[N: (int, float)](
    raw: str | None,
    name: str,
    default: N,
    parse: Callable[[str], N],
    low: N,
    problems: list[tuple[str, str]],
) -> N:
    """``raw`` parsed and at least ``low``, or ``default`` when unset; a problem otherwise."""
    if raw is None:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < low:
        kind = "a whole number" if parse is int else "a number"
        problems.append((name, f"must be {kind} >= {low:g}, got {raw!r}"))
        return default
    return value


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
    model_load_timeout_seconds: float = DEFAULT_MODEL_LOAD_TIMEOUT_SECONDS
    history_table: str | None = None
    history_ttl_seconds: int = DEFAULT_HISTORY_TTL_SECONDS
    history_writes: HistoryWrites = HistoryWrites.TRANSACTIONS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; empty strings count as unset so templates can pass ``""``.

        Raises :class:`ConfigError` naming every malformed value.
        """
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        prefix = get(MODEL_PREFIX) or DEFAULT_MODEL_PREFIX
        if not prefix.endswith("/"):
            prefix += "/"
        problems: list[tuple[str, str]] = []

        def number[N: (int, float)](name: str, default: N, parse: Callable[[str], N], low: N) -> N:
            return _parse(get(name), name, default, parse, low, problems)

        refresh = number(MODEL_REFRESH_SECONDS, DEFAULT_REFRESH_SECONDS, float, 0.0)
        ttl = number(CACHE_TTL_SECONDS, DEFAULT_CACHE_TTL_SECONDS, int, 1)
        timeout = number(DEPENDENCY_TIMEOUT_SECONDS, DEFAULT_DEPENDENCY_TIMEOUT_SECONDS, float, 0.0)
        failures = number(BREAKER_FAILURES, DEFAULT_BREAKER_FAILURES, int, 1)
        cool_down = number(BREAKER_COOL_DOWN_SECONDS, DEFAULT_BREAKER_COOL_DOWN_SECONDS, float, 0.0)
        load_timeout = number(
            MODEL_LOAD_TIMEOUT_SECONDS, DEFAULT_MODEL_LOAD_TIMEOUT_SECONDS, float, 0.0
        )
        history_ttl = number(HISTORY_TTL_SECONDS, DEFAULT_HISTORY_TTL_SECONDS, int, 1)
        writes = get(HISTORY_WRITES) or HistoryWrites.TRANSACTIONS
        if writes not in set(HistoryWrites):
            choices = ", ".join(HistoryWrites)
            problems.append((HISTORY_WRITES, f"must be one of {choices}, got {writes!r}"))
        if problems:
            raise ConfigError(problems)
        return cls(
            model_bucket=get(MODEL_BUCKET) or "",
            model_prefix=prefix,
            cache_table=get(CACHE_TABLE),
            model_version=get(MODEL_VERSION),
            api_key=get(API_KEY),
            refresh_seconds=refresh,
            cache_ttl_seconds=ttl,
            dependency_timeout_seconds=timeout,
            breaker_failures=failures,
            breaker_cool_down_seconds=cool_down,
            model_load_timeout_seconds=load_timeout,
            history_table=get(HISTORY_TABLE),
            history_ttl_seconds=history_ttl,
            history_writes=HistoryWrites(writes),
        )


def batch_bucket() -> str:
    """The bucket the S3 trigger watches (the template sets ``BATCH_BUCKET``)."""
    return os.environ.get(BATCH_BUCKET, "").strip() or DEFAULT_BATCH_BUCKET


def lambda_initialization_type() -> str | None:
    """How Lambda is initialising this container, or None outside a Lambda init."""
    return os.environ.get(LAMBDA_INITIALIZATION_TYPE) or None
