"""Data validation before anything is fitted: every problem named by column, row and count.

:func:`scan` reads a file once, a chunk at a time (any format, :mod:`training.chunks`),
and checks every row against the row contract (``chalicelib.contract.row``: the header
checks, the cell syntax, the value rules and their wording, the same as the API and the
batch files apply; :mod:`training.cells` applies them column-wise), while it draws the
seeded sample training fits on (:mod:`training.sampling`) and measures what the manifest
needs from every row (:class:`Population`). Memory stays bounded: the report keeps
counts, the first row numbers and the first values of each problem, and at most
:data:`MAX_ROW_ERRORS` individual rejected cells.

:func:`validate_file` and :func:`validate` are the same check for a file or a table in
memory, returning every row as a frame: the 17 features as float64 in schema order (NaN
for a missing value) and ``CUST_ID`` when the file has it.

Row positions are **file row numbers** (the header is row 1, the first customer row 2),
the row number a spreadsheet shows; a Parquet file's rows are numbered the same way.

Errors stop training; warnings describe known quirks of real data (they are kept as they
are); info notes say what training will do about expected gaps (imputation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
    HeaderCheck,
    Problem,
    check_header,
    format_number,
    ragged,
)
from numpy.typing import NDArray

from training import duplicates
from training.cells import Verdicts, read_ids, read_values
from training.chunks import ChunkReader, RawChunk, TableChunks
from training.data import DataFileError, RawTable
from training.population import Population, PopulationTally
from training.sampling import Reservoir, Rows
from training.schema import FEATURE_NAMES, FEATURES, ID_COLUMN
from training.tally import SHOWN_LINES, ProblemTally, Tally

Severity = Literal["error", "warning", "info"]

MIN_ROWS = 100
"""Fewer customers than this cannot support a segmentation worth acting on."""

ROWS_PER_CLUSTER = 10
"""Each candidate k needs at least this many customers per segment on average."""

MAX_ROW_ERRORS = 10_000
"""Rejected cells kept one by one (``ValidationReport.row_errors``), the first in file
order; the issues count all of them."""

MISSING_NOTE = "missing value, will be imputed with the training median"
BLANK_WARNING = "empty row (blank line or no values) ignored"
MISSING_ID = "missing customer id"

_PURCHASE_SUM_TOLERANCE = 1.0

__all__ = [
    "SHOWN_LINES",
    "Issue",
    "Population",
    "RowError",
    "Scan",
    "ValidationReport",
    "ValidationResult",
    "min_rows_for",
    "scan",
    "unreadable",
    "validate",
    "validate_file",
]


@dataclass(frozen=True)
class RowError:
    """One rejected cell (or row): its file row and the row contract's field and message
    (the same :class:`FieldProblem` the API and the batch files answer)."""

    line: int
    problem: FieldProblem

    @property
    def field(self) -> str:
        return self.problem.field

    @property
    def message(self) -> str:
        return self.problem.message


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

    @classmethod
    def of(cls, severity: Severity, column: str | None, message: str, tally: Tally) -> Issue:
        return cls(
            severity, column, message, tally.count, tuple(tally.lines), tuple(tally.examples)
        )


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


@dataclass(frozen=True)
class Scan:
    """One read of a file: the report, the sample drawn, and the whole population's
    figures (meaningful when the report is ok)."""

    report: ValidationReport
    sample: Rows
    population: Population
    seconds: float = 0.0

    def frame(self) -> pd.DataFrame:
        """The sample as training takes it: features as float64 columns, ids if any."""
        frame = pd.DataFrame(
            {name: self.sample.values[:, i] for i, name in enumerate(FEATURE_NAMES)}
        )
        if self.sample.ids is not None:
            frame[ID_COLUMN] = pd.Series(self.sample.ids, dtype=object)  # None: no id
        return frame


Progress = Callable[[int, int], None]
"""Told after each chunk: bytes read so far, rows in the chunk."""


def min_rows_for(k_max: int) -> int:
    """The fewest rows accepted when trying up to ``k_max`` segments."""
    return max(MIN_ROWS, ROWS_PER_CLUSTER * k_max)


def validate_file(path: Path, *, min_rows: int = MIN_ROWS) -> ValidationResult:
    """Read and validate ``path``; an unreadable file is an error in the report, not a raise."""
    from training.sources import open_data  # the readers import this module's neighbours

    try:
        reader = open_data(str(path)).reader
    except DataFileError as exc:
        return ValidationResult(unreadable(exc))
    return _as_result(scan(reader, min_rows=min_rows, sample=None))


def validate(data: RawTable | pd.DataFrame, *, min_rows: int = MIN_ROWS) -> ValidationResult:
    """Check ``data`` (a :class:`RawTable`, or a frame of text or numbers) against the schema.

    A plain DataFrame's rows are numbered as if it were a file with a header (line 2 on).
    """
    table = data if isinstance(data, RawTable) else _as_table(data)
    reader = TableChunks(table.header, table.rows, table.lines, table.blank_lines)
    return _as_result(scan(reader, min_rows=min_rows, sample=None))


def _as_result(done: Scan) -> ValidationResult:
    return ValidationResult(done.report, done.frame() if done.report.ok else None)


def scan(
    reader: ChunkReader,
    *,
    min_rows: int = MIN_ROWS,
    sample: int | None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Scan:
    """Validate every row of ``reader``, drawing a seeded uniform sample of ``sample`` rows
    (None: every row) and counting the population's figures, in one read.

    A file that cannot be read (not UTF-8, a NUL byte, a broken gzip or Parquet file)
    gives a report with that one ``(file)`` error, as the contract's reader would.
    """
    started = time.perf_counter()
    checker = _Checker(reader.header, min_rows)
    reservoir = Reservoir(sample, seed, len(FEATURE_NAMES))
    try:
        for chunk in reader.chunks(checker.positions):
            reservoir.offer(checker.add(chunk))
            if progress is not None:
                progress(chunk.bytes_read, len(chunk))
        duplicated = checker.duplicates(reader)
    except DataFileError as exc:
        report = unreadable(exc)
        return Scan(report, Rows.join([], len(FEATURE_NAMES)), checker.population())
    seconds = round(time.perf_counter() - started, 3)
    return Scan(checker.report(duplicated), reservoir.sample(), checker.population(), seconds)


def unreadable(exc: DataFileError) -> ValidationReport:
    """The report of a file that cannot be read at all: that one ``(file)`` error."""
    lines = (exc.line,) if exc.line else ()
    return ValidationReport(rows=0, issues=(Issue("error", FILE_FIELD, exc.message, lines=lines),))


def _as_table(frame: pd.DataFrame) -> RawTable:
    """A frame as the text a CSV file of it would hold (NaN/None as an empty cell)."""
    header = tuple(str(c) for c in frame.columns)
    rows = [["" if _is_na(v) else str(v) for v in record] for record in frame.itertuples(False)]
    lines = np.arange(2, len(frame) + 2)
    return RawTable(header=header, rows=rows, lines=lines, blank_lines=())


def _is_na(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


class _Checker:
    """The report of one file being built, chunk after chunk, in file order."""

    def __init__(self, header: tuple[str, ...], min_rows: int) -> None:
        self.header = header
        self.min_rows = min_rows
        self.check: HeaderCheck = check_header(header, FEATURES, ID_COLUMN)
        self.width = len(header)
        found = self.check.positions if self.check.ok else {}
        self.features = {f.name: found[f.name] for f in FEATURES if f.name in found}
        self.id_position = found.get(ID_COLUMN)
        self.rows = 0
        self.ragged: dict[str, Tally] = {}
        self.blank = Tally()
        self.problems = {name: ProblemTally() for name in self.features}
        self.missing = {name: Tally() for name in self.features}
        self.missing_ids = Tally()
        self.refused_ids = ProblemTally()
        self.hashes = duplicates.IdHashes()
        self.quirks = _Quirks(self.features)
        self.row_errors: list[RowError] = []
        self._population = PopulationTally(len(FEATURES))

    @property
    def positions(self) -> list[int]:
        """The header columns whose cells are checked."""
        wanted = list(self.features.values())
        return wanted + ([self.id_position] if self.id_position is not None else [])

    def add(self, chunk: RawChunk) -> Rows:
        """Check the chunk's rows; return them as numbers (NaN: missing or refused)."""
        self.rows += len(chunk)
        self.blank.add(np.asarray(chunk.blank_lines, dtype=np.int64))
        whole = chunk.whole(self.width)
        errors = self._ragged_rows(chunk, whole)
        values = np.full((len(chunk), len(FEATURES)), np.nan)
        for column, feature in enumerate(FEATURES):
            position = self.features.get(feature.name)
            if position is None:
                continue
            read = read_values(feature, chunk.columns[position])
            refused = _whole_only(read.refused, whole)
            self.problems[feature.name].add(chunk.lines[refused.rows], *_codes(refused))
            self.missing[feature.name].add(chunk.lines[read.missing & whole])
            errors += self._errors(chunk, refused, column + 1, feature.name)
            values[:, column] = np.where(whole, read.values, np.nan)
        ids = self._ids(chunk, whole, errors)
        self.quirks.add(values, chunk.lines)
        self._population.add(values)
        self._keep_errors(errors)
        return Rows(values, chunk.lines, ids)

    def _ragged_rows(
        self, chunk: RawChunk, whole: NDArray[np.bool_]
    ) -> list[tuple[int, int, str, str]]:
        errors: list[tuple[int, int, str, str]] = []
        if chunk.cell_counts is None:
            return errors
        for row in np.flatnonzero(~whole):
            problem: FieldProblem = ragged(int(chunk.cell_counts[row]), self.width)
            line = chunk.lines[row : row + 1]
            self.ragged.setdefault(problem.message, Tally()).add(line)
            errors.append((int(line[0]), 0, problem.field, problem.message))
        return errors

    def _ids(
        self, chunk: RawChunk, whole: NDArray[np.bool_], errors: list[tuple[int, int, str, str]]
    ) -> NDArray[np.object_] | None:
        if self.id_position is None:
            return None
        read = read_ids(chunk.columns[self.id_position])
        ids = read.ids
        ids[~whole] = None  # a ragged row's id is not read (and not missing either)
        self.missing_ids.add(chunk.lines[read.missing & whole])
        refused = _whole_only(read.refused, whole)
        self.refused_ids.add(chunk.lines[refused.rows], *_codes(refused))
        errors += self._errors(chunk, refused, len(FEATURES) + 1, ID_COLUMN)
        self.hashes.add(ids)
        return ids

    def _errors(
        self, chunk: RawChunk, refused: Verdicts, order: int, column: str
    ) -> list[tuple[int, int, str, str]]:
        """The first rejected cells (as many as the report may still keep)."""
        room = MAX_ROW_ERRORS - len(self.row_errors)
        rows, codes = refused.rows[:room], refused.problem_of[:room]
        messages = [p.message for p in refused.problems]
        lines = chunk.lines[rows].tolist()
        return [(n, order, column, messages[c]) for n, c in zip(lines, codes, strict=True)]

    def _keep_errors(self, errors: list[tuple[int, int, str, str]]) -> None:
        errors.sort(key=lambda e: (e[0], e[1]))
        room = MAX_ROW_ERRORS - len(self.row_errors)
        self.row_errors += [
            RowError(line, FieldProblem(column, text)) for line, _, column, text in errors[:room]
        ]

    def duplicates(self, reader: ChunkReader) -> Issue | None:
        """The duplicate-id error, after a second look at suspect ids (none: no issue)."""
        suspects = self.hashes.repeated()
        if self.id_position is None or not len(suspects):
            return None
        count, lines, examples = duplicates.confirm(reader, self.id_position, self.width, suspects)
        if not count:
            return None
        return Issue("error", ID_COLUMN, duplicates.MESSAGE, count, lines, examples)

    def population(self) -> Population:
        return self._population.population()

    def report(self, duplicated: Issue | None) -> ValidationReport:
        issues = _header_issues(self.check)
        issues += [Issue.of("error", ROW_FIELD, text, t) for text, t in self.ragged.items()]
        if self.blank.count:
            issues.append(Issue.of("warning", None, BLANK_WARNING, self.blank))
        issues += _check_row_count(self.rows, self.min_rows)
        for name in self.features:
            issues += _grouped(name, self.problems[name])
            if self.missing[name].count:
                issues.append(Issue.of("info", name, MISSING_NOTE, self.missing[name]))
        if self.id_position is not None:
            if self.missing_ids.count:
                issues.append(Issue.of("warning", ID_COLUMN, MISSING_ID, self.missing_ids))
            issues += _grouped(ID_COLUMN, self.refused_ids)
            issues += [duplicated] if duplicated is not None else []
        issues += self.quirks.issues()
        return ValidationReport(self.rows, tuple(issues), tuple(self.row_errors))


