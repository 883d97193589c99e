"""``python -m training``: validate data, train a bundle, and manage the S3 model store.

Every subcommand ends with a one-line summary on stdout. Expected failures (invalid data,
a missing bucket, an unknown version, a bad bundle, a failed parity check) print one
``error:`` line on stderr instead of a traceback and return a non-zero exit code:

* ``0`` success
* ``1`` the operation failed (store, bundle, parity)
* ``2`` invalid input (data that fails validation, bad options)
* ``130`` interrupted (Ctrl-C); a publish interrupted this way never moves ``current``

The bucket and prefix come from ``--bucket``/``--prefix`` or the environment
(``MODEL_BUCKET``, ``MODEL_PREFIX``, default ``models/``); ``AWS_ENDPOINT_URL`` points
boto3 at any S3 endpoint, a local moto server included.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadpoolctl import threadpool_limits

from training.data import DataFileError
from training.progress import ReadProgress
from training.registry import (
    DEFAULT_PREFIX,
    STATUSES,
    ModelRegistry,
    StoreError,
    VersionInfo,
    load_bundle,
)
from training.sources import DataInput, open_data
from training.validation import Scan, min_rows_for, scan, unreadable

if TYPE_CHECKING:
    from chalicelib.contract.bundle import Manifest
    from mypy_boto3_s3 import S3Client

    from training.migration import PublishedModel

DATA_HELP = (
    "customer data: a local path or s3://bucket/key; CSV, gzip-compressed CSV or Parquet "
    "(told by the file's first bytes)"
)
DEFAULT_SAMPLE_ROWS = 200_000
"""Rows fitted on by default (docs/training.md, "Training on a whole customer base"): the
largest sample that still gets exact KMeans (``training.clustering.SCALABLE_ROWS``)."""

ENV_BUCKET = "MODEL_BUCKET"
ENV_PREFIX = "MODEL_PREFIX"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """An expected failure: printed as one line, mapped to an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def main(argv: Sequence[str] | None = None, *, s3_client: S3Client | None = None) -> int:
    """Run one subcommand; ``s3_client`` lets tests inject a moto client."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        summary: str = args.handler(args, s3_client)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("error: interrupted; the current model pointer was not moved", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train customer-segmentation bundles and manage the S3 model store.",
        epilog=f"Store location: --bucket/--prefix or ${ENV_BUCKET}/${ENV_PREFIX} "
        f"(default prefix {DEFAULT_PREFIX!r}); AWS_ENDPOINT_URL selects the S3 endpoint.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("validate", help="check a data file without training")
    check.add_argument("--data", required=True, metavar="DATA", help=DATA_HELP)
    check.add_argument("--no-progress", action="store_true", help="no progress bar")
    check.add_argument("--k-max", type=int, default=10, help="largest k to be tried (row minimum)")
    check.set_defaults(handler=run_validate)

    _add_train_command(commands)
    _add_store_commands(commands)
    return parser


def _add_train_command(commands: Any) -> None:
    train = commands.add_parser("train", help="validate a data file and build a bundle")
    train.add_argument("--data", required=True, metavar="DATA", help=DATA_HELP)
    train.add_argument(
        "--sample-rows",
        type=int,
        default=DEFAULT_SAMPLE_ROWS,
        metavar="N",
        help=f"fit on a seeded uniform sample of N rows ({DEFAULT_SAMPLE_ROWS:,}); "
        "a file of at most N rows is used whole",
    )
    train.add_argument("--out", type=Path, required=True, metavar="DIR", help="bundle directory")
    train.add_argument("--k", type=int, default=None, help="number of segments (skip the knee)")
    train.add_argument("--k-min", type=int, default=1, help="smallest k of the elbow (1)")
    train.add_argument("--k-max", type=int, default=10, help="largest k of the elbow (10)")
    train.add_argument("--seed", type=int, default=42, help="random seed (42)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.add_argument(
        "--stability-resamples",
        type=int,
        metavar="N",
        help="bootstrap resamples per k for the stability check (default: training.stability)",
    )
    train.add_argument(
        "--stability-rows",
        type=int,
        metavar="N",
        help="rows drawn per stability resample (default: training.stability)",
    )
    train.add_argument(
        "--threads",
        type=int,
        default=None,
        help="cap native (OpenMP/BLAS) threads; 1 is much faster on a busy shared machine",
    )
    train.add_argument(
        "--reference",
        type=Path,
        metavar="DIR",
        help="keep segment ids of this local bundle (default: the store's current version)",
    )
    train.add_argument(
        "--no-reference", action="store_true", help="number segments afresh (ignore the store)"
    )
    _add_store_options(train)
    train.set_defaults(handler=run_train)


def _add_store_commands(commands: Any) -> None:
    publish = commands.add_parser("publish", help="upload a bundle and make it current")
    publish.add_argument("bundle", type=Path, metavar="DIR", help="bundle directory")
    publish.add_argument("--no-promote", action="store_true", help="upload only")
    publish.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_store_options(publish)
    publish.set_defaults(handler=run_publish)

    listing = commands.add_parser(
        "list", help="versions in the store, each verified by sha256, and which is current"
    )
    listing.add_argument(
        "--no-verify",
        action="store_true",
        help="compare file sizes only (no download); versions are listed as 'not verified'",
    )
    _add_store_options(listing)
    listing.set_defaults(handler=run_list)

    promote = commands.add_parser("promote", help="make a published version current")
    promote.add_argument("version", metavar="VERSION")
    _add_store_options(promote)
    promote.set_defaults(handler=run_promote)

    rollback = commands.add_parser("rollback", help="make the previous version current again")
    _add_store_options(rollback)
    rollback.set_defaults(handler=run_rollback)


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", help=f"S3 bucket (default ${ENV_BUCKET})")
    parser.add_argument("--prefix", help=f"key prefix (default ${ENV_PREFIX} or {DEFAULT_PREFIX})")


def _store_location(args: argparse.Namespace) -> tuple[str | None, str]:
    bucket = args.bucket or os.environ.get(ENV_BUCKET) or None
    prefix = args.prefix if args.prefix is not None else os.environ.get(ENV_PREFIX, DEFAULT_PREFIX)
    return bucket, prefix


def _open_store(args: argparse.Namespace, s3_client: S3Client | None) -> ModelRegistry:
    bucket, prefix = _store_location(args)
    if not bucket:
        raise CommandError(f"no bucket: pass --bucket or set {ENV_BUCKET}", EXIT_INVALID)
    return ModelRegistry(bucket, prefix, s3_client=s3_client)


# -- subcommands ---------------------------------------------------------------------------


def run_validate(args: argparse.Namespace, s3_client: S3Client | None) -> str:
    data = _open_data(args.data, s3_client)
    scanned = _validated(data, args.k_max, sample=0, seed=0, progress=not args.no_progress)
    rows = scanned.report.rows
    return f"ready to train: {args.data} ({rows} rows, sha256 {data.reader.sha256()})"


def run_train(args: argparse.Namespace, s3_client: S3Client | None) -> str:
    k_range = _k_range(args)
    data = _open_data(args.data, s3_client)
    progress = not args.no_progress
    k_max = max(k_range[1], args.k or 0)
    scanned = _validated(data, k_max, sample=args.sample_rows, seed=args.seed, progress=progress)
    published = _published_reference(args, s3_client)

    from training.pipeline import ParityError, build_bundle  # heavy: import only to train
    from training.whole_base import Base

    base = Base(data.reader, scanned.population, args.sample_rows, scanned.seconds)
    try:
        with threadpool_limits(limits=args.threads):
            summary = build_bundle(
                scanned.frame(),
                args.out,
                k=args.k,
                k_range=k_range,
                seed=args.seed,
                published=published,
                data_sha256=data.reader.sha256(),
                data_file=data.name,
                progress=progress,
                stability_resamples=args.stability_resamples,
                stability_sample_size=args.stability_rows,
                base=base,
            )
    except ParityError as exc:
        raise CommandError(
            f"parity check failed ({exc}); {args.out} has no manifest.json and cannot be published"
        ) from exc
    except DataFileError as exc:
        raise CommandError(f"{args.data}: {exc.message}; {args.out} has no manifest.json") from exc
    except OSError as exc:
        raise CommandError(f"cannot write the bundle to {args.out}: {exc}") from exc
    return summary.one_line()


def run_publish(args: argparse.Namespace, s3_client: S3Client | None) -> str:
    store = _open_store(args, s3_client)
    result = store.publish(args.bundle, promote=not args.no_promote, progress=not args.no_progress)
    for note in result.notes:
        print(f"note: {note}")
    where = f"{store.location}{result.version}/"
    size = f"{result.files} files, {result.bytes / 1e6:.2f} MB"
    if result.pointer is None:
        return f"published {result.version} ({size}) to {where}; current unchanged (--no-promote)"
    return (
        f"published {result.version} ({size}) to {where}; "
        f"current -> {result.pointer.version} (previous: {result.pointer.previous})"
    )


def run_list(args: argparse.Namespace, s3_client: S3Client | None) -> str:
    store = _open_store(args, s3_client)
    versions = store.versions(verify=not args.no_verify)
    for info in versions:
        print(_describe_version(info))
    current = next((v for v in versions if v.current), None)
    if current is not None and not current.complete:
        print(
            f"warning: the current version {current.version} is {current.status}: serving "
            "refuses it and answers with the version it had (new containers cannot answer); "
            "roll back with 'python -m training rollback' (docs/deploy.md)"
        )
    counts = Counter(v.status for v in versions)
    found = ", ".join(f"{counts[status]} {status}" for status in STATUSES if counts[status])
    shown = "none" if current is None else current.version
    if current is not None and not current.verified:
        shown += f" ({current.status})"
    return f"{len(versions)} versions ({found or 'none'}) in {store.location}; current: {shown}"


def run_promote(args: argparse.Namespace, s3_client: S3Client | None) -> str:
    pointer = _open_store(args, s3_client).promote(args.version)
    return f"current -> {pointer.version} (previous: {pointer.previous})"


def run_rollback(args: argparse.Namespace, s3_client: S3Client | None) -> str:
    store = _open_store(args, s3_client)
    before = store.current()
    pointer = store.rollback()
    was = before.version if before else None
    return f"rolled back: current -> {pointer.version} (was {was}; previous: {pointer.previous})"


# -- helpers -------------------------------------------------------------------------------


def _open_data(location: str, s3_client: S3Client | None) -> DataInput:
    """The reader of ``--data``; a file that cannot be opened at all is invalid data."""
    try:
        return open_data(location, s3_client=s3_client)
    except DataFileError as exc:
        print(unreadable(exc).format())
        raise CommandError(
            f"{location} failed validation (1 errors); nothing was written", EXIT_INVALID
        ) from exc


def _validated(data: DataInput, k_max: int, *, sample: int, seed: int, progress: bool) -> Scan:
    """Read ``data`` once: validate every row (print the report, raise with exit 2 on
    errors), draw the sample of ``sample`` rows, count the population's figures."""
    total = data.reader.total_bytes
    with ReadProgress("read: validate + sample", total, enabled=progress) as bar:
        scanned = scan(data.reader, min_rows=min_rows_for(k_max), sample=sample, seed=seed,
                       progress=bar)  # fmt: skip
    print(scanned.report.format())
    if not scanned.report.ok:
        errors = len(scanned.report.errors)
        raise CommandError(
            f"{data.location} failed validation ({errors} errors); nothing was written",
            EXIT_INVALID,
        )
    return scanned


