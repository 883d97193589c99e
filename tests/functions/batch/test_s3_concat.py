"""chalicelib.batch.s3_concat under moto, which enforces S3's 5 MiB minimum part size.

Every join is compared byte for byte with the plain concatenation, and the stats say how
much went through our memory (``bytes_read``) against what S3 copied itself.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.functions.conftest import FUNCTIONS_DIR  # noqa: F401  (functions/ on sys.path)

from chalicelib.batch.s3_concat import MIN_PART_BYTES, Source, concatenate  # isort: skip

BUCKET = "concat-test"
MiB = 1024 * 1024


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put_sources(s3: Any, sizes: list[int], seed: int = 1) -> tuple[list[Source], bytes]:
    rng = random.Random(seed)
    sources, whole = [], bytearray()
    for n, size in enumerate(sizes):
        data = rng.randbytes(size)
        key = f"parts/{n:04d}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        sources.append(Source(key, size))
        whole += data
    return sources, bytes(whole)


def joined(s3: Any, key: str = "out/joined.csv") -> bytes:
    data: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return data


def test_a_small_total_is_one_put(s3: Any) -> None:
    sources, whole = put_sources(s3, [10, 0, 300_000, 7])
    stats = concatenate(s3, BUCKET, "out/joined.csv", sources, head=b"a,b\r\n")
    assert joined(s3) == b"a,b\r\n" + whole
    assert (stats.parts, stats.copied_parts) == (1, 0)


def test_small_parts_are_combined_by_content_into_parts_of_at_least_5_mib(s3: Any) -> None:
    sources, whole = put_sources(s3, [700_000] * 20)  # 14 MB of 0.7 MB parts
    stats = concatenate(
        s3, BUCKET, "out/joined.csv", sources, head=b"h\r\n", part_bytes=MIN_PART_BYTES
    )
    assert joined(s3) == b"h\r\n" + whole
    assert stats.copied_parts == 0
    assert stats.parts == 3  # 5 MiB + 5 MiB + the rest
    assert stats.bytes == len(whole) + 3


def test_large_parts_are_copied_by_s3_and_never_read(s3: Any) -> None:
    sizes = [6 * MiB, 12 * MiB, 5 * MiB, 100]
    sources, whole = put_sources(s3, sizes)
    stats = concatenate(s3, BUCKET, "out/joined.csv", sources)
    assert joined(s3) == whole
    assert stats.copied_parts == 3
    assert stats.bytes_read == 100  # only the small tail went through memory


def test_a_buffer_before_a_large_part_is_topped_up_from_its_head(s3: Any) -> None:
    # 1 MiB buffered, then 9 MiB: 4 MiB of it are read to make a 5 MiB part, 5 MiB copied.
    sources, whole = put_sources(s3, [1 * MiB, 9 * MiB, 2 * MiB, 8 * MiB + 3, 11])
    stats = concatenate(s3, BUCKET, "out/joined.csv", sources)
    assert joined(s3) == whole
    assert stats.copied_parts == 2
    assert stats.bytes_read == 1 * MiB + 4 * MiB + 2 * MiB + 3 * MiB + 11


def test_a_large_part_whose_rest_would_be_too_small_is_read_whole(s3: Any) -> None:
    # 3 MiB buffered, then 6 MiB: copying the last 4 MiB alone would break the minimum.
    sources, whole = put_sources(s3, [3 * MiB, 6 * MiB, 1 * MiB])
    stats = concatenate(s3, BUCKET, "out/joined.csv", sources, part_bytes=MIN_PART_BYTES)
    assert joined(s3) == whole
    assert stats.copied_parts == 0
    assert stats.bytes_read == len(whole)


def test_a_failed_join_leaves_no_object_and_no_open_upload(s3: Any) -> None:
    sources, _ = put_sources(s3, [6 * MiB])
    sources.append(Source("parts/gone", 10))
    with pytest.raises(ClientError):
        concatenate(s3, BUCKET, "out/joined.csv", sources)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_moto_enforces_the_minimum_part_size_these_tests_rely_on(s3: Any) -> None:
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="out/x")["UploadId"]
    parts = []
    for number in (1, 2):
        answer = s3.upload_part(
            Bucket=BUCKET, Key="out/x", UploadId=upload, PartNumber=number, Body=b"x" * 100
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    with pytest.raises(ClientError, match="EntityTooSmall"):
        s3.complete_multipart_upload(
            Bucket=BUCKET, Key="out/x", UploadId=upload, MultipartUpload={"Parts": parts}
        )
