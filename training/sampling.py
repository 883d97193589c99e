"""A seeded uniform sample of a file's rows, drawn in one pass with bounded memory.

Every data row gets a random key, drawn in file order from ``numpy.random.default_rng(
seed)``; the sample is the ``capacity`` rows with the smallest keys (bottom-k sampling,
the vectorised form of reservoir sampling: each subset of ``capacity`` rows is equally
likely). Only rows whose key beats the current ``capacity``-th smallest are kept along
the way, so memory stays within twice the sample.

The sample depends on the rows, their order and the seed only: not on how the file was
cut into chunks (the generator gives the same keys however many are drawn at a time),
nor on its format. A file with no more rows than ``capacity`` is its own sample, in file
order; so is any file when ``capacity`` is None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Rows:
    """Data rows: raw values (NaN = missing), their row numbers and ids (None = none)."""

    values: NDArray[np.float64]
    lines: NDArray[np.int64]
    ids: NDArray[np.object_] | None

    def __len__(self) -> int:
        return len(self.lines)

    def take(self, rows: NDArray[np.intp]) -> Rows:
        ids = None if self.ids is None else self.ids[rows]
        return Rows(self.values[rows], self.lines[rows], ids)

    @classmethod
    def join(cls, parts: list[Rows], width: int) -> Rows:
        if not parts:
            return cls(np.empty((0, width)), np.empty(0, np.int64), None)
        ids = None if parts[0].ids is None else np.concatenate([p.ids for p in parts])
        return cls(
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.lines for p in parts]),
            ids,
        )


class Reservoir:
    """The ``capacity`` rows with the smallest keys of everything offered (None: all;
    0: none, for a read that only validates)."""

    def __init__(self, capacity: int | None, seed: int, width: int) -> None:
        if capacity is not None and capacity < 0:
            raise ValueError(f"a sample cannot have {capacity} rows")
        self.capacity = capacity
        self.seed = seed
        self.seen = 0
        self._width = width
        self._rng = np.random.default_rng(seed)
        self._parts: list[Rows] = []
        self._keys: list[NDArray[np.float64]] = []
        self._held = 0
        self._threshold = np.inf

    def offer(self, rows: Rows) -> None:
        """The next data rows of the file, in file order."""
        self.seen += len(rows)
        if self.capacity is None:
            self._parts.append(rows)
            return
        if self.capacity == 0:
            return
        keys = self._rng.random(len(rows))
        if self._threshold < np.inf:
            chosen = np.flatnonzero(keys < self._threshold)
            rows, keys = rows.take(chosen), keys[chosen]
        if len(rows):
            self._parts.append(rows)
            self._keys.append(keys)
            self._held += len(rows)
        if self._held >= 2 * self.capacity:
            self._compact()

    def _compact(self) -> None:
        """Keep the ``capacity`` smallest keys; they set the bar for later rows."""
        if not self.capacity or not self._parts:
            return
        rows = Rows.join(self._parts, self._width)
        keys = np.concatenate(self._keys)
        if len(keys) > self.capacity:
            kept = np.argpartition(keys, self.capacity - 1)[: self.capacity]
            rows, keys = rows.take(kept), keys[kept]
        if len(keys) >= self.capacity:
            self._threshold = float(keys.max())
        self._parts, self._keys, self._held = [rows], [keys], len(keys)

    def sample(self) -> Rows:
        """The sample, in file order."""
        self._compact()
        rows = Rows.join(self._parts, self._width)
        return rows.take(np.argsort(rows.lines, kind="stable"))
