"""The customer-row contract: one definition of what a row is, for every way it comes in.

A customer row reaches the product as a line of the training CSV, a JSON object
(``POST /v1/segment``), a CSV body (``POST /v1/segment/batch``, what the Streamlit batch page
sends) or a line of a CSV file in the batch bucket. All of them read it with this module:

- **columns**: :data:`COLUMNS` in model order, :data:`ID_FIELD`, :data:`OPTIONAL_COLUMNS`;
  the hard bounds of each in :data:`COLUMN_RULES`, untrained :class:`.feature.Feature`
  values (training completes them into the bundle's manifest, which is how serving learns
  them);
- **a CSV cell** (:func:`parse_cell`): surrounding spaces and tabs are ignored; a
  :data:`MISSING_TOKENS` spelling (any letter case) is a missing value; a number is ASCII
  digits with an optional sign, decimal point and exponent (``1e3``, ``.5``, ``+5``,
  ``-0``); anything else (``1,000``, ``1_000``, ``0x10``, ``inf``, non-ASCII digits) is
  not a number and is kept as text, so that it comes back as a field error quoting it;
- **the value rules** (:func:`check_value`), with one wording for every path, including
  the :data:`ABSOLUTE_MAX` ceiling;
- **the header** (:func:`check_header`): names are compared exactly after stripping
  spaces; a name given twice (in any letter case) is an error;
- **a CSV file** (:func:`read_csv`; :func:`read_rows` without an object per row): UTF-8
  (a byte-order mark is dropped), any line ending;
  rows are numbered as a spreadsheet numbers them (the header is row 1, the first customer
  row 2, blank lines count but are skipped);
- **output** (:data:`RESULT_COLUMNS`, :data:`ERROR_COLUMNS`, :func:`write_csv`): every text
  cell that a spreadsheet would run as a formula is neutralised (:func:`spreadsheet_safe`).

Standard library only, and nothing runs at import beyond defining constants.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from .feature import Feature

ID_FIELD = "CUST_ID"
"""The optional customer-id column: echoed back, never a model input."""

MAX_ID_LENGTH = 128

ABSOLUTE_MAX = 1e12
"""No value may exceed this magnitude: keeps float32 arithmetic in the graphs finite while
staying far above any real card amount or count. Training applies it too."""

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})
"""Cell spellings of "no value", compared after stripping and lower-casing."""

FILE_FIELD = "(file)"
"""The ``field`` of a problem with the file as a whole."""
ROW_FIELD = "(row)"
"""The ``field`` of a problem with a row as a whole (e.g. a ragged row)."""
BODY_FIELD = "(body)"
"""The ``field`` of a problem with a JSON body as a whole."""

_SPACES = " \t"
_NUMBER_CHARS = frozenset("0123456789+-.eE")
_SHOWN_CHARS = 40


def _amount(name: str, *, optional: bool = False) -> Feature:
    return Feature(name, optional=optional)


def _score(name: str, valid_max: float | None = 1.0) -> Feature:
    return Feature(name, valid_max=valid_max)


def _count(name: str) -> Feature:
    return Feature(name, integer=True)


COLUMN_RULES: tuple[Feature, ...] = (
    _amount("BALANCE"),
    _score("BALANCE_FREQUENCY"),
    _amount("PURCHASES"),
    _amount("ONEOFF_PURCHASES"),
    _amount("INSTALLMENTS_PURCHASES"),
    _amount("CASH_ADVANCE"),
    _score("PURCHASES_FREQUENCY"),
    _score("ONEOFF_PURCHASES_FREQUENCY"),
    _score("PURCHASES_INSTALLMENTS_FREQUENCY"),
    # Described as a 0-1 score, but 8 real rows exceed 1 (up to 1.5): no upper bound.
    _score("CASH_ADVANCE_FREQUENCY", valid_max=None),
    _count("CASH_ADVANCE_TRX"),
    _count("PURCHASES_TRX"),
    _amount("CREDIT_LIMIT", optional=True),
    _amount("PAYMENTS"),
    _amount("MINIMUM_PAYMENTS", optional=True),
    _score("PRC_FULL_PAYMENT"),
    Feature("TENURE", integer=True, valid_min=1.0),
)
"""The 17 model inputs in model (graph column) order, with their hard bounds: untrained
features (name and rule; training adds the words and what it learns)."""

COLUMNS: tuple[str, ...] = tuple(rule.name for rule in COLUMN_RULES)
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(rule.name for rule in COLUMN_RULES if rule.optional)


# --- messages ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a value is refused: a fixed ``phrase`` (reports group by it) and what was given."""

    phrase: str
    shown: str = ""

    @property
    def message(self) -> str:
        """The sentence every path answers, e.g. ``must be a number, got '1_000'``."""
        return f"{self.phrase}, got {self.shown}" if self.shown else self.phrase


