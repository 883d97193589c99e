"""Data validation before anything is fitted: every problem named by column, line and count.

``validate`` checks a table read by :mod:`training.data` (every cell still text) against
the row contract (``chalicelib.contract.row``: the header checks, the cell syntax, the
value rules and their wording, the same as the API and the batch files apply) and returns
a report plus, when there are no errors, the cleaned frame training fits on: the 17
features as float64 in schema order (NaN for a missing value) and ``CUST_ID`` when the
file has it. Issues group the contract's problems by column and phrase; ``row_errors``
keeps each one with its row and the exact message the API would answer.

Row positions are **file row numbers** (the header is row 1, the first customer row 2),
the row number a spreadsheet shows.

Errors stop training; warnings describe known quirks of real data (they are kept as they
are); info notes say what training will do about expected gaps (imputation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from chalicelib.contract.row import (
    FILE_FIELD,
    NO_ROWS,
    OPTIONAL_COLUMN_ABSENT,
    ROW_FIELD,
    FieldProblem,
    Problem,
    check_header,
    check_id,
    check_value,
    format_number,
    id_of_cell,
    parse_cell,
    ragged,
)

from training.data import DataFileError, RawTable, read_table
from training.schema import FEATURE_NAMES, FEATURES, ID_COLUMN, Feature

Severity = Literal["error", "warning", "info"]

MIN_ROWS = 100
"""Fewer customers than this cannot support a segmentation worth acting on."""

ROWS_PER_CLUSTER = 10
"""Each candidate k needs at least this many customers per segment on average."""

SHOWN_LINES = 5
"""How many offending line numbers an issue quotes."""

_PURCHASE_SUM_TOLERANCE = 1.0


@dataclass(frozen=True)
class RowError:
    """One rejected cell (or row): its file row, column and the contract's message."""

    line: int
    field: str
    message: str


@dataclass(frozen=True)
class Issue:
    """One problem, located: the column, how many rows, the first file lines, examples."""

    severity: Severity
    column: str | None
    message: str
    count: int = 0
    lines: tuple[int, ...] = ()
    examples: tuple[str, ...] = ()

    def describe(self) -> str:
        """One human line, e.g. ``BALANCE: must be a number: 1 row, line 18 ('abc')``.

        ``examples`` are shown as the contract shows values (text quoted, numbers bare).
        """
        where = f"{self.column}: " if self.column else ""
        text = f"{where}{self.message}"
        if self.count:
            text += f": {self.count} row{'s' if self.count != 1 else ''}"
        if self.lines:
            more = ", ..." if self.count > len(self.lines) else ""
            label = "line" if len(self.lines) == 1 else "lines"
            text += f", {label} {', '.join(str(n) for n in self.lines)}{more}"
        if self.examples:
            text += f" ({', '.join(self.examples)})"
        return text


@dataclass(frozen=True)
class ValidationReport:
    """Everything validation found, in the order it was checked."""

    rows: int
    issues: tuple[Issue, ...]
    row_errors: tuple[RowError, ...] = field(default=(), repr=False)

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    @property
    def notes(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "info")

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        verdict = "valid" if self.ok else "INVALID"
        return (
            f"data {verdict}: {self.rows} rows, {len(self.errors)} errors, "
            f"{len(self.warnings)} warnings, {len(self.notes)} notes"
        )

    def format(self) -> str:
        """The full report: one line per issue, errors first, then the summary line."""
        ordered = [*self.errors, *self.warnings, *self.notes]
        lines = [f"{issue.severity:<7} {issue.describe()}" for issue in ordered]
        return "\n".join([*lines, self.summary()])


@dataclass(frozen=True)
class ValidationResult:
    """The report, and the cleaned frame when the data is fit to train on (else None)."""

    report: ValidationReport
    frame: pd.DataFrame | None = field(default=None, repr=False)


def min_rows_for(k_max: int) -> int:
    """The fewest rows accepted when trying up to ``k_max`` segments."""
    return max(MIN_ROWS, ROWS_PER_CLUSTER * k_max)


def validate_file(path: Path, *, min_rows: int = MIN_ROWS) -> ValidationResult:
    """Read and validate ``path``; an unreadable file is an error in the report, not a raise."""
    try:
        table = read_table(path)
    except DataFileError as exc:
        lines = (exc.line,) if exc.line else ()
        issue = Issue("error", FILE_FIELD, exc.message, lines=lines)
        return ValidationResult(ValidationReport(rows=0, issues=(issue,)))
    return validate(table, min_rows=min_rows)


