"""The analyst's data as validation receives it: rows of text cells, and the file's identity.

A file is read by one of the chunk readers (``training.chunks``); :class:`RawTable` is the
in-memory form (rows already split into text cells, each with its file row number) that
:func:`training.validation.validate` also accepts. Row numbers are file row numbers (the
header is row 1), the row number a spreadsheet shows, so every message points at a
findable place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

_CHUNK_BYTES = 1 << 20


class DataFileError(Exception):
    """The input cannot be read as a table at all (missing, unreadable, not CSV/Parquet).

    ``message`` is the sentence validation reports, as a ``(file)`` error.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class RawTable:
    """Data rows as text cells, each with its file row number.

    ``rows`` and ``lines`` hold the non-blank rows; blank ones are only counted
    (``blank_lines``). A row may have another number of cells than the header (ragged):
    validation reports it.
    """

    header: tuple[str, ...]
    rows: list[list[str]]
    lines: np.ndarray
    blank_lines: tuple[int, ...]


def stream_sha256(stream: IO[bytes]) -> str:
    """Hex sha256 of a binary stream's bytes, read a megabyte at a time: the data set's
    identity recorded in the manifest, whatever reader holds it."""
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK_BYTES):
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a local file's bytes (:func:`stream_sha256`)."""
    with path.open("rb") as handle:
        return stream_sha256(handle)
