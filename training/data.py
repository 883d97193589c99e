"""Reading the analyst's CSV as written, so validation sees every bad cell as it is.

The file is read by the row contract's CSV reader (``chalicelib.contract.row.read_csv``),
the same code that reads a CSV sent to the API or dropped in the batch bucket: UTF-8 with
or without a byte-order mark, any line ending, quoted cells. Nothing is converted here:
every cell stays text, so validation can parse it with the contract's cell syntax and
quote the offending cells. Each row keeps its file row number (the header is row 1),
which is what a spreadsheet shows, so every message points at a findable place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from chalicelib.contract.row import CsvError, read_csv

_CHUNK_BYTES = 1 << 20


class DataFileError(Exception):
    """The file cannot be read as a CSV table at all (missing, binary, empty)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class RawTable:
    """The file's data rows as text cells, each with its file row number.

    ``rows`` and ``lines`` hold the non-blank rows; blank ones are only counted
    (``blank_lines``). A row may have another number of cells than the header (ragged):
    validation reports it.
    """

    header: tuple[str, ...]
    rows: list[list[str]]
    lines: np.ndarray
    blank_lines: tuple[int, ...]


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file's bytes: the data set's identity recorded in the manifest."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_table(path: Path) -> RawTable:
    """Read ``path`` with the row contract's CSV reader; see the module docstring."""
    rows: list[list[str]] = []
    lines: list[int] = []
    blank: list[int] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header, records = read_csv(handle)
            for record in records:
                if record.blank:
                    blank.append(record.number)
                else:
                    rows.append(record.cells)
                    lines.append(record.number)
    except FileNotFoundError as exc:
        raise DataFileError(f"no such file: {path}") from exc
    except IsADirectoryError as exc:
        raise DataFileError(f"{path} is a directory, not a CSV file") from exc
    except PermissionError as exc:
        raise DataFileError(f"cannot read {path}: permission denied") from exc
    except CsvError as exc:
        raise DataFileError(exc.message) from exc
    return RawTable(header, rows, np.asarray(lines, dtype=np.int64), tuple(blank))
