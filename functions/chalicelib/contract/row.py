"""The customer-row contract: one definition of what a row is, for every way it comes in.

A customer row reaches the product as a line of the training CSV, a JSON object
(``POST /v1/segment``), a CSV body (``POST /v1/segment/batch``, what the Streamlit batch page
sends) or a line of a CSV file in the batch bucket. All of them read it with this module:

- **columns**: :data:`COLUMNS` in model order, :data:`ID_FIELD`, :data:`OPTIONAL_COLUMNS`;
  the hard bounds of each in :data:`COLUMN_RULES` (training copies them into the bundle's
  manifest, which is how serving learns them);
- **a CSV cell** (:func:`parse_cell`): surrounding spaces and tabs are ignored; a
  :data:`MISSING_TOKENS` spelling (any letter case) is a missing value; a number is ASCII
  digits with an optional sign, decimal point and exponent (``1e3``, ``.5``, ``+5``,
  ``-0``); anything else (``1,000``, ``1_000``, ``0x10``, ``inf``, non-ASCII digits) is
  not a number and is kept as text, so that it comes back as a field error quoting it;
- **the value rules** (:func:`check_value`), with one wording for every path, including
  the :data:`ABSOLUTE_MAX` ceiling;
- **the header** (:func:`check_header`): names are compared exactly after stripping
  spaces; a name given twice (in any letter case) is an error;
- **a CSV file** (:func:`read_csv`): UTF-8 (a byte-order mark is dropped), any line ending;
  rows are numbered as a spreadsheet numbers them (the header is row 1, the first customer
  row 2, blank lines count but are skipped);
- **output** (:data:`RESULT_COLUMNS`, :data:`ERROR_COLUMNS`, :func:`write_csv`): every text
  cell that a spreadsheet would run as a formula is neutralised.

Standard library only, and nothing runs at import beyond defining constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, slots=True)
class ValueRule:
    """The hard rules for one column's value (training writes them into the manifest)."""

    name: str
    integer: bool = False
    valid_min: float | None = 0.0
    valid_max: float | None = None
    optional: bool = False


def _amount(name: str, *, optional: bool = False) -> ValueRule:
    return ValueRule(name, optional=optional)


def _score(name: str, valid_max: float | None = 1.0) -> ValueRule:
    return ValueRule(name, valid_max=valid_max)


def _count(name: str) -> ValueRule:
    return ValueRule(name, integer=True)


COLUMN_RULES: tuple[ValueRule, ...] = (
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
    ValueRule("TENURE", integer=True, valid_min=1.0),
)
"""The 17 model inputs in model (graph column) order, with their hard bounds."""

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


def is_missing(text: str) -> bool:
    """True when a CSV cell spells "no value" (empty, ``NA``, ``null``, ``None``...)."""
    return text.strip(_SPACES).lower() in MISSING_TOKENS


def parse_cell(text: str) -> float | str | None:
    """A CSV cell as a value: a float, ``None`` when missing, else the stripped text.

    The text is returned (not raised) so that :func:`check_value` words the error the
    same way as for a JSON string, and every other problem of the row is found too.
    """
    stripped = text.strip(_SPACES)
    if stripped.lower() in MISSING_TOKENS:
        return None
    if not _NUMBER_CHARS.issuperset(stripped):
        return stripped
    try:
        return float(stripped)
    except ValueError:  # e.g. "1-2", "e5", "."
        return stripped


def check_value(rule: ValueRule, value: Any) -> tuple[float | None, Problem | None]:
    """``(number, None)`` for a valid value (``None`` = missing optional), else the problem.

    ``value`` is what a JSON client sent or what :func:`parse_cell` made of a cell: a
    number, ``None``, or anything else (text, a bool...), which is not a number.
    """
    if value is None:
        return None, None if rule.optional else Problem(REQUIRED)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, Problem(NOT_A_NUMBER, describe(value))
    number = float(value) + 0.0  # + 0.0: -0 is 0 (one cache key, one answer)
    if not math.isfinite(number) or abs(number) > ABSOLUTE_MAX:
        return None, Problem(OUT_OF_RANGE)
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
