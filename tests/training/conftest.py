"""Fixtures for training's own tests: a moto S3 bucket and small hand-made bundles.

The hand-made bundle is legitimate test data for the store: a manifest with the keys the
contract requires and a few files whose sha256 is correct. Tests that need a real model
use the session fixture ``trained_bundle`` instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from chalicelib.contract.bundle import (
    MANIFEST_NAME,
    DataSource,
    Elbow,
    Feature,
    FileEntry,
    LimitModel,
    Manifest,
    Parity,
    Segment,
    Segmenter,
    SegmentLimit,
    SegmentMap,
    TrainingRun,
)
from moto import mock_aws

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
        files: dict[str, FileEntry] = {}
        for name, body in contents.items():
            (out / name).write_bytes(body)
            files[name] = FileEntry(hashlib.sha256(body).hexdigest(), len(body))
        manifest = _manifest(version, k, files)
        (out / MANIFEST_NAME).write_bytes(manifest.dumps())
        return out

    return build


def _manifest(version: str, k: int, files: dict[str, FileEntry]) -> Manifest:
    """The smallest manifest the bundle contract accepts: one feature, ``k`` segments."""
    feature = Feature(
        "BALANCE", "Balance", "", "amount", False, 0.0, None, 0.0, 1.0, False, 0.5, True
    )
    return Manifest(
        version=version,
        created_at="2026-11-27T12:00:00Z",
        k=k,
        features=(feature,),
        id_field="CUST_ID",
        files=files,
        segmenter=Segmenter("segmenter.onnx", "features", ("label", "distances", "scaled")),
        limit_model=LimitModel("BALANCE", (), (0.25, 0.5, 0.75), "limit_global.onnx"),
        segments=tuple(
            Segment(
                id=i,
                name=f"Segment {i}",
                description="",
                action="",
                rules=(),
                medians={"BALANCE": 1.0},
                centroid_raw={"BALANCE": 100.0 * i},
                centroid=(float(i),),
                distance_percentiles=(0.0, 1.0),
                limit_model=SegmentLimit("limit_global.onnx", "global"),
            )
            for i in range(k)
        ),
        map=SegmentMap(components=((1.0,), (0.0,)), mean=(0.0,)),
        elbow=Elbow(k_values=(k,), wcss=(1.0,), knee=k, k=k, k_source="knee"),
        surrogate={},
        limit_errors={},
        parity=Parity(passed=True, rows=1, label_agreement=1.0),
        data=DataSource(None, "0" * 64, 1),
        libraries={},
        training=TrainingRun(seed=42, algorithm="KMeans", seconds=1.0, step_seconds={}),
    )
