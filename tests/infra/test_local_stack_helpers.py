"""infra/local_stack.py, the local stack's helper steps, on real processes and sockets."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_helpers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_stack", ROOT / "infra" / "local_stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = load_helpers()


@pytest.fixture
def sleeper_group() -> Iterator[subprocess.Popen[bytes]]:
    """A new process group: a shell and a child of it, both sleeping."""
    process = subprocess.Popen(
        ["bash", "-c", "sleep 300 & sleep 300; wait"], start_new_session=True
    )
    yield process
    if process.poll() is None:
        helpers.signal_group(process.pid, signal.SIGKILL)
        process.wait()


def test_stage_env_exports_the_chalice_local_stage(capsys: pytest.CaptureFixture[str]) -> None:
    config = json.loads((ROOT / "functions" / ".chalice" / "config.json").read_text())
    local = config["stages"]["local"]["environment_variables"]
    assert helpers.main(["stage-env"]) == 0
    printed = capsys.readouterr().out
    assert f"export MODEL_BUCKET={local['MODEL_BUCKET']}" in printed
    assert f"export CACHE_TABLE={local['CACHE_TABLE']}" in printed


def test_ports_free_names_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert helpers.main(["ports-free", str(port)]) == 1
        assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err
    assert helpers.main(["ports-free", str(port)]) == 0


def test_stop_ends_every_process_of_the_group(sleeper_group: subprocess.Popen[bytes]) -> None:
    pgid = sleeper_group.pid
    for _ in range(50):  # until both sleeps have started
        if len(members(pgid)) >= 2:
            break
        time.sleep(0.1)
    assert len(members(pgid)) >= 2
    assert helpers.main(["stop", str(pgid)]) == 0
    sleeper_group.wait(timeout=5)
    assert not helpers.group_alive(pgid)
    assert members(pgid) == []


def test_stop_stale_leaves_processes_that_are_not_ours_alone(
    sleeper_group: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    pidfile.write_text(f"{sleeper_group.pid}\n")
    assert helpers.main(["stop-stale", str(pidfile)]) == 0
    assert helpers.group_alive(sleeper_group.pid)  # `sleep` is not moto, chalice or streamlit
    assert not pidfile.exists()


def test_create_aws_refuses_anything_but_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://s3.amazonaws.com")
    assert helpers.main(["create-aws", "bucket", "table", "history", "batch"]) == 1
    assert "not moto" in capsys.readouterr().err


def members(pgid: int) -> list[int]:
    """Live processes of group ``pgid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_helper_runs_as_a_script() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "local_stack.py"), "no-such-command"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert "unknown command 'no-such-command'" in run.stderr


def test_a_shell_without_the_offline_environment_gets_it_for_moto(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ``score-file`` line infra/local.sh prints, run in a new terminal: no credentials,
    no region. Pointed at moto, the helper takes infra/offline-env.sh's values (keeping any
    the shell has); pointed elsewhere it refuses before touching the environment."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.setenv(name, "")  # so that teardown restores (or removes) each
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://s3.amazonaws.com")
    assert not helpers.on_moto()
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert helpers.on_moto()
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    assert os.environ["AWS_ACCESS_KEY_ID"] == os.environ["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert os.environ["AWS_DEFAULT_REGION"] == os.environ["AWS_REGION"] == "eu-west-1"
