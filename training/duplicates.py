"""Duplicate customer ids in a file too large to hold its ids: hashes first, then a check.

While the file is read, each id is kept as a 64-bit hash only (8 bytes a row: 80 MB for
ten million customers). Ids whose hashes all differ are all different, which settles the
usual case with no second look. When some hash repeats, the file is read once more
(only its id column) and the ids behind those hashes are compared as text: a hash
collision is not a duplicate, and the report quotes the real ids and row numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from training.cells import read_ids
from training.chunks import ChunkReader
from training.tally import SHOWN_EXAMPLES, SHOWN_LINES

MESSAGE = "duplicate customer id"
SLICES = 16
_SHIFT = np.uint64(60)  # the top 4 bits of a hash pick its slice


def hash_ids(ids: NDArray[np.object_]) -> NDArray[np.uint64]:
    """64-bit hashes of ids (text; any other value by its text form)."""
    text = np.array([v if isinstance(v, str) else repr(v) for v in ids], dtype=object)
    return np.asarray(pd.util.hash_array(text, categorize=False), dtype=np.uint64)


class IdHashes:
    """The hash of every id seen, in no particular order."""

    def __init__(self) -> None:
        self._parts: list[NDArray[np.uint64]] = []

    def add(self, ids: NDArray[np.object_]) -> None:
        present = ids[np.fromiter((v is not None for v in ids), dtype=bool, count=len(ids))]
        if len(present):
            self._parts.append(hash_ids(present))

    def repeated(self) -> NDArray[np.uint64]:
        """The hashes seen more than once (sorted); empty when every id is unique.

        Hashes are compared a slice of the hash range at a time (:data:`SLICES`), so the
        sort needs a sixteenth of the hashes' memory on top of them, not twice as much.
        """
        found = [np.empty(0, np.uint64)]
        for top in range(SLICES):
            hashes = np.concatenate([p[(p >> _SHIFT) == top] for p in self._parts] or [found[0]])
            hashes.sort()
            found.append(np.unique(hashes[1:][hashes[1:] == hashes[:-1]]))
        return np.concatenate(found)


def confirm(
    reader: ChunkReader,
    id_position: int,
    width: int,
    suspects: NDArray[np.uint64],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, tuple[int, ...], tuple[str, ...]]:
    """Read the ids again and compare, as text, those whose hash is in ``suspects``.

    Returns what the report says of the duplicates: how many rows carry an id that
    another row also carries, the first row numbers, and the first ids (quoted).
    """
    seen: dict[object, list[int]] = {}  # id -> [count, first row numbers...]
    for chunk in reader.chunks([id_position]):
        ids = read_ids(chunk.columns[id_position]).ids
        ids[~chunk.whole(width)] = None
        present = np.flatnonzero(np.fromiter((v is not None for v in ids), bool, len(ids)))
        hit = present[np.isin(hash_ids(ids[present]), suspects)]
        for row in hit:
            entry = seen.setdefault(ids[row], [0])
            entry[0] += 1
            if len(entry) <= SHOWN_LINES:
                entry.append(int(chunk.lines[row]))
        if progress is not None:
            progress(chunk.bytes_read, len(chunk))
    repeated = {key: entry for key, entry in seen.items() if entry[0] > 1}
    count = sum(entry[0] for entry in repeated.values())
    lines = tuple(sorted(n for entry in repeated.values() for n in entry[1:])[:SHOWN_LINES])
    by_first = sorted(repeated, key=lambda key: repeated[key][1])
    return count, lines, tuple(repr(key) for key in by_first[:SHOWN_EXAMPLES])