REQUIRED = "is required"
NOT_A_NUMBER = "must be a number"
NOT_FINITE = "must be a finite number"
OUT_OF_RANGE = f"is out of range: magnitude above {ABSOLUTE_MAX:g}"
NEGATIVE = "must not be negative"
WHOLE_NUMBER = "must be a whole number"


def format_number(value: float) -> str:
    """A number as a client wrote it: ``5`` not ``5.0``, ``19043.14`` in full."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)


def describe(value: Any) -> str:
    """A given value quoted for a message (long ones cut), e.g. ``'abc'`` or ``True``."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


# --- one cell, one value ----------------------------------------------------------------


def parse_cell(text: str) -> float | str | None:
    """A CSV cell as a value: a float, ``None`` when missing, else the stripped text.

    The text is returned (not raised) so that :func:`check_value` words the error the
    same way as for a JSON string, and every other problem of the row is found too.
    """
    stripped = text.strip(_SPACES)
    if not _NUMBER_CHARS.issuperset(stripped):
        return None if stripped.lower() in MISSING_TOKENS else stripped
    if not stripped:
        return None
    try:
        return float(stripped)
    except ValueError:  # e.g. "1-2", "e5", "."
        return stripped


def check_value(rule: Feature, value: Any) -> tuple[float | None, Problem | None]:
    """``(number, None)`` for a valid value (``None`` = missing optional), else the problem.

    ``value`` is what a JSON client sent or what :func:`parse_cell` made of a cell: a
    number, ``None``, or anything else (text, a bool...), which is not a number.
    """
    if value is None:
        return None, None if rule.optional else Problem(REQUIRED)
    if value.__class__ is not float and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        return None, Problem(NOT_A_NUMBER, describe(value))
    if value != value:  # NaN: only a Python caller can send it (JSON and CSV cannot)
        return None, Problem(NOT_FINITE, "nan")
    if abs(value) > ABSOLUTE_MAX:  # before float(): 10**400 would overflow; inf lands here
        return None, Problem(OUT_OF_RANGE)
    number = float(value) + 0.0  # + 0.0: -0 is 0 (one cache key, one answer)
    if rule.valid_min is not None and number < rule.valid_min:
        if rule.valid_min == 0:
            return None, Problem(NEGATIVE, format_number(number))
        return None, Problem(f"must be at least {format_number(rule.valid_min)}",
                             format_number(number))  # fmt: skip
    if rule.valid_max is not None and number > rule.valid_max:
        return None, Problem(f"must be at most {format_number(rule.valid_max)}",
                             format_number(number))  # fmt: skip
    if rule.integer and not number.is_integer():
        return None, Problem(WHOLE_NUMBER, format_number(number))
    return number, None


def check_id(value: Any) -> tuple[str | None, Problem | None]:
    """A customer id: text of at most :data:`MAX_ID_LENGTH` characters, or absent."""
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, Problem("must be a string", describe(value))
    if len(value) > MAX_ID_LENGTH:
        return None, Problem(f"must be at most {MAX_ID_LENGTH} characters")
    return value, None


def id_of_cell(text: str) -> str | None:
    """A CSV id cell: stripped text, ``None`` when it spells a missing value."""
    stripped = text.strip(_SPACES)
    return None if stripped.lower() in MISSING_TOKENS else stripped


