"""What the manifest needs from every row of the file, counted while it is validated.

Training fits on a sample, but a few figures describe the whole customer base and are
cheap to count exactly in the validating read: how many rows, and per feature the
smallest and largest value (the manifest's training range, which serving flags values
outside of) and how many values are missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Population:
    """Per feature (schema order): smallest and largest value (NaN: none seen) and the
    number of missing values, over ``rows`` rows."""

    rows: int
    minimum: NDArray[np.float64]
    maximum: NDArray[np.float64]
    missing: NDArray[np.int64]

    @classmethod
    def of(cls, values: NDArray[np.float64]) -> Population:
        """The figures of rows held in memory (NaN = missing)."""
        tally = PopulationTally(values.shape[1])
        tally.add(values)
        return tally.population()


class PopulationTally:
    """:class:`Population` figures counted chunk after chunk."""

    def __init__(self, width: int) -> None:
        self.rows = 0
        self.minimum = np.full(width, np.inf)
        self.maximum = np.full(width, -np.inf)
        self.missing = np.zeros(width, dtype=np.int64)

    def add(self, values: NDArray[np.float64]) -> None:
        """Rows of the next chunk, NaN where a value is missing (or was refused)."""
        self.rows += len(values)
        if not len(values):
            return
        seen = ~np.isnan(values)
        self.minimum = np.fmin(self.minimum, np.where(seen, values, np.inf).min(axis=0))
        self.maximum = np.fmax(self.maximum, np.where(seen, values, -np.inf).max(axis=0))
        self.missing += (~seen).sum(axis=0)

    def population(self) -> Population:
        found = np.isfinite(self.minimum)
        return Population(
            self.rows,
            np.where(found, self.minimum, np.nan),
            np.where(found, self.maximum, np.nan),
            self.missing.copy(),
        )
