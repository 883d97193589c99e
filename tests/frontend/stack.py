"""The Streamlit server for the browser tests (moto and the API come from tests/servers.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.servers import (
    HOST,
    OFFLINE_AWS_ENV,
    ROOT,
    free_port,
    stop_process_group,
    wait_for_port,
)

__all__ = ["API_KEY", "ROOT", "free_port", "start_streamlit", "wait_until_ok"]

API_KEY = "frontend-test-key"  # what the key-protected test API requires


def wait_until_ok(url: str, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers 200 (a listening port is not yet a ready server)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = requests.get(url, timeout=5)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except requests.RequestException as error:
            last = str(error)
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout:.0f} s ({last})")


@contextmanager
def start_streamlit(api_url: str, log: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """``streamlit run frontend/Home.py`` on a free loopback port, talking to ``api_url``."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "streamlit"),
        "run",
        "frontend/Home.py",
        "--server.headless",
        "true",
        "--server.address",
        HOST,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
    full_env = {**os.environ, **OFFLINE_AWS_ENV, "API_URL": api_url, "API_KEY": "", **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_port(port, process, timeout=120)
            url = f"http://{HOST}:{port}"
            wait_until_ok(f"{url}/_stcore/health")
            yield url
        finally:
            stop_process_group(process)
