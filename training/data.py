"""Reading the analyst's CSV as written, so validation sees every bad cell as it is.

Nothing is coerced: a column whose cells are all numbers (or an empty / ``NA`` cell,
read as NaN) comes back numeric, straight from pandas' C parser; a column with any other
text comes back as text, so validation can quote the offending cells instead of silently
turning them into NaN. Each row keeps its file line number (the header is line 1), which
is what a spreadsheet or an editor shows, so every message points at a findable place.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.schema import ID_COLUMN

_CHUNK_BYTES = 1 << 20
MISSING_TOKENS = ("", "NA", "na", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "none")
"""Cells that mean "no value" (the optional columns impute them; elsewhere an error)."""


class DataFileError(Exception):
    """The file cannot be read as a CSV table at all (missing, binary, empty, ragged)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class RawTable:
    """The file's columns (numeric when clean, else text), with each row's file line."""

    frame: pd.DataFrame
    lines: np.ndarray
    header: tuple[str, ...]
    blank_lines: tuple[int, ...]


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file's bytes: the data set's identity recorded in the manifest."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_table(path: Path) -> RawTable:
    """Read ``path`` as UTF-8 CSV (BOM and CRLF tolerated); see the module docstring.

    Empty rows (blank lines, or no value in any cell) are dropped from the table but
    reported back (``blank_lines``) so the caller can say so; nothing else is skipped.
    """
    header = _read_header(path)
    try:
        frame = pd.read_csv(
            path,
            header=0,
            names=range(len(header)),  # positional: the header may repeat a name
            dtype={i: str for i, name in enumerate(header) if name == ID_COLUMN},
            index_col=False,  # a row with an extra field is an error, not an index
            encoding="utf-8-sig",
            keep_default_na=False,
            na_values=list(MISSING_TOKENS),
            skip_blank_lines=False,
            skipinitialspace=True,
        )
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"not UTF-8 text (byte {exc.start}): is this really a CSV file?"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataFileError("the file is empty") from exc
    except pd.errors.ParserError as exc:
        raise _ragged(str(exc)) from exc
    frame.columns = pd.Index([str(name).strip() for name in header])
    lines = np.arange(2, len(frame) + 2)
    blank = frame.isna().all(axis=1).to_numpy()
    blank_lines = tuple(int(n) for n in lines[blank])
    frame = frame.loc[~blank].reset_index(drop=True)
    return RawTable(frame=frame, lines=lines[~blank], header=header, blank_lines=blank_lines)


def _read_header(path: Path) -> tuple[str, ...]:
    """The header as written (pandas would rename duplicate names, hiding them)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = next(csv.reader(handle), None)
    except FileNotFoundError as exc:
        raise DataFileError(f"no such file: {path}") from exc
    except IsADirectoryError as exc:
        raise DataFileError(f"{path} is a directory, not a CSV file") from exc
    except PermissionError as exc:
        raise DataFileError(f"cannot read {path}: permission denied") from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"not UTF-8 text (byte {exc.start}): is this really a CSV file?"
        ) from exc
    except csv.Error as exc:
        raise DataFileError(f"not a well-formed CSV table: {exc}", line=1) from exc
    if first is None or not any(cell.strip() for cell in first):
        raise DataFileError("the file is empty (no header line)", line=1)
    if any("\x00" in cell for cell in first):
        raise DataFileError("binary content (NUL bytes) in the header: not a CSV file", line=1)
    return tuple(cell.strip() for cell in first)


def _ragged(parser_message: str) -> DataFileError:
    """Say which line has more fields than the header (pandas counts lines from 1)."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", parser_message)
    if not found:
        return DataFileError(f"not a well-formed CSV table: {parser_message.strip()}")
    expected, line, saw = (int(g) for g in found.groups())
    return DataFileError(
        f"not a well-formed CSV table: line {line} has {saw} fields, the header has {expected}",
        line=line,
    )
