"""Counting problems across a file read in chunks, keeping what the report quotes.

An issue of the validation report says how many rows have a problem, the first few of
their row numbers and the first few values shown. A file of tens of millions of rows is
read a chunk at a time, so each issue is a :class:`Tally` fed chunk after chunk, in file
order: its numbers come out as if the whole file had been checked at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from chalicelib.contract.row import Problem
from numpy.typing import NDArray

SHOWN_LINES = 5
"""How many offending row numbers an issue quotes."""
SHOWN_EXAMPLES = 3
"""How many offending values an issue quotes."""


@dataclass
class Tally:
    """One issue being counted: rows, the first :data:`SHOWN_LINES` row numbers and up to
    :data:`SHOWN_EXAMPLES` values (the first distinct ones, or simply the first ones)."""

    distinct_examples: bool = True
    count: int = 0
    lines: list[int] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    _first_values: int = 0

    def add(self, lines: NDArray[np.int64], examples: Iterable[str] = ()) -> None:
        """Rows of the next chunk with this issue (in file order) and their values."""
        self.count += len(lines)
        if len(self.lines) < SHOWN_LINES:
            self.lines += [int(n) for n in lines[: SHOWN_LINES - len(self.lines)]]
        for example in examples:
            if self.distinct_examples:
                if len(self.examples) >= SHOWN_EXAMPLES:
                    break
                if example and example not in self.examples:
                    self.examples.append(example)
            else:
                if self._first_values >= SHOWN_EXAMPLES:
                    break
                self._first_values += 1
                if example not in self.examples:
                    self.examples.append(example)

    def wants_examples(self) -> bool:
        limit = len(self.examples) if self.distinct_examples else self._first_values
        return limit < SHOWN_EXAMPLES


class ProblemTally:
    """A column's refused cells, one :class:`Tally` per phrase in order of first
    appearance (the report groups the contract's problems by phrase)."""

    def __init__(self) -> None:
        self.by_phrase: dict[str, Tally] = {}

    def add(
        self,
        lines: NDArray[np.int64],
        problem_of: NDArray[np.intp],
        problems: tuple[Problem, ...],
    ) -> None:
        """``lines`` of the refused rows (file order) and each one's problem index."""
        if not len(lines):
            return
        phrases = np.array([problems[i].phrase for i in range(len(problems))], dtype=object)
        row_phrase = phrases[problem_of]
        first_rows = {}
        for phrase in dict.fromkeys(phrases.tolist()):
            rows = np.flatnonzero(row_phrase == phrase)
            if len(rows):
                first_rows[phrase] = rows
        for phrase, rows in sorted(first_rows.items(), key=lambda item: int(item[1][0])):
            tally = self.by_phrase.setdefault(phrase, Tally())
            shown = _first_shown(problem_of[rows], problems) if tally.wants_examples() else []
            tally.add(lines[rows], shown)


def _first_shown(codes: NDArray[np.intp], problems: tuple[Problem, ...]) -> list[str]:
    """The values shown by ``codes``' problems, distinct, in order of first appearance."""
    distinct, first = np.unique(codes, return_index=True)
    ordered = distinct[np.argsort(first)]
    return [problems[int(c)].shown for c in ordered[: SHOWN_EXAMPLES * 4]]