def _whole_only(verdicts: Verdicts, whole: NDArray[np.bool_]) -> Verdicts:
    """The refused cells of whole rows (a ragged row is one error, not one per cell)."""
    keep = whole[verdicts.rows]
    if keep.all():
        return verdicts
    return Verdicts(verdicts.rows[keep], verdicts.problem_of[keep], verdicts.problems)


def _codes(verdicts: Verdicts) -> tuple[NDArray[np.intp], tuple[Problem, ...]]:
    return verdicts.problem_of, verdicts.problems


def _grouped(column: str, tally: ProblemTally) -> list[Issue]:
    return [Issue.of("error", column, phrase, t) for phrase, t in tally.by_phrase.items()]


def _header_issues(check: HeaderCheck) -> list[Issue]:
    """The contract's header check; training also needs the optional columns present."""
    issues = [Issue("error", p.field, p.message) for p in check.errors]
    issues += [Issue("warning", p.field, p.message) for p in check.warnings]
    issues += [
        Issue("error", p.field, "column is missing: training needs every model column")
        for p in check.notes
        if p.message == OPTIONAL_COLUMN_ABSENT
    ]
    return issues


def _check_row_count(rows: int, min_rows: int) -> list[Issue]:
    if rows == 0:
        return [Issue("error", FILE_FIELD, NO_ROWS)]
    if rows < min_rows:
        return [Issue("error", None, f"too few rows to segment: {rows}, need at least {min_rows}")]
    return []


