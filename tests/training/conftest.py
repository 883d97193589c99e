"""Fixtures for training's own tests: a moto S3 bucket and small hand-made bundles.

The hand-made bundle is legitimate test data for the store: a manifest with the keys the
contract requires and a few files whose sha256 is correct. Tests that need a real model
use the session fixture ``trained_bundle`` instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from chalicelib.contract.bundle import MANIFEST_NAME
from moto import mock_aws

from tests.manifests import a_file, a_manifest
from training.registry import ModelRegistry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "cc-models-test"
REAL_DATA = Path(__file__).resolve().parents[2] / "data" / "CC_GENERAL.csv"

BundleFactory = Callable[..., Path]


@pytest.fixture
def s3() -> Iterator[S3Client]:
    """A moto S3 client with an empty bucket named ``BUCKET``."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def store(s3: S3Client) -> ModelRegistry:
    return ModelRegistry(BUCKET, "models/", s3_client=s3)


@pytest.fixture
def make_bundle(tmp_path: Path) -> BundleFactory:
    """Write a small valid bundle for ``version`` and return its directory."""

    def build(version: str, *, k: int = 2, payload: bytes = b"onnx-bytes") -> Path:
        out = tmp_path / version
        out.mkdir()
        contents = {
            "segmenter.onnx": payload + version.encode(),
            "limit_global.onnx": b"limit-" + payload,
            "profiles.json": json.dumps([{"id": i} for i in range(k)]).encode(),
        }
        for name, body in contents.items():
            (out / name).write_bytes(body)
        files = {name: a_file(body) for name, body in contents.items()}
        manifest = a_manifest(version, k, files=files)
        (out / MANIFEST_NAME).write_bytes(manifest.dumps())
        return out

    return build