# --- the header -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """A field and its message: the one shape of "what is wrong, and where" on every path.

    ``field`` is a column name, or :data:`FILE_FIELD`, :data:`ROW_FIELD`, :data:`BODY_FIELD`
    (or a request parameter); ``message`` is the sentence a client reads, e.g.
    ``FieldProblem("BALANCE", "must be a number, got 'abc'")``. API errors, batch error
    reports, file summaries and training's validation report all carry this type.
    """

    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        """``{"field": ..., "message": ...}``: how every JSON answer and report shows it."""
        return {"field": self.field, "message": self.message}

    def __str__(self) -> str:
        """``field: message``, as a one-line warning shows it."""
        return f"{self.field}: {self.message}"


REQUIRED_COLUMN_MISSING = "required column is missing"
UNKNOWN_COLUMN = "unknown column, ignored"
OPTIONAL_COLUMN_ABSENT = "optional column is absent; every row is imputed"


@dataclass(frozen=True)
class HeaderCheck:
    """What a header says against the rules: where each known column is, and what is wrong.

    ``errors`` stop the file; ``warnings`` (unknown columns) and ``notes`` (absent optional
    columns) do not.
    """

    width: int
    positions: Mapping[str, int]
    errors: tuple[FieldProblem, ...] = ()
    warnings: tuple[FieldProblem, ...] = ()
    notes: tuple[FieldProblem, ...] = ()
    target_position: int | None = None  # the PATH_TARGET_FIELD column, when asked for and given

    @property
    def ok(self) -> bool:
        return not self.errors


def clean_name(name: str) -> str:
    """A header name as compared: surrounding spaces and tabs dropped, case kept."""
    return name.strip(_SPACES)


def check_header(
    header: Sequence[str],
    rules: Sequence[Feature],
    id_field: str = ID_FIELD,
    path_target: bool = False,
) -> HeaderCheck:
    """Check a CSV header against ``rules`` (the model's columns) and the id column.

    Names match exactly (after :func:`clean_name`). A name given twice, even in another
    letter case, is an error (which one is meant?); so is a name that is a known column in
    another letter case (its values would be silently ignored). With ``path_target`` (the
    batch paths), :data:`PATH_TARGET_FIELD` is a known column too, kept apart from the
    model's (``target_position``: it is not a customer value).
    """
    names = [clean_name(n) for n in header]
    known = [r.name for r in rules] + [id_field] + ([PATH_TARGET_FIELD] if path_target else [])
    by_fold = {k.casefold(): k for k in known}
    errors: list[FieldProblem] = []
    warnings: list[FieldProblem] = []
    spellings: dict[str, list[str]] = {}
    for name in names:
        spellings.setdefault(name.casefold(), []).append(name)
    for written in spellings.values():
        if len(written) > 1:
            cases = "" if len(set(written)) == 1 else f" (as {', '.join(map(repr, written))})"
            message = f"column appears {len(written)} times in the header{cases}"
            errors.append(FieldProblem(written[0], message))
    for name in dict.fromkeys(names):
        match = by_fold.get(name.casefold())
        if match is None:
            warnings.append(FieldProblem(name or "(unnamed)", UNKNOWN_COLUMN))
        elif match != name and len(spellings[name.casefold()]) == 1:
            errors.append(FieldProblem(name, f"unknown column; did you mean {match!r}?"))
    present = set(names)
    notes: list[FieldProblem] = []
    for rule in rules:
        if rule.name not in present and not rule.optional:
            errors.append(FieldProblem(rule.name, REQUIRED_COLUMN_MISSING))
        elif rule.name not in present:
            notes.append(FieldProblem(rule.name, OPTIONAL_COLUMN_ABSENT))
    positions = {n: i for i, n in reversed(list(enumerate(names))) if n in known}
    target_position = positions.pop(PATH_TARGET_FIELD, None)
    return HeaderCheck(
        len(names), positions, tuple(errors), tuple(warnings), tuple(notes), target_position
    )


# --- a CSV file ---------------------------------------------------------------------------

FIRST_DATA_ROW = 2
"""Rows are numbered as a spreadsheet shows them: the header is row 1."""

EMPTY_FILE = "the file is empty: no header line"
BLANK_HEADER = "the first line is blank: the header must be on line 1"
NO_ROWS = "has a header but no data rows"
NOT_UTF8 = "is not UTF-8 text"
NUL_BYTE = "contains a NUL byte: not a CSV text file"


class CsvError(Exception):
    """The file cannot be read as a CSV table (file-level; ``message`` says why)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One record of the file: its spreadsheet row number and its cells as written."""

    number: int
    cells: list[str]

    @property
    def blank(self) -> bool:
        return is_blank(self.cells)


def is_blank(cells: Sequence[str]) -> bool:
    """A blank line (or only empty cells): not a customer; skipped, but counted."""
    return not any(cell.strip(_SPACES) for cell in cells)


def text_of(stream: IO[bytes]) -> io.TextIOWrapper:
    """A binary stream as the text :func:`read_csv` expects (UTF-8, BOM dropped)."""
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")


def read_csv(
    lines: Iterable[str], first_row: int = FIRST_DATA_ROW
) -> tuple[tuple[str, ...], Iterator[CsvRow]]:
    """The header (as written) and an iterator over every later record.

    ``lines`` is text read with ``newline=""`` (a file opened so, :func:`text_of`, or
    ``io.StringIO(text, newline="")``). ``first_row`` is the number of the first record
    after the header: 2 for a whole file, more for a later piece of one sent with its header.
    Raises :class:`CsvError` for an empty file or a blank first line; the iterator raises it
    for text that is not UTF-8 or not CSV.
    """
    header, rows = read_rows(lines, first_row)
    return header, (CsvRow(number, cells) for number, cells in rows)


def read_rows(
    lines: Iterable[str], first_row: int = FIRST_DATA_ROW
) -> tuple[tuple[str, ...], Iterator[tuple[int, list[str]]]]:
    """:func:`read_csv` without an object per record: ``(row number, cells)`` pairs, for
    the batch paths, which read millions of them."""
    reader = csv.reader(_text_only(lines))
    try:
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as error:
        raise _unreadable(error, 1) from error
    if header is None:
        raise CsvError(EMPTY_FILE)
    if not any(cell.strip(_SPACES) for cell in header):
        raise CsvError(BLANK_HEADER)
    return tuple(header), _records(reader, first_row)


def _text_only(lines: Iterable[str]) -> Iterator[str]:
    """The lines, refusing a NUL character (binary content: csv would keep it in a cell)."""
    for line in lines:
        if "\x00" in line:
            raise CsvError(NUL_BYTE)
        yield line


def _records(reader: Iterator[list[str]], first_row: int) -> Iterator[tuple[int, list[str]]]:
    number = first_row - 1
    try:
        for number, cells in enumerate(reader, start=first_row):
            yield number, cells
    except (UnicodeDecodeError, csv.Error) as error:
        raise _unreadable(error, number + 1) from error


def _unreadable(error: Exception, row: int) -> CsvError:
    if isinstance(error, UnicodeDecodeError):  # streams decode ahead: no row to point at
        return CsvError(f"{NOT_UTF8}: {error.reason}")
    return CsvError(f"is not a readable CSV (row {row}): {error}")


def decode(data: bytes) -> str:
    """A whole CSV body as text (UTF-8, BOM dropped); :class:`CsvError` when it is not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvError(f"{NOT_UTF8}: {error.reason}") from error


def ragged(count: int, width: int) -> FieldProblem:
    """A row with another number of cells than the header."""
    return FieldProblem(ROW_FIELD, f"has {count} fields, the header has {width}")


# --- output -----------------------------------------------------------------------------

STATUS_SCORED = "scored"
STATUS_ERROR = "error"

RESULT_COLUMNS: tuple[str, ...] = (
    "row",
    ID_FIELD,
    "status",
    "segment_id",
    "segment_name",
    "credit_limit_p25",
    "credit_limit_p50",
    "credit_limit_p75",
    "credit_limit_model",
    "credit_limit_position",
    "credit_limit_suggestion",
    "typicality_percentile",
    "typicality_label",
    "runner_up",
    "margin",
    "map_x",
    "map_y",
    "imputed",
    "flags",
    "errors",
    "model_version",
)
"""A scored-results table: one line per data row of the input, scored or not."""

PATH_TARGET_FIELD = "TARGET_SEGMENT"
"""The optional column of a batch file (S3 or the CSV route) asking each row that fills it
for its path to that segment id (``POST /v1/segment/path``'s ``target_segment``, with the
default ``may_change``); its answer goes in :data:`PATH_COLUMNS`."""

PATH_COLUMNS: tuple[str, ...] = (
    "path_status",
    "path_target_id",
    "path_target_name",
    "path_changes",
    "path_cost",
    "path_check",
    "path_reason",
)
"""Appended to :data:`RESULT_COLUMNS` when the file has :data:`PATH_TARGET_FIELD` (a file
without it keeps exactly the columns above): ``path_status`` (:data:`PATH_STATUSES`, empty
for a row without a target or not scored), the target, ``path_changes`` (each variable
that moves and its proposed value, ``NAME=value`` joined by ``;``, in the data's units),
``path_cost`` (squared distance in model space), ``path_check`` (the proposed row's
typicality in the target) and ``path_reason`` (why there is no path, or what is wrong
with the target)."""

PATH_FOUND, PATH_NONE, PATH_INVALID, PATH_UNAVAILABLE = "found", "no_path", "invalid", "unavailable"
PATH_STATUSES = (PATH_FOUND, PATH_NONE, PATH_INVALID, PATH_UNAVAILABLE)


def results_header(paths: bool) -> tuple[str, ...]:
    """The results table's columns: with :data:`PATH_COLUMNS` when the input asks for paths."""
    return (*RESULT_COLUMNS, *PATH_COLUMNS) if paths else RESULT_COLUMNS


def asks_paths(header: Sequence[str]) -> bool:
    """Whether a file's header has the :data:`PATH_TARGET_FIELD` column."""
    return any(clean_name(name) == PATH_TARGET_FIELD for name in header)


ERROR_COLUMNS: tuple[str, ...] = ("row", ID_FIELD, "field", "message")
"""An error report: one line per invalid field (or per file-level problem)."""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula, prefixed with ``'`` (OWASP CSV injection).

    Only text is touched: numbers (``-1.5``) are written as numbers.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(rows: Iterable[Sequence[Any]]) -> str:
    """Rows as CSV text (``\\r\\n`` line ends, ``None`` as empty), spreadsheet-safe."""
    return write_safe_csv([spreadsheet_safe(cell) for cell in row] for row in rows)


def write_safe_csv(rows: Iterable[Sequence[Any]]) -> str:
    """:func:`write_csv` of rows whose text cells have been through
    :func:`spreadsheet_safe` already."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


_QUOTED_CHARS = ('"', ",", "\r", "\n")  # what makes the csv module quote a field


def write_safe_columns(columns: Sequence[Sequence[Any]]) -> str:
    """:func:`write_safe_csv` of the rows ``zip(*columns)``, a column at a time: the same
    text, byte for byte (tests/functions/contract/test_output.py checks it against the csv
    module), at a fraction of the cost for the millions of cells of a results file.

    A cell is written as the csv module writes it: ``None`` empty, a number by ``str``, text
    as it is unless it holds a quote, a comma or a line break (then quoted, quotes doubled).
    """
    texts = [_column_text(column) for column in columns]
    if len(texts) == 1:  # the csv module quotes a row made of one empty field
        texts[0] = [cell or '""' for cell in texts[0]]
    return "".join([",".join(cells) + "\r\n" for cells in zip(*texts, strict=True)])


def _column_text(column: Sequence[Any]) -> list[str]:
    cells = ["" if cell is None else cell if type(cell) is str else str(cell) for cell in column]
    joined = "".join(cells)
    if any(char in joined for char in _QUOTED_CHARS):
        cells = [_quoted(cell) for cell in cells]
    return cells


def _quoted(cell: str) -> str:
    if any(char in cell for char in _QUOTED_CHARS):
        return '"' + cell.replace('"', '""') + '"'
    return cell