def validate(data: RawTable | pd.DataFrame, *, min_rows: int = MIN_ROWS) -> ValidationResult:
    """Check ``data`` (a :class:`RawTable`, or a frame of text or numbers) against the schema.

    A plain DataFrame's rows are numbered as if it were a file with a header (line 2 on).
    """
    table = data if isinstance(data, RawTable) else _as_table(data)
    check = check_header(table.header, FEATURES, ID_COLUMN)
    issues = _header_issues(check.errors, check.warnings, check.notes)
    width = len(table.header)
    lines = table.lines
    whole = np.array([len(cells) == width for cells in table.rows], dtype=bool)
    row_errors = [RowError(int(n), *_as_pair(ragged(len(c), width)))
                  for n, c, ok in zip(lines, table.rows, whole, strict=True) if not ok]  # fmt: skip
    if row_errors:
        issues += _grouped(ROW_FIELD, [(e.line, Problem(e.message)) for e in row_errors])
    if table.blank_lines:
        issues.append(
            Issue(
                "warning",
                None,
                "empty row (blank line or no values) ignored",
                count=len(table.blank_lines),
                lines=table.blank_lines[:SHOWN_LINES],
            )
        )
    issues += _check_row_count(len(table.rows), min_rows)

    rows = [cells if ok else [] for cells, ok in zip(table.rows, whole, strict=True)]
    values: dict[str, np.ndarray] = {}
    for feature in FEATURES:
        position = check.positions.get(feature.name)
        if position is None or not check.ok:
            continue
        cells = [c[position] if c else "" for c in rows]
        values[feature.name], column_issues, errors = _parse_feature(cells, feature, lines, whole)
        issues += column_issues
        row_errors += errors
    ids: list[str | None] | None = None
    id_position = check.positions.get(ID_COLUMN)
    if id_position is not None and check.ok:
        id_cells = [c[id_position] if c else None for c in rows]  # None: a ragged row
        ids, id_issues, errors = _check_ids(id_cells, lines)
        issues += id_issues
        row_errors += errors
    issues += _check_known_quirks(values, lines)

    row_errors.sort(key=lambda e: e.line)
    report = ValidationReport(rows=len(table.rows), issues=tuple(issues),
                              row_errors=tuple(row_errors))  # fmt: skip
    if not report.ok:
        return ValidationResult(report)
    frame = pd.DataFrame({name: values[name] for name in FEATURE_NAMES})
    if ids is not None:
        frame[ID_COLUMN] = pd.Series(ids, dtype=object)  # None: no id
    return ValidationResult(report, frame)


def _as_pair(problem: FieldProblem) -> tuple[str, str]:
    return problem.field, problem.message


def _as_table(frame: pd.DataFrame) -> RawTable:
    """A frame as the text a CSV file of it would hold (NaN/None as an empty cell)."""
    header = tuple(str(c) for c in frame.columns)
    rows = [["" if _is_na(v) else str(v) for v in record] for record in frame.itertuples(False)]
    lines = np.arange(2, len(frame) + 2)
    return RawTable(header=header, rows=rows, lines=lines, blank_lines=())


