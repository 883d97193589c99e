"""AWS clients made with botocore directly, from one session per container.

boto3 adds nothing this service uses (no resources, no s3transfer managed transfers), only
import time at cold start; its ``boto3.client`` is a botocore session's ``create_client``.
One shared session loads the endpoint rules and other data files once, so the second
client of a cold start (S3 for the model, DynamoDB for the cache) is cheaper to make
(~45 ms instead of ~130 ms on the development box).
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# What a failing AWS call raises (network, timeout, service error): the errors an optional
# dependency turns into a degraded answer (chalicelib.stores.breaker), everything else is a bug.
ERRORS = (BotoCoreError, ClientError)

# Sessions are not thread-safe; chalice local serves requests on threads.
_lock = threading.Lock()


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


def client(service: str, config: Config | None = None) -> Any:
    """A botocore client for ``service``: region, credentials and ``AWS_ENDPOINT_URL`` come
    from the environment, as with ``boto3.client``."""
    with _lock:
        return _session().create_client(service, config=config)
