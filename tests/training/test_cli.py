"""``python -m training``: subcommands, summaries, exit codes, and nothing written on error.

Store commands run against moto (an injected in-process client, and once a real
``moto_server`` through ``AWS_ENDPOINT_URL``); training runs on the real data set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import numpy as np
import pytest
from chalicelib.contract.codec import encode

from tests.damage import DAMAGED_FILE, damage_file
from tests.servers import OFFLINE_AWS_ENV, ROOT, start_moto_server
from tests.training.conftest import BUCKET, REAL_DATA, BundleFactory
from training.cli import EXIT_FAILED, EXIT_INVALID, EXIT_OK, main
from training.pipeline import BundleSummary
from training.registry import load_bundle

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

V1 = "20261127T120000Z-aaaaaaaa"
V2 = "20261127T130000Z-bbbbbbbb"
SUBCOMMANDS = ("validate", "train", "publish", "list", "promote", "rollback")


def run_module(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=ROOT,
        env={**os.environ, **OFFLINE_AWS_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.fixture(autouse=True)
def no_store_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_BUCKET", raising=False)
    monkeypatch.delenv("MODEL_PREFIX", raising=False)


def test_help_lists_every_subcommand() -> None:
    done = run_module("--help")
    assert done.returncode == 0
    for command in SUBCOMMANDS:
        assert command in done.stdout
    assert "MODEL_BUCKET" in done.stdout

    bare = run_module()
    assert bare.returncode == EXIT_INVALID and "COMMAND" in bare.stderr


def test_validate_real_data(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--data", str(REAL_DATA)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "CASH_ADVANCE_FREQUENCY: above 1" in out
    assert last_line(out).startswith(f"ready to train: {REAL_DATA} (8950 rows, sha256 29eea638")


def _broken_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    lines = REAL_DATA.read_text().splitlines()
    cells = lines[17].split(",")
    cells[1] = "abc"
    text_cell = [*lines[:17], ",".join(cells), *lines[18:]]
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 10)
    files = {
        "text": ("\n".join(text_cell), "BALANCE: must be a number: 1 row, line 18 ('abc')"),
        "few-rows": ("\n".join(lines[:6]), "too few rows to segment: 5"),
        "no-column": (
            "\n".join(",".join(line.split(",")[:-1]) for line in lines),
            "TENURE: required column is missing",
        ),
        "empty": ("", "the file is empty"),
    }
    out = {}
    for name, (content, message) in files.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(content)
        out[name] = (path, message)
    out["garbage"] = (garbage, "not UTF-8 text")
    return out


@pytest.mark.parametrize("case", ["text", "few-rows", "no-column", "empty", "garbage"])
def test_train_on_invalid_data_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    path, message = _broken_files(tmp_path)[case]
    out_dir = tmp_path / "bundle"

    code = main(["train", "--data", str(path), "--out", str(out_dir), "--no-progress"])

    captured = capsys.readouterr()
    assert code == EXIT_INVALID
    assert message in captured.out
    assert "INVALID" in captured.out
    assert f"error: {path} failed validation" in captured.err
    assert "nothing was written" in captured.err
    assert not out_dir.exists()


def test_train_rejects_impossible_k_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["train", "--data", str(REAL_DATA), "--out", str(tmp_path / "b")]
    assert main([*common, "--k-max", "1"]) == EXIT_INVALID
    assert "--k-min/--k-max" in capsys.readouterr().err
    assert main([*common, "--k", "1"]) == EXIT_INVALID
    assert "--k must be at least 2" in capsys.readouterr().err
    assert main([*common, "--threads", "0"]) == EXIT_INVALID
    assert "--threads must be at least 1" in capsys.readouterr().err
    assert main([*common, "--stability-resamples", "0"]) == EXIT_INVALID
    assert "--stability-resamples must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_store_commands_end_to_end(
    s3: S3Client, make_bundle: BundleFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--bucket", BUCKET]

    assert main(["publish", str(make_bundle(V1)), "--no-progress", *store], s3_client=s3) == 0
    out = capsys.readouterr().out
    assert last_line(out) == (
        f"published {V1} (4 files, 0.00 MB) to s3://{BUCKET}/models/{V1}/; "
        f"current -> {V1} (previous: None)"
    )
    assert main(["publish", str(make_bundle(V2, k=3)), "--no-progress", *store], s3_client=s3) == 0
    assert f"current -> {V2} (previous: {V1})" in capsys.readouterr().out

    assert main(["list", *store], s3_client=s3) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith(f"< {V1}  verified  created 2026-11-27T12:00:00Z  k=2")
    assert listed[1] == (
        f"* {V2}  verified  created 2026-11-27T12:00:00Z  k=3  "
        '["Segment 0", "Segment 1", "Segment 2"]'
    )
    assert listed[-1] == f"2 versions (2 verified) in s3://{BUCKET}/models/; current: {V2}"

    assert main(["rollback", *store], s3_client=s3) == 0
    assert last_line(capsys.readouterr().out) == (
        f"rolled back: current -> {V1} (was {V2}; previous: None)"
    )
    assert main(["promote", V2, *store], s3_client=s3) == 0
    assert last_line(capsys.readouterr().out) == f"current -> {V2} (previous: {V1})"
    pointer = json.loads(s3.get_object(Bucket=BUCKET, Key="models/current")["Body"].read())
    assert (pointer["version"], pointer["previous"]) == (V2, V1)


def test_list_flags_a_damaged_current_version_and_says_what_to_do(
    s3: S3Client, make_bundle: BundleFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version whose file was damaged after publishing (same size, manifest unchanged) and
    made current by hand is never listed as complete; ``--no-verify`` says it did not look."""
    store = ["--bucket", BUCKET]
    for version in (V1, V2):
        assert (
            main(["publish", str(make_bundle(version)), "--no-progress", *store], s3_client=s3) == 0
        )
    damage_file(s3, BUCKET, f"models/{V2}/{DAMAGED_FILE}")
    capsys.readouterr()

    assert main(["list", *store], s3_client=s3) == EXIT_OK
    listed = capsys.readouterr().out.splitlines()
    assert listed[1] == f"* {V2}  DAMAGED: {DAMAGED_FILE} has the wrong sha256"
    assert listed[2].startswith(f"warning: the current version {V2} is damaged: ")
    assert "python -m training rollback" in listed[2]
    assert listed[-1] == (
        f"2 versions (1 verified, 1 damaged) in s3://{BUCKET}/models/; current: {V2} (damaged)"
    )

    assert main(["list", "--no-verify", *store], s3_client=s3) == EXIT_OK
    quick = capsys.readouterr().out.splitlines()
    assert quick[1].startswith(f"* {V2}  not verified  created ")
    assert quick[-1].endswith(
        f"(2 not verified) in s3://{BUCKET}/models/; current: {V2} (not verified)"
    )

    assert main(["rollback", *store], s3_client=s3) == EXIT_OK
    assert main(["list", *store], s3_client=s3) == EXIT_OK
    after = capsys.readouterr().out.splitlines()
    assert not any(line.startswith("warning:") for line in after)
    assert after[-1].endswith(f"current: {V1}")
    assert f"  {V2}  DAMAGED: " in after[-2]  # still damaged, no longer current