class _Quirks:
    """Oddities the real data set has; kept as they are, but worth knowing about."""

    def __init__(self, features: dict[str, int]) -> None:
        self.present = set(features)
        self.frequency = Tally(distinct_examples=False)
        self.purchases = Tally()
        self.minimum = Tally()

    def _column(self, values: NDArray[np.float64], name: str) -> NDArray[np.float64] | None:
        return values[:, FEATURE_NAMES.index(name)] if name in self.present else None

    def add(self, values: NDArray[np.float64], lines: NDArray[np.int64]) -> None:
        col = self._column
        with np.errstate(invalid="ignore"):
            frequency = col(values, "CASH_ADVANCE_FREQUENCY")
            if frequency is not None:
                above = np.isfinite(frequency) & (frequency > 1)
                shown = [format_number(v) for v in frequency[above][:3].tolist()]
                self.frequency.add(lines[above], shown)
            total, oneoff = col(values, "PURCHASES"), col(values, "ONEOFF_PURCHASES")
            instalments = col(values, "INSTALLMENTS_PURCHASES")
            if total is not None and oneoff is not None and instalments is not None:
                gap = np.abs(total - (oneoff + instalments))
                self.purchases.add(lines[np.isfinite(gap) & (gap > _PURCHASE_SUM_TOLERANCE)])
            minimum, payments = col(values, "MINIMUM_PAYMENTS"), col(values, "PAYMENTS")
            if minimum is not None and payments is not None:
                over = np.isfinite(minimum) & np.isfinite(payments) & (minimum > payments)
                self.minimum.add(lines[over])

    def issues(self) -> list[Issue]:
        found = [
            (
                "CASH_ADVANCE_FREQUENCY",
                "above 1 although described as a 0-1 score (kept)",
                self.frequency,
            ),
            (
                "PURCHASES",
                "differs from ONEOFF_PURCHASES + INSTALLMENTS_PURCHASES by more than 1 (kept)",
                self.purchases,
            ),
            ("MINIMUM_PAYMENTS", "greater than PAYMENTS (kept)", self.minimum),
        ]
        return [Issue.of("warning", column, text, t) for column, text, t in found if t.count]