def _is_na(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _header_issues(
    errors: tuple[FieldProblem, ...],
    warnings: tuple[FieldProblem, ...],
    notes: tuple[FieldProblem, ...],
) -> list[Issue]:
    """The contract's header check; training also needs the optional columns present."""
    issues = [Issue("error", p.field, p.message) for p in errors]
    issues += [Issue("warning", p.field, p.message) for p in warnings]
    issues += [
        Issue("error", p.field, "column is missing: training needs every model column")
        for p in notes
        if p.message == OPTIONAL_COLUMN_ABSENT
    ]
    return issues


def _check_row_count(rows: int, min_rows: int) -> list[Issue]:
    if rows == 0:
        return [Issue("error", FILE_FIELD, NO_ROWS)]
    if rows < min_rows:
        return [Issue("error", None, f"too few rows to segment: {rows}, need at least {min_rows}")]
    return []


def _parse_feature(
    cells: list[str], feature: Feature, lines: np.ndarray, whole: np.ndarray
) -> tuple[np.ndarray, list[Issue], list[RowError]]:
    """One column as float64 (NaN = missing or refused), its issues and its rejected cells.

    Each cell goes through the contract: :func:`parse_cell` then :func:`check_value`.
    """
    values = np.full(len(cells), np.nan)
    missing: list[int] = []
    problems: list[tuple[int, Problem]] = []
    for i, cell in enumerate(cells):
        if not whole[i]:
            continue
        number, problem = check_value(feature, parse_cell(cell))
        if problem is not None:
            problems.append((int(lines[i]), problem))
        elif number is None:
            missing.append(i)
        else:
            values[i] = number
    issues = _grouped(feature.name, problems)
    if missing:
        note = "missing value, will be imputed with the training median"
        mask = np.zeros(len(cells), dtype=bool)
        mask[missing] = True
        issues.append(_issue("info", feature.name, note, mask, lines))
    errors = [RowError(line, feature.name, problem.message) for line, problem in problems]
    return values, issues, errors


def _grouped(column: str, problems: list[tuple[int, Problem]]) -> list[Issue]:
    """One error issue per phrase, with the first rows and the first distinct values."""
    by_phrase: dict[str, list[tuple[int, Problem]]] = {}
    for line, problem in problems:
        by_phrase.setdefault(problem.phrase, []).append((line, problem))
    issues = []
    for phrase, found in by_phrase.items():
        shown = tuple(dict.fromkeys(p.shown for _, p in found if p.shown))[:3]
        shown_lines = tuple(line for line, _ in found[:SHOWN_LINES])
        issues.append(Issue("error", column, phrase, len(found), shown_lines, shown))
    return issues


def _check_ids(
    cells: list[str | None], lines: np.ndarray
) -> tuple[list[str | None], list[Issue], list[RowError]]:
    """The ids (None where missing), their issues and the rejected ones.

    A ``None`` cell is a ragged row's: already an error, not also a missing id.
    """
    ids = [None if cell is None else id_of_cell(cell) for cell in cells]
    issues: list[Issue] = []
    errors: list[RowError] = []
    absent = np.array([i is None for i in ids], dtype=bool)
    empty = absent & np.array([c is not None for c in cells], dtype=bool)
    if empty.any():
        issues.append(_issue("warning", ID_COLUMN, "missing customer id", empty, lines))
    refused = []
    for i, customer_id in enumerate(ids):
        _, problem = check_id(customer_id)
        if problem is not None:
            refused.append((int(lines[i]), problem))
    issues += _grouped(ID_COLUMN, refused)
    errors += [RowError(line, ID_COLUMN, problem.message) for line, problem in refused]
    series = pd.Series(ids, dtype=object)
    duplicated = (series.duplicated(keep=False) & ~absent).to_numpy()
    if duplicated.any():
        examples = tuple(repr(i) for i in dict.fromkeys(series[duplicated]))[:3]
        issues.append(
            _issue("error", ID_COLUMN, "duplicate customer id", duplicated, lines, examples)
        )
    return ids, issues, errors


def _check_known_quirks(values: dict[str, np.ndarray], lines: np.ndarray) -> list[Issue]:
    """Oddities the real data set has; kept as they are, but worth knowing about."""
    issues: list[Issue] = []

    def col(name: str) -> np.ndarray | None:
        return values.get(name)

    with np.errstate(invalid="ignore"):
        frequency = col("CASH_ADVANCE_FREQUENCY")
        if frequency is not None:
            above_one = np.isfinite(frequency) & (frequency > 1)
            if above_one.any():
                issues.append(
                    _issue(
                        "warning",
                        "CASH_ADVANCE_FREQUENCY",
                        "above 1 although described as a 0-1 score (kept)",
                        above_one,
                        lines,
                        _examples(frequency, above_one),
                    )
                )
        total, oneoff, instalments = (
            col("PURCHASES"),
            col("ONEOFF_PURCHASES"),
            col("INSTALLMENTS_PURCHASES"),
        )
        if total is not None and oneoff is not None and instalments is not None:
            gap = np.abs(total - (oneoff + instalments))
            mismatch = np.isfinite(gap) & (gap > _PURCHASE_SUM_TOLERANCE)
            if mismatch.any():
                issues.append(
                    _issue(
                        "warning",
                        "PURCHASES",
                        "differs from ONEOFF_PURCHASES + INSTALLMENTS_PURCHASES "
                        "by more than 1 (kept)",
                        mismatch,
                        lines,
                    )
                )
        minimum, payments = col("MINIMUM_PAYMENTS"), col("PAYMENTS")
        if minimum is not None and payments is not None:
            over = np.isfinite(minimum) & np.isfinite(payments) & (minimum > payments)
            if over.any():
                issues.append(
                    _issue(
                        "warning", "MINIMUM_PAYMENTS", "greater than PAYMENTS (kept)", over, lines
                    )
                )
    return issues


def _issue(
    severity: Severity,
    column: str | None,
    message: str,
    mask: np.ndarray,
    lines: np.ndarray,
    examples: tuple[str, ...] = (),
) -> Issue:
    shown = tuple(int(n) for n in lines[np.flatnonzero(mask)[:SHOWN_LINES]])
    return Issue(severity, column, message, count=int(mask.sum()), lines=shown, examples=examples)


def _examples(values: np.ndarray, mask: np.ndarray) -> tuple[str, ...]:
    return tuple(format_number(v) for v in dict.fromkeys(values[mask][:3].tolist()))


__all__ = [
    "Issue",
    "RowError",
    "ValidationReport",
    "ValidationResult",
    "min_rows_for",
    "validate",
    "validate_file",
]