def test_store_settings_come_from_the_environment(
    s3: S3Client,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MODEL_BUCKET", BUCKET)
    monkeypatch.setenv("MODEL_PREFIX", "team-a/models")
    assert main(["publish", str(make_bundle(V1)), "--no-progress"], s3_client=s3) == EXIT_OK
    assert f"s3://{BUCKET}/team-a/models/{V1}/" in capsys.readouterr().out
    assert s3.get_object(Bucket=BUCKET, Key="team-a/models/current")["ContentLength"] > 0


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["list"], EXIT_INVALID, "no bucket: pass --bucket or set MODEL_BUCKET"),
        (["list", "--bucket", "missing-bucket"], EXIT_FAILED, "'missing-bucket' does not exist"),
        (["promote", V2, "--bucket", BUCKET], EXIT_FAILED, f"no version {V2}"),
        (["rollback", "--bucket", BUCKET], EXIT_FAILED, "has no previous version"),
        (["publish", "BUNDLE", "--bucket", BUCKET], EXIT_FAILED, f"{V1} is already published"),
        (["publish", "/nonexistent", "--bucket", BUCKET], EXIT_FAILED, "is not a directory"),
    ],
    ids=["no-bucket", "missing-bucket", "unknown-version", "no-previous", "exists", "no-dir"],
)
def test_store_errors_are_one_line_with_exit_code(
    s3: S3Client,
    make_bundle: BundleFactory,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    bundle = make_bundle(V1)
    assert main(["publish", str(bundle), "--no-progress", "--bucket", BUCKET], s3_client=s3) == 0
    capsys.readouterr()
    before = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])

    argv = [str(bundle) if a == "BUNDLE" else a for a in argv]
    assert main(argv, s3_client=s3) == code

    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1  # no traceback
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]) == before


