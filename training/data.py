"""Reading the analyst's CSV exactly as written, so validation sees every cell as text.

Nothing is coerced here: every cell stays a string (``""`` when empty) so that text in a
numeric column is reported by validation instead of silently becoming NaN. Each row keeps
its file line number (the header is line 1), which is what a spreadsheet or an editor
shows, so every error message can point at a place the analyst can find.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

_CHUNK_BYTES = 1 << 20


class DataFileError(Exception):
    """The file cannot be read as a CSV table at all (missing, binary, empty, ragged)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class RawTable:
    """The file's cells as text, with the file line number of every data row."""

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
    """Read ``path`` as UTF-8 CSV text (BOM and CRLF tolerated), every cell a string.

    Blank lines are dropped from the table but reported back (``blank_lines``) so the
    caller can say so; nothing else is skipped or coerced.
    """
    header = _read_header(path)
    try:
        cells = pd.read_csv(
            path,
            header=None,
            dtype=str,
            encoding="utf-8-sig",
            keep_default_na=False,
            na_values=[],
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
    frame = cells.iloc[1:].reset_index(drop=True)
    frame.columns = pd.Index([str(name).strip() for name in header])
    lines = np.arange(2, len(frame) + 2)
    blank = (frame == "").all(axis=1).to_numpy() if len(frame.columns) else np.zeros(0, bool)
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
