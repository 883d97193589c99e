"""The README's first command, end to end: ``bash infra/local.sh`` on free ports.

It sets up, trains on the real data, publishes to a moto server, and serves the API and the
UI. The test scores one customer over HTTP through the API, loads the UI, sends SIGTERM and
checks that every process the script started is gone and every port is free again.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "The local stack is up."
# Setup + training on the full data set + three servers; training alone takes from half a
# minute on an idle machine to ten on a loaded one.
START_SECONDS = 1500
API_KEY = "local-smoke-test-key"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren...), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)
    return dict(pairs)


def request(url: str, body: Any = None, **headers: str) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def first_customer() -> dict[str, Any]:
    with (ROOT / "data" / "CC_GENERAL.csv").open(newline="") as handle:
        row = next(csv.DictReader(handle))
    return {k: (v if k == "CUST_ID" else float(v)) for k, v in row.items() if v != ""}


class LocalStack:
    def __init__(self, workdir: Path) -> None:
        self.ports = {"MOTO_PORT": free_port(), "API_PORT": free_port(), "UI_PORT": free_port()}
        self.log = workdir / "local.log"
        self.workdir = workdir
        env = {
            **os.environ,
            **{k: str(v) for k, v in self.ports.items()},
            "API_KEY": API_KEY,
            "LOCAL_STACK_DIR": str(workdir / "state"),  # never a developer's .local-stack
        }
        env.pop("AWS_ENDPOINT_URL", None)
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                ["bash", "infra/local.sh"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # lets the test clean up even if the script cannot
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if READY_LINE in self.output():
                return
            if self.process.poll() is not None:
                pytest.fail(f"local.sh exited with {self.process.returncode}:\n{self.tail()}")
            time.sleep(1)
        pytest.fail(f"local.sh not ready after {START_SECONDS} s:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.output().splitlines()[-40:])

    def url(self, port: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}{path}"

    def force_stop(self) -> None:
        """Last resort after a failed test: nothing may outlive it."""
        for pid in descendants(self.process.pid) | {self.process.pid}:
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    running = LocalStack(tmp_path)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.force_stop()


@pytest.mark.slow
@pytest.mark.timeout(START_SECONDS + 300)
def test_local_stack_serves_the_api_and_the_ui_and_stops_cleanly(stack: LocalStack) -> None:
    stack.wait_ready()
    output = stack.output()
    for port in stack.ports.values():
        assert f"http://127.0.0.1:{port}" in output  # the URLs are printed

    # Every server listens on loopback only: nothing is exposed to the network.
    for port in stack.ports.values():
        assert listening_addresses(port) == {"0100007F"}, port  # 127.0.0.1

    # One customer scored over HTTP, through the API, with the key passed through.
    status, body = request(stack.url("API_PORT", "/v1/segment"), first_customer())
    assert status == 401, body
    status, body = request(
        stack.url("API_PORT", "/v1/segment"), first_customer(), **{"x-api-key": API_KEY}
    )
    assert status == 200, body
    scored = json.loads(body)
    assert scored["customer_id"] == "C10001"
    assert isinstance(scored["segment"]["id"], int)
    assert scored["model_version"]
    # The history table exists: the second sighting answers the first.
    status, body = request(
        stack.url("API_PORT", "/v1/segment"), first_customer(), **{"x-api-key": API_KEY}
    )
    again = json.loads(body)
    assert again["history"]["moved"] is False, again["history"]
    assert again["history"]["previous"]["segment"]["id"] == scored["segment"]["id"]

    # A file scored as the README says, then its drift report through the API.
    sample = stack.workdir / "sample.csv"
    with (ROOT / "data" / "CC_GENERAL.csv").open() as source:
        sample.write_text("".join(line for _, line in zip(range(301), source, strict=False)))
    env = {**os.environ, "AWS_ENDPOINT_URL": stack.url("MOTO_PORT", "")}
    scoring = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "infra/local_stack.py", "score-file", str(sample)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert scoring.returncode == 0, scoring.stdout + scoring.stderr
    status, body = request(stack.url("API_PORT", "/v1/reports"), **{"x-api-key": API_KEY})
    assert status == 200, body
    (listed,) = json.loads(body)["reports"]
    assert (listed["name"], listed["rows"]) == ("sample", 300)
    status, body = request(stack.url("API_PORT", "/v1/reports/sample"), **{"x-api-key": API_KEY})
    assert status == 200 and json.loads(body)["rows"] == 300

    # The UI is up and pointed at this API with the same key.
    status, page = request(stack.url("UI_PORT", "/"))
    assert status == 200 and b"<html" in page.lower()
    assert request(stack.url("UI_PORT", "/_stcore/health")) == (200, b"ok")
    children = descendants(stack.process.pid)
    streamlit = [
        pid for pid in children if b"streamlit" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert streamlit, "no streamlit process under local.sh"
    ui_env = environment_of(streamlit[0])
    assert ui_env["API_URL"] == stack.url("API_PORT", "")
    assert ui_env["API_KEY"] == API_KEY

    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=60) == 0
    assert "local: stopped" in stack.output()
    assert [pid for pid in children if alive(pid)] == []
    assert all(port_free(port) for port in stack.ports.values())
