"""``--data``: a local path or ``s3://bucket/key``, plain CSV, gzip CSV or Parquet.

:func:`open_data` returns one :class:`~training.chunks.ChunkReader` whatever the input:
the format is told by the file's first bytes (gzip's and Parquet's magic numbers), not by
its name, so ``customers.csv`` that is really gzip still reads. Where the bytes come from
(:class:`LocalFile`, :class:`~training.s3_files.S3Object`) is the only difference between
a local and an S3 input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from training.chunks import ChunkReader
from training.csv_chunks import CsvChunks, is_gzip
from training.data import DataFileError
from training.parquet_chunks import ParquetChunks, is_parquet
from training.s3_files import S3Object

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3_SCHEME = "s3://"
_MAGIC_BYTES = 4


class StoredFile(Protocol):
    """Stored bytes that can be read as often as needed."""

    size: int

    @property
    def name(self) -> str: ...

    def head(self, size: int) -> bytes: ...

    def open(self) -> IO[bytes]: ...

    def open_random(self) -> IO[bytes]: ...


@dataclass(frozen=True)
class DataInput:
    """What was read: where from, its file name (for the manifest), format and reader."""

    location: str
    name: str
    format: str
    reader: ChunkReader


def open_data(location: str, *, s3_client: S3Client | None = None) -> DataInput:
    """The reader for ``location``; :class:`DataFileError` when it cannot be opened."""
    stored: StoredFile
    if location.startswith(S3_SCHEME):
        stored = S3Object(location, s3_client)  # type: ignore[assignment]
    else:
        stored = LocalFile(Path(location))
    head = stored.head(_MAGIC_BYTES)
    reader: ChunkReader
    if is_parquet(head):
        kind = "parquet"
        reader = ParquetChunks(stored.open_random, stored.open, total_bytes=stored.size)
    else:
        kind = "csv.gz" if is_gzip(head) else "csv"
        reader = CsvChunks(stored.open, compressed=is_gzip(head), total_bytes=stored.size)
    return DataInput(location, stored.name, kind, reader)


class LocalFile:
    """A file on this machine; refuses to read it again if it changed meanwhile."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._stat()
        self.size = self._stamp[0]

    @property
    def name(self) -> str:
        return self.path.name

    def _stat(self) -> tuple[int, int]:
        try:
            if self.path.is_dir():
                raise DataFileError(f"{self.path} is a directory, not a CSV file")
            stat = self.path.stat()
        except FileNotFoundError as exc:
            raise DataFileError(f"no such file: {self.path}") from exc
        except PermissionError as exc:
            raise DataFileError(f"cannot read {self.path}: permission denied") from exc
        return stat.st_size, stat.st_mtime_ns

    def head(self, size: int) -> bytes:
        with self.open() as handle:
            return handle.read(size)

    def open(self) -> IO[bytes]:
        if self._stat() != self._stamp:
            raise DataFileError(f"{self.path} changed while training was reading it")
        try:
            return self.path.open("rb")
        except PermissionError as exc:
            raise DataFileError(f"cannot read {self.path}: permission denied") from exc
        except OSError as exc:
            raise DataFileError(f"cannot read {self.path}: {os.strerror(exc.errno or 0)}") from exc

    def open_random(self) -> IO[bytes]:
        return self.open()
