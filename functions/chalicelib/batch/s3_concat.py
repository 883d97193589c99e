"""Join S3 objects into one object, in order, without one function holding the whole result.

S3 multipart uploads take each part either as bytes (``UploadPart``) or as a server-side
copy of another object or a byte range of it (``UploadPartCopy``), but every part except
the last must be at least 5 MiB. So:

- sources of at least 5 MiB are **copied** by S3 itself: their bytes never reach us;
- smaller sources are **read and buffered**; the buffer becomes a part once it holds
  ``part_bytes`` (at least 5 MiB);
- when a large source arrives while the buffer holds fewer than 5 MiB, the buffer is topped
  up with the first bytes of that source (a ranged GET) and the rest of the source is copied
  by range, as long as that rest is itself at least 5 MiB (else the whole source is read);
- a result under 5 MiB in total is one plain ``PutObject``.

Small sources are fetched ``READ_AHEAD`` at a time, in order. Memory stays below
``part_bytes`` + ``READ_AHEAD`` x 5 MiB whatever the sizes. A failed join aborts its
multipart upload, so no half-joined object ever appears under the target key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum for every part but the last
MAX_COPY_BYTES = 5 * 1024**3  # S3's maximum for one part (copied ranges included)
MAX_PARTS = 10_000  # S3's maximum number of parts in one upload
DEFAULT_PART_BYTES = 8 * 1024 * 1024
READ_AHEAD = 8  # small sources fetched at once (botocore clients are thread-safe)


@dataclass(frozen=True)
class Source:
    """One object to append: its key and its size in bytes (from a listing)."""

    key: str
    size: int


@dataclass
class JoinStats:
    """How the join was made: for tests and logs."""

    bytes: int = 0
    parts: int = 0
    copied_parts: int = 0
    bytes_read: int = 0


def concatenate(
    s3: Any,
    bucket: str,
    target: str,
    sources: Sequence[Source],
    head: bytes = b"",
    content_type: str = "text/csv",
    part_bytes: int = DEFAULT_PART_BYTES,
) -> JoinStats:
    """Write ``head`` followed by every source, in order, to ``s3://bucket/target``."""
    if part_bytes < MIN_PART_BYTES:
        raise ValueError(f"part_bytes must be at least {MIN_PART_BYTES}, got {part_bytes}")
    total = len(head) + sum(source.size for source in sources)
    if total < MIN_PART_BYTES:
        return _put_whole(s3, bucket, target, sources, head, content_type)
    upload = s3.create_multipart_upload(Bucket=bucket, Key=target, ContentType=content_type)
    writer = _PartWriter(s3, bucket, target, upload["UploadId"])
    try:
        _join(writer, sources, head, part_bytes)
        writer.complete()
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=target, UploadId=writer.upload_id)
        raise
    writer.stats.bytes = total
    return writer.stats


def _put_whole(
    s3: Any, bucket: str, target: str, sources: Sequence[Source], head: bytes, content_type: str
) -> JoinStats:
    body = bytearray(head)
    for source in sources:
        if source.size:
            body += _read(s3, bucket, source.key)
    s3.put_object(Bucket=bucket, Key=target, Body=bytes(body), ContentType=content_type)
    return JoinStats(bytes=len(body), parts=1, bytes_read=len(body) - len(head))


def _join(writer: _PartWriter, sources: Sequence[Source], head: bytes, part_bytes: int) -> None:
    buffer = bytearray(head)
    for source, prefetched in _read_ahead(writer, sources):
        if source.size == 0:
            continue
        need = max(0, MIN_PART_BYTES - len(buffer)) if buffer else 0
        if prefetched is not None:  # a small source: its bytes are already here
            buffer += prefetched
            writer.stats.bytes_read += len(prefetched)
        elif source.size - need < MIN_PART_BYTES:  # too small to copy after topping up
            buffer += writer.read(source.key)
        else:
            if need:  # top the buffer up to the minimum part size from this source's head
                buffer += writer.read(source.key, 0, need - 1)
            if buffer:
                writer.upload(bytes(buffer))
                buffer.clear()
            writer.copy(source, need)
        if len(buffer) >= part_bytes:
            writer.upload(bytes(buffer))
            buffer.clear()
    if buffer:
        writer.upload(bytes(buffer))  # the last part may be small


def _read_ahead(
    writer: _PartWriter, sources: Sequence[Source]
) -> Iterator[tuple[Source, bytes | None]]:
    """The sources in order, each small one with its bytes, read ``READ_AHEAD`` at a time:
    thousands of small parts cost thousands of GET round trips, so they overlap."""
    small = [0 < source.size < MIN_PART_BYTES for source in sources]
    with ThreadPoolExecutor(max_workers=READ_AHEAD) as pool:
        window: deque[Future[bytes] | None] = deque()
        ahead = 0
        for index, source in enumerate(sources):
            while ahead < len(sources) and ahead < index + READ_AHEAD:
                key = sources[ahead].key
                window.append(
                    pool.submit(_read, writer.s3, writer.bucket, key) if small[ahead] else None
                )
                ahead += 1
            future = window.popleft()
            yield source, None if future is None else future.result()


class _PartWriter:
    """The parts of one multipart upload, numbered in the order they are added."""

    def __init__(self, s3: Any, bucket: str, target: str, upload_id: str) -> None:
        self.s3, self.bucket, self.target, self.upload_id = s3, bucket, target, upload_id
        self.parts: list[dict[str, Any]] = []
        self.stats = JoinStats()

    def _next(self) -> int:
        number = len(self.parts) + 1
        if number > MAX_PARTS:
            raise ValueError(f"{self.target}: more than {MAX_PARTS} parts; use larger parts")
        return number

    def read(self, key: str, first: int | None = None, last: int | None = None) -> bytes:
        data = _read(self.s3, self.bucket, key, first, last)
        self.stats.bytes_read += len(data)
        return data

    def upload(self, data: bytes) -> None:
        number = self._next()
        answer = self.s3.upload_part(
            Bucket=self.bucket, Key=self.target, UploadId=self.upload_id,
            PartNumber=number, Body=data,
        )  # fmt: skip
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        self.stats.parts += 1

    def copy(self, source: Source, start: int) -> None:
        """``source`` from byte ``start`` to its end, in parts of at most 5 GiB."""
        while start < source.size:
            end = min(source.size, start + MAX_COPY_BYTES) - 1
            number = self._next()
            answer = self.s3.upload_part_copy(
                Bucket=self.bucket, Key=self.target, UploadId=self.upload_id,
                PartNumber=number, CopySource={"Bucket": self.bucket, "Key": source.key},
                CopySourceRange=f"bytes={start}-{end}",
            )  # fmt: skip
            self.parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            self.stats.parts += 1
            self.stats.copied_parts += 1
            start = end + 1

    def complete(self) -> None:
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.target, UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )  # fmt: skip


def _read(
    s3: Any, bucket: str, key: str, first: int | None = None, last: int | None = None
) -> bytes:
    extra = {} if first is None else {"Range": f"bytes={first}-{last}"}
    data: bytes = s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    return data
