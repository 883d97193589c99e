"""Data validation before anything is fitted: every problem named by column, line and count.

``validate`` checks a table read by :mod:`training.data` (every cell still text) against
the feature catalogue in :mod:`training.schema` and returns a report plus, when there are
no errors, the cleaned frame training fits on: the 17 features as float64 in schema order
(NaN for a missing value) and ``CUST_ID`` when the file has it.

Row positions are **file line numbers** (the header is line 1, the first customer line 2),
which is also the row number a spreadsheet shows.

Errors stop training; warnings describe known quirks of real data (they are kept as they
are); info notes say what training will do about expected gaps (imputation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from training.data import MISSING_TOKENS, DataFileError, RawTable, read_table
from training.schema import FEATURE_NAMES, FEATURES, ID_COLUMN, Feature

Severity = Literal["error", "warning", "info"]

MIN_ROWS = 100
"""Fewer customers than this cannot support a segmentation worth acting on."""

ROWS_PER_CLUSTER = 10
"""Each candidate k needs at least this many customers per segment on average."""

SHOWN_LINES = 5
"""How many offending line numbers an issue quotes."""

_MISSING_TOKENS = frozenset(token.lower() for token in MISSING_TOKENS)
_PURCHASE_SUM_TOLERANCE = 1.0


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
        """One human line, e.g. ``BALANCE: must be a number: 1 row, line 18 ('abc')``."""
        where = f"{self.column}: " if self.column else ""
        text = f"{where}{self.message}"
        if self.count:
            text += f": {self.count} row{'s' if self.count != 1 else ''}"
        if self.lines:
            more = ", ..." if self.count > len(self.lines) else ""
            label = "line" if len(self.lines) == 1 else "lines"
            text += f", {label} {', '.join(str(n) for n in self.lines)}{more}"
        if self.examples:
            text += f" ({', '.join(repr(e) for e in self.examples)})"
        return text


@dataclass(frozen=True)
class ValidationReport:
    """Everything validation found, in the order it was checked."""

    rows: int
    issues: tuple[Issue, ...]

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
        issue = Issue("error", None, f"cannot read {path.name}: {exc.message}", lines=lines)
        return ValidationResult(ValidationReport(rows=0, issues=(issue,)))
    return validate(table, min_rows=min_rows)


def validate(data: RawTable | pd.DataFrame, *, min_rows: int = MIN_ROWS) -> ValidationResult:
    """Check ``data`` (a :class:`RawTable`, or a frame of text or numbers) against the schema.

    A plain DataFrame's rows are numbered as if it were a file with a header (line 2 on).
    """
    table = data if isinstance(data, RawTable) else _as_table(data)
    raw = table.frame
    lines = table.lines
    issues: list[Issue] = []

    issues += _check_header(table.header)
    repeated = {name for name in table.header if table.header.count(name) > 1}
    present = [f for f in FEATURES if f.name in raw.columns and f.name not in repeated]
    has_ids = ID_COLUMN in raw.columns and ID_COLUMN not in repeated
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
    issues += _check_row_count(len(raw), min_rows)

    values: dict[str, np.ndarray] = {}
    for feature in present:
        parsed, column_issues = _parse_feature(raw[feature.name], feature, lines)
        values[feature.name] = parsed
        issues += column_issues
    if has_ids:
        issues += _check_ids(raw[ID_COLUMN], lines)
    issues += _check_known_quirks(values, lines)

    report = ValidationReport(rows=len(raw), issues=tuple(issues))
    if not report.ok:
        return ValidationResult(report)
    frame = pd.DataFrame({name: values[name] for name in FEATURE_NAMES})
    if has_ids:
        ids = _clean_ids(raw[ID_COLUMN]).astype(object)
        frame[ID_COLUMN] = ids.where(~_is_missing(ids), None).to_numpy()  # None: no id
    return ValidationResult(report, frame)


def _as_table(frame: pd.DataFrame) -> RawTable:
    header = tuple(str(c).strip() for c in frame.columns)
    renamed = frame.set_axis(list(header), axis=1).reset_index(drop=True)
    return RawTable(
        frame=renamed, lines=np.arange(2, len(frame) + 2), header=header, blank_lines=()
    )


def _check_header(header: Sequence[str]) -> list[Issue]:
    issues: list[Issue] = []
    seen: dict[str, int] = {}
    for name in header:
        seen[name] = seen.get(name, 0) + 1
    for name, times in seen.items():
        if times > 1:
            issues.append(Issue("error", name, f"column appears {times} times in the header"))
    for feature in FEATURES:
        if feature.name not in seen:
            issues.append(Issue("error", feature.name, "required column is missing"))
    known = {*FEATURE_NAMES, ID_COLUMN}
    for name in seen:
        if name not in known:
            issues.append(Issue("warning", name or "(unnamed)", "unknown column, ignored"))
    return issues


def _check_row_count(rows: int, min_rows: int) -> list[Issue]:
    if rows == 0:
        return [Issue("error", None, "no data rows (only a header)")]
    if rows < min_rows:
        return [Issue("error", None, f"too few rows to segment: {rows}, need at least {min_rows}")]
    return []


def _parse_feature(
    column: pd.Series, feature: Feature, lines: np.ndarray
) -> tuple[np.ndarray, list[Issue]]:
    """Turn one column into float64 (NaN = missing) and report every impossible value."""
    issues: list[Issue] = []
    column = column.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(column.dtype):  # True/False are text, not 1/0
        column = column.astype(str)
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64)
        missing = np.isnan(values)
    else:
        values, missing, text = _parse_text(column)
        if text.any():
            examples = tuple(dict.fromkeys(column[text].astype(str)))[:3]
            issues.append(_issue("error", feature.name, "must be a number", text, lines, examples))

    if missing.any():
        severity: Severity = "info" if feature.optional else "error"
        message = (
            "missing value, will be imputed with the training median"
            if feature.optional
            else "missing value in a required column"
        )
        issues.append(_issue(severity, feature.name, message, missing, lines))

    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        checks: list[tuple[str, np.ndarray]] = [("infinite value", np.isinf(values))]
        if feature.valid_min is not None:
            low = "negative value" if feature.valid_min == 0 else f"below {feature.valid_min:g}"
            checks.append((low, finite & (values < feature.valid_min)))
        if feature.valid_max is not None:
            checks.append((f"above {feature.valid_max:g}", finite & (values > feature.valid_max)))
        if feature.integer:
            checks.append(("must be a whole number", finite & (values != np.round(values))))
    for message, mask in checks:
        if mask.any():
            examples = _examples(values, mask)
            issues.append(_issue("error", feature.name, message, mask, lines, examples))
    return values, issues


def _parse_text(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse text cells: (numbers, missing mask, mask of cells that are not numbers)."""
    parsed = pd.to_numeric(column, errors="coerce")
    numbers = parsed.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    unparsed = np.isnan(numbers)
    missing = np.zeros(len(column), dtype=bool)
    text = np.zeros(len(column), dtype=bool)
    if unparsed.any():
        cells = column[unparsed]
        is_missing = _is_missing(cells)
        cells = cells.astype(str).str.strip()
        retried = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        positions = np.flatnonzero(unparsed)
        numbers[positions] = np.where(is_missing, np.nan, retried)
        missing[positions] = is_missing
        text[positions] = ~is_missing & np.isnan(retried)
    return numbers, missing, text