def _k_range(args: argparse.Namespace) -> tuple[int, int]:
    if args.k_min < 1 or args.k_max < max(2, args.k_min):
        raise CommandError(
            f"--k-min/--k-max must satisfy 1 <= k-min <= k-max and k-max >= 2, "
            f"got {args.k_min}..{args.k_max}",
            EXIT_INVALID,
        )
    if args.k is not None and args.k < 2:
        raise CommandError(f"--k must be at least 2, got {args.k}", EXIT_INVALID)
    if (args.stability_resamples is not None and args.stability_resamples < 1) or (
        args.stability_rows is not None and args.stability_rows < 2
    ):
        raise CommandError(
            f"--stability-resamples must be at least 1 and --stability-rows at least 2, "
            f"got {args.stability_resamples} and {args.stability_rows}",
            EXIT_INVALID,
        )
    if args.threads is not None and args.threads < 1:
        raise CommandError(f"--threads must be at least 1, got {args.threads}", EXIT_INVALID)
    if args.sample_rows < 1:
        message = f"--sample-rows must be at least 1, got {args.sample_rows}"
        raise CommandError(message, EXIT_INVALID)
    return args.k_min, args.k_max


def _published_reference(
    args: argparse.Namespace, s3_client: S3Client | None
) -> PublishedModel | None:
    """The published model to keep segment ids of (and measure migration from).

    ``--reference DIR`` (a local bundle) or the store's current version; None when
    training afresh.
    """
    if args.no_reference:
        return None
    if args.reference is not None:
        try:
            local = load_bundle(args.reference)
            segmenter = (args.reference / local.segmenter.file).read_bytes()
            return _published(local, segmenter)
        except (StoreError, KeyError, TypeError, ValueError, OSError) as exc:
            raise CommandError(f"--reference {args.reference}: {exc}", EXIT_INVALID) from exc
    bucket, prefix = _store_location(args)
    if not bucket:
        print("note: no model store configured; segment ids are numbered afresh")
        return None
    try:
        store = ModelRegistry(bucket, prefix, s3_client=s3_client)
        manifest = store.current_manifest()
        if manifest is None:
            print(f"note: no current version in s3://{bucket}/{prefix}; ids numbered afresh")
            return None
        published = _published(manifest, store.read_file(manifest, manifest.segmenter.file))
    except (StoreError, KeyError, TypeError, ValueError) as exc:
        print(f"note: no reference from the store ({exc}); segment ids are numbered afresh")
        return None
    print(f"note: keeping segment ids of the current version {manifest.version}")
    return published


def _published(manifest: Manifest, segmenter: bytes) -> PublishedModel:
    """The published model, checked to score this training's rows (else ValueError)."""
    from training.migration import check, from_manifest  # onnxruntime: import only to train
    from training.schema import FEATURE_NAMES

    published = from_manifest(manifest, segmenter)
    check(published, FEATURE_NAMES)
    return published


def _describe_version(info: VersionInfo) -> str:
    """One line: current ``*`` / previous ``<``, the version, what was verified, the model."""
    marker = "*" if info.current else ("<" if info.previous else " ")
    if not info.complete:
        return f"{marker} {info.version}  {info.status.upper()}: {info.problem}"
    names = json.dumps(list(info.segments))
    return f"{marker} {info.version}  {info.status}  created {info.created_at}  k={info.k}  {names}"
