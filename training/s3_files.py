"""An S3 object read as a file: sequentially (CSV) or at random positions (Parquet).

The client is plain boto3, configured as the model store's (``boto3.client("s3")``: the
standard AWS variables, ``AWS_ENDPOINT_URL`` for a moto server). Every read asks for the
version first seen (``IfMatch`` on its ETag), so the two passes of a training run read
the same bytes or fail; botocore's errors become one sentence (:class:`DataFileError`)
here, at the boundary.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from training.data import DataFileError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "Forbidden"}
_CHANGED = {"PreconditionFailed", "412"}


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as ``(bucket, key)``; DataFileError when either is empty."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise DataFileError(f"not an S3 object address: {uri!r} (expected s3://bucket/key)")
    return bucket, key


class S3Object:
    """One S3 object: its size and ETag (asked once), and fresh streams over its bytes."""

    def __init__(self, uri: str, s3_client: S3Client | None = None) -> None:
        self.uri = uri
        self.bucket, self.key = split_uri(uri)
        self._s3: S3Client = s3_client or boto3.client("s3")
        head = self._call(self._s3.head_object, Bucket=self.bucket, Key=self.key)
        self.size: int = int(head["ContentLength"])
        self.etag: str = str(head["ETag"])

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def head(self, size: int) -> bytes:
        """The first ``size`` bytes (fewer for a smaller object)."""
        if self.size == 0:
            return b""
        return self._range(0, min(size, self.size))

    def open(self) -> io.RawIOBase:
        """The whole object, read front to back."""
        body = self._call(self._s3.get_object, Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
        return _Body(self, body["Body"])

    def open_random(self) -> io.BufferedReader:
        """The object as a seekable file: each read is a ranged GET."""
        return io.BufferedReader(_Ranges(self), buffer_size=1 << 20)

    def _range(self, start: int, end: int) -> bytes:
        """Bytes ``start`` (inclusive) to ``end`` (exclusive)."""
        body = self._call(
            self._s3.get_object,
            Bucket=self.bucket,
            Key=self.key,
            IfMatch=self.etag,
            Range=f"bytes={start}-{end - 1}",
        )["Body"]
        return self.guard(body.read)

    def _call(self, method: Any, **kwargs: Any) -> Any:
        return self.guard(method, **kwargs)

    def guard(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``method``, turning botocore's errors into a DataFileError sentence."""
        try:
            return method(*args, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise DataFileError(f"no such S3 object: {self.uri}") from exc
            if code in _DENIED:
                raise DataFileError(f"cannot read {self.uri}: access denied") from exc
            if code in _CHANGED:
                raise DataFileError(f"{self.uri} changed while training was reading it") from exc
            raise DataFileError(f"cannot read {self.uri}: {exc}") from exc
        except BotoCoreError as exc:
            raise DataFileError(f"cannot read {self.uri}: {exc}") from exc


class _Body(io.RawIOBase):
    """A GET's streaming body, with botocore's errors translated."""

    def __init__(self, owner: S3Object, body: Any) -> None:
        self._owner, self._body = owner, body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._owner.guard(self._body.read, len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


class _Ranges(io.RawIOBase):
    """A seekable view of the object: each read is one ranged GET."""

    def __init__(self, owner: S3Object) -> None:
        self._owner = owner
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._owner.size}
        self._position = max(0, base[whence] + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        end = min(self._position + len(buffer), self._owner.size)
        if end <= self._position:
            return 0
        data = self._owner._range(self._position, end)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)
