"""AWS clients made with botocore directly.

boto3 adds nothing this service uses (no resources, no s3transfer managed transfers), only
import time at cold start; its ``boto3.client`` is a botocore session's ``create_client``.
A new session per client keeps each client independent of global state (moto in tests
hooks every new session), and a container makes at most two.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config


def client(service: str, config: Config | None = None) -> Any:
    """A botocore client for ``service``: region, credentials and ``AWS_ENDPOINT_URL`` come
    from the environment, as with ``boto3.client``."""
    return botocore.session.get_session().create_client(service, config=config)
