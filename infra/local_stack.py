"""Small steps of the local stack (infra/local.sh) that are clearer in Python than in bash.

Subcommands:
  stage-env              print the chalice ``local`` stage's variables as shell assignments
  ports-free PORT...     fail, naming the port, if any is already taken on 127.0.0.1
  wait-http URL SECONDS PID
                         wait for URL to answer 200 (fails early if process PID exits)
  create-aws BUCKET TABLE HISTORY_TABLE BATCH_BUCKET
                         create the model bucket, the cache and history tables and the
                         batch bucket in moto (AWS_ENDPOINT_URL) like template.yaml does
  score-file CSV         score a CSV file as the S3 batch function does in AWS: put it
                         under batch/input/ in the local batch bucket and run the
                         function's code on it (results, error report, drift report and
                         summary appear under batch/output/ and batch/reports/)
  stop PGID...           stop these process groups: TERM, then KILL after 10 s
  stop-stale PIDFILE     stop process groups a killed earlier run left behind

Only ever talks to 127.0.0.1. Exit status 0 on success, 1 with a message otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHALICE_CONFIG = ROOT / "functions" / ".chalice" / "config.json"
OFFLINE_ENV = ROOT / "infra" / "offline-env.sh"
# Its lines: ``export NAME=value`` (always) or ``export NAME="${NAME:-value}"`` (a default).
_EXPORT = re.compile(r'^export (\w+)=(?:"\$\{\1:-(.*)\}"|(\S*))$')
LOCAL_STAGE = "local"
# What a process of ours runs; a stale pid whose command line has none of these was
# reused by something else and is left alone.
OUR_COMMANDS = ("moto_server", "chalice", "streamlit")


def stage_variables() -> dict[str, str]:
    """The variables `chalice local --stage local` forces, so every part uses the same."""
    config = json.loads(CHALICE_CONFIG.read_text())
    variables = dict(config.get("environment_variables", {}))
    variables.update(config["stages"][LOCAL_STAGE].get("environment_variables", {}))
    return {name: str(value) for name, value in variables.items()}


def stage_env() -> int:
    for name, value in sorted(stage_variables().items()):
        print(f"export {name}={shlex.quote(str(value))}")
    return 0


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def ports_free(ports: list[str]) -> int:
    taken = [p for p in ports if port_taken(int(p))]
    for port in taken:
        print(f"local: port {port} on 127.0.0.1 is already in use", file=sys.stderr)
    if taken:
        print(
            "local: stop what uses it, or choose other ports: "
            "MOTO_PORT=5001 API_PORT=8001 UI_PORT=8502 bash infra/local.sh",
            file=sys.stderr,
        )
    return 1 if taken else 0


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def wait_http(url: str, seconds: float, pid: int) -> int:
    """Poll ``url`` until it answers 200; give up when the server process has exited."""
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive(pid):
            print(f"local: the process serving {url} exited ({last})", file=sys.stderr)
            return 1
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return 0
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            last = str(getattr(error, "reason", error))
        time.sleep(0.25)
    print(f"local: {url} not ready after {seconds:.0f} s ({last})", file=sys.stderr)
    return 1


def on_moto() -> bool:
    """Whether AWS_ENDPOINT_URL is moto on loopback; then the environment is made offline
    (:func:`offline_environment`), as in a shell that sourced infra/offline-env.sh."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if not endpoint.startswith("http://127.0.0.1:"):
        print(f"local: refusing to use AWS at {endpoint!r}: not moto", file=sys.stderr)
        return False
    offline_environment()
    return True


def offline_environment() -> None:
    """What infra/offline-env.sh exports (read from it: the one definition), for a command
    run from a shell that did not source it, e.g. the ``score-file`` line ``infra/local.sh``
    prints: moto needs no real credentials, and botocore must not look for them on the
    network. Only called once the endpoint is known to be moto."""
    for line in OFFLINE_ENV.read_text().splitlines():
        match = _EXPORT.match(line.strip())
        if match is None:
            continue
        name, default, value = match.groups()
        if default is not None:
            os.environ.setdefault(name, os.path.expandvars(default))
        else:
            os.environ[name] = os.path.expandvars(value)


def create_aws(bucket: str, table: str, history_table: str, batch_bucket: str) -> int:
    """The model bucket (versioned, like the template's), the cache and history tables and
    the batch bucket, in moto."""
    import boto3

    if not on_moto():
        return 1
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket=batch_bucket)
    sys.path.insert(0, str(ROOT / "functions"))
    from chalicelib.stores import cache, history

    dynamodb = boto3.client("dynamodb")
    for name, code in ((table, cache), (history_table, history)):
        dynamodb.create_table(TableName=name, **code.TABLE_DEFINITION)
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": code.TTL_ATTRIBUTE},
        )
    return 0


def score_file(path: str) -> int:
    """Run the S3 batch function's code on a local CSV, against the local stack's moto.

    ``chalice local`` serves HTTP routes only, not S3 events: this is the event's part.
    Configured like the template's BatchFunction (no cache, no history).
    """
    import boto3

    if not on_moto():
        return 1
    source = Path(path)
    if not source.is_file():
        print(f"local: no such file: {path}", file=sys.stderr)
        return 1
    os.environ.update(stage_variables())
    os.environ.update({"CACHE_TABLE": "", "HISTORY_TABLE": ""})
    sys.path.insert(0, str(ROOT / "functions"))
    from chalicelib import composition
    from chalicelib.batch import files as batch_files
    from chalicelib.config import batch_bucket

    bucket = batch_bucket()
    s3 = boto3.client("s3")
    key = f"{batch_files.INPUT_PREFIX}{source.name}"
    s3.upload_file(str(source), bucket, key)
    summary = batch_files.score_file(bucket, key, composition.get_service(), s3)
    shown = ("status", "rows", "scored", "failed", "results", "errors", "report")
    print(json.dumps({name: getattr(summary, name) for name in shown}, indent=2))
    return 0 if summary.status == "complete" else 1


def stop_stale(pidfile: str) -> int:
    """Stop the process groups an earlier run recorded but could not stop (e.g. kill -9)."""
    path = Path(pidfile)
    if not path.exists():
        return 0
    for line in path.read_text().split():
        pid = int(line)
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if alive(pid) and any(name in command for name in OUR_COMMANDS):
            print(f"local: stopping a leftover process from an earlier run (pid {pid})")
            stop_groups([pid])
    path.unlink()
    return 0


def group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is still in process group ``pgid``."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return True
    return False


def signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop_groups(pgids: list[int], grace: float = 10.0) -> int:
    """TERM every group, wait up to ``grace`` seconds for all to exit, KILL the rest."""
    for pgid in pgids:
        signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(group_alive(p) for p in pgids):
        time.sleep(0.1)
    for pgid in pgids:
        if group_alive(pgid):
            print(f"local: process group {pgid} ignored SIGTERM; killing it", file=sys.stderr)
            signal_group(pgid, signal.SIGKILL)
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 1
    command, args = argv[0], argv[1:]
    if command == "stage-env":
        return stage_env()
    if command == "ports-free":
        return ports_free(args)
    if command == "wait-http":
        return wait_http(args[0], float(args[1]), int(args[2]))
    if command == "create-aws":
        return create_aws(*args[:4])
    if command == "score-file":
        return score_file(args[0])
    if command == "stop":
        return stop_groups([int(a) for a in args])
    if command == "stop-stale":
        return stop_stale(args[0])
    print(f"local_stack: unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