def _check_ids(ids: pd.Series, lines: np.ndarray) -> list[Issue]:
    issues: list[Issue] = []
    cleaned = _clean_ids(ids)
    empty = _is_missing(cleaned)
    if empty.any():
        issues.append(_issue("warning", ID_COLUMN, "missing customer id", empty, lines))
    duplicated = (cleaned.duplicated(keep=False) & ~empty).to_numpy()
    if duplicated.any():
        examples = tuple(dict.fromkeys(cleaned[duplicated]))[:3]
        issues.append(
            _issue("error", ID_COLUMN, "duplicate customer id", duplicated, lines, examples)
        )
    return issues


def _is_missing(cells: pd.Series) -> np.ndarray:
    """NaN, or a text cell that spells "no value" (``NA``, ``null``, blank...)."""
    spelled = cells.astype(str).str.strip().str.lower().isin(_MISSING_TOKENS)
    return (cells.isna() | spelled).to_numpy()


def _clean_ids(ids: pd.Series) -> pd.Series:
    return ids.astype("string").str.strip().reset_index(drop=True)


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
    return tuple(f"{v:g}" for v in dict.fromkeys(values[mask][:3].tolist()))


__all__ = [
    "Issue",
    "ValidationReport",
    "ValidationResult",
    "min_rows_for",
    "validate",
    "validate_file",
]