def test_publish_and_list_through_a_moto_server(make_bundle: BundleFactory) -> None:
    """The real process boundary: boto3 reaches the endpoint only via AWS_ENDPOINT_URL."""
    with start_moto_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        env = {"AWS_ENDPOINT_URL": endpoint, "MODEL_BUCKET": BUCKET}

        published = run_module("publish", str(make_bundle(V1)), "--no-progress", env=env)
        listed = run_module("list", env=env)

    assert published.returncode == 0, published.stderr
    assert f"current -> {V1}" in last_line(published.stdout)
    assert listed.returncode == 0 and last_line(listed.stdout).endswith(f"current: {V1}")


@pytest.mark.slow
def test_train_on_real_data_keeps_ids_of_the_published_version(
    trained_bundle: BundleSummary,
    s3: S3Client,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The issue's command on the real data, with the session bundle published as current."""
    store = ["--bucket", BUCKET]
    published = trained_bundle.manifest
    assert (
        main(["publish", str(trained_bundle.out_dir), "--no-progress", *store], s3_client=s3) == 0
    )
    capsys.readouterr()
    out_dir = tmp_path / "retrained"

    train = ["train", "--data", str(REAL_DATA), "--out", str(out_dir), "--no-progress"]
    code = main([*train, "--threads", "1", *store], s3_client=s3)

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert f"note: keeping segment ids of the current version {published.version}" in out
    summary = last_line(out)
    manifest = load_bundle(out_dir)
    assert summary.startswith(f"bundle {manifest.version}: 8950 rows, k={manifest.k}")
    assert manifest.data.sha256 == published.data.sha256
    assert [s.name for s in manifest.segments] == [s.name for s in published.segments]
    # Same data: the published model's segments of the training rows are its own labels.
    moved = encode(manifest.migration)
    assert moved is not None
    assert moved["from_version"] == published.version and moved["rows"] == 8950
    row_sums = [sum(row) for row in moved["matrix"]]
    assert row_sums == np.bincount(trained_bundle.labels, minlength=published.k).tolist()
    assert moved["changed"] == 8950 - sum(moved["matrix"][i][i] for i in range(manifest.k))

    assert main(["publish", str(out_dir), "--no-progress", *store], s3_client=s3) == EXIT_OK
    assert last_line(capsys.readouterr().out).endswith(f"(previous: {published.version})")


def test_train_with_a_reference_whose_segmenter_cannot_score_exits_2(
    tmp_path: Path, make_bundle: BundleFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = make_bundle("20261127T120000Z-aaaaaaaa")  # valid files, no real ONNX graph
    out_dir = tmp_path / "bundle"
    argv = ["train", "--data", str(REAL_DATA), "--out", str(out_dir), "--reference"]
    assert main([*argv, str(reference)]) == EXIT_INVALID
    assert "its segmenter cannot be loaded" in capsys.readouterr().err
    assert not out_dir.exists()


def test_train_with_a_reference_that_is_not_a_bundle_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "bundle"
    argv = ["train", "--data", str(REAL_DATA), "--out", str(out_dir), "--reference", str(tmp_path)]
    assert main(argv) == EXIT_INVALID
    assert f"--reference {tmp_path}: " in capsys.readouterr().err
    assert not out_dir.exists()
