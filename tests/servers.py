"""Start and stop the local stack's servers for tests: moto_server and ``chalice local``.

Both run as child processes on free loopback ports and are always stopped when the
``with`` block ends, even on failure. The frontend's tests reuse these helpers.

>>> with start_moto_server() as aws_url, start_chalice_local(aws_url) as api_url:
...     requests.get(api_url + "/v1/health")
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_DIR = ROOT / "functions"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
LOCAL_STAGE = "local"

# Dummy credentials and no metadata probing: nothing may reach real AWS.
OFFLINE_AWS_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def local_stage_env() -> dict[str, str]:
    """The ``local`` stage's variables from functions/.chalice/config.json (bucket, table)."""
    config = json.loads((FUNCTIONS_DIR / ".chalice" / "config.json").read_text())
    env: dict[str, str] = dict(config.get("environment_variables", {}))
    env.update(config["stages"][LOCAL_STAGE].get("environment_variables", {}))
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 60.0
) -> None:
    """Block until something accepts connections on ``port`` (or the process dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {HOST}:{port} after {timeout:.0f} s")


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and its children (it runs in its own process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def _serve(
    command: list[str], port: int, env: Mapping[str, str], cwd: Path
) -> Iterator[subprocess.Popen[bytes]]:
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
        yield process
    finally:
        stop_process_group(process)
        log.close()


@dataclass(frozen=True)
class MotoServer:
    """A running moto server: its URL and the process this test started."""

    url: str
    process: subprocess.Popen[bytes]

    @contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP the server for the block, SIGCONT after: S3 and DynamoDB hang rather
        than refuse (the kernel still accepts connections; nothing answers)."""
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)


@contextmanager
def moto_server(port: int | None = None) -> Iterator[MotoServer]:
    """A moto server on loopback, with its process (to pause it)."""
    port = port or free_port()
    env = {**os.environ, **OFFLINE_AWS_ENV}
    command = [str(BIN / "moto_server"), "-H", HOST, "-p", str(port)]
    with _serve(command, port, env, ROOT) as process:
        yield MotoServer(f"http://{HOST}:{port}", process)


@contextmanager
def start_moto_server(port: int | None = None) -> Iterator[str]:
    """A moto server on loopback; yields its URL (use it as ``AWS_ENDPOINT_URL``)."""
    with moto_server(port) as server:
        yield server.url


@contextmanager
def start_chalice_local(
    aws_endpoint_url: str,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    functions_dir: Path = FUNCTIONS_DIR,
) -> Iterator[str]:
    """``chalice local --no-autoreload`` for functions/, every AWS call sent to
    ``aws_endpoint_url``; yields the API's base URL. The ``local`` stage names the bucket and
    table (see :func:`local_stage_env`); ``env`` adds variables (e.g. ``API_KEY``) and wins
    over the stage's own (e.g. ``MODEL_REFRESH_SECONDS``); ``functions_dir`` serves another
    copy of the project (a benchmark's "before")."""
    port = port or free_port()
    full_env = {
        **os.environ,
        **OFFLINE_AWS_ENV,
        "AWS_ENDPOINT_URL": aws_endpoint_url,
        **(env or {}),
    }
    command = [
        str(BIN / "chalice"),
        "local",
        "--no-autoreload",
        "--host",
        HOST,
        "--port",
        str(port),
        "--stage",
        LOCAL_STAGE,
    ]
    with (
        _project_overriding(functions_dir, env or {}) as project,
        _serve(command, port, full_env, project),
    ):
        yield f"http://{HOST}:{port}"


@contextmanager
def _project_overriding(functions_dir: Path, env: Mapping[str, str]) -> Iterator[Path]:
    """``functions_dir``, or, when ``env`` sets a variable the ``local`` stage also sets, a
    temporary project of symlinks to it whose config has ``env``'s values.

    ``chalice local`` puts the stage's ``environment_variables`` over the process
    environment, so without this a test's ``MODEL_REFRESH_SECONDS=1`` would silently run
    with the stage's 5.
    """
    config = json.loads((functions_dir / ".chalice" / "config.json").read_text())
    stage = config["stages"][LOCAL_STAGE].setdefault("environment_variables", {})
    overridden = {**config.get("environment_variables", {}), **stage}.keys() & env.keys()
    if not overridden:
        yield functions_dir
        return
    stage.update({name: env[name] for name in overridden})
    with tempfile.TemporaryDirectory(prefix="chalice-project-") as temporary:
        project = Path(temporary)
        for entry in functions_dir.iterdir():
            if entry.name != ".chalice":
                (project / entry.name).symlink_to(entry)
        (project / ".chalice").mkdir()
        (project / ".chalice" / "config.json").write_text(json.dumps(config, indent=2))
        yield project


Exchange = Callable[[Message, bytes, Callable[[bytes], bytes]], tuple[int, bytes] | None]
"""``change(headers, body, send)`` of :func:`start_proxy`, for each POST: None forwards the
request as it is; ``(status, body)`` is the answer instead (``send(other_body)`` forwards a
body of its own, with the request's headers, and returns the server's answer body)."""


@contextmanager
def start_proxy(target_url: str, change: Exchange) -> Iterator[str]:
    """A small HTTP proxy on loopback in front of ``target_url`` (e.g. a moto server) that
    lets ``change`` rewrite POST exchanges; yields its URL (use it as ``AWS_ENDPOINT_URL``).

    Runs on threads of the test process. An answer ``change`` makes gets a fresh
    ``x-amz-crc32`` (DynamoDB's body checksum), so botocore reads it as DynamoDB's own.
    """
    target = urlsplit(target_url)

    def forward(
        method: str, path: str, headers: Message, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(HOST, target.port, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() != "content-length"}
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    class Handler(BaseHTTPRequestHandler):
        def do_request(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            changed = None
            if self.command == "POST":
                changed = change(self.headers, body, self.send_own)
            if changed is None:
                status, headers, answer = forward(self.command, self.path, self.headers, body)
            else:
                status, answer = changed
                headers = [
                    ("Content-Type", "application/x-amz-json-1.0"),
                    ("x-amz-crc32", str(zlib.crc32(answer))),
                ]
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_request

        def send_own(self, body: bytes) -> bytes:
            return forward("POST", self.path, self.headers, body)[2]

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
