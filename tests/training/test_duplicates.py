"""Duplicate ids found from hashes: every repeated hash, whatever slice of the range."""

from __future__ import annotations

import numpy as np

from training.duplicates import SLICES, IdHashes, hash_ids


def test_repeated_hashes_are_found_in_every_slice() -> None:
    ids = np.array([f"C{i}" for i in range(20_000)], dtype=object)
    twice = ids[::97]  # ids seen again, spread over the hash range
    hashes = IdHashes()
    hashes.add(ids[:12_000])
    hashes.add(np.concatenate([ids[12_000:], twice, np.array([None], dtype=object)]))
    repeated = hashes.repeated()
    assert sorted(repeated.tolist()) == sorted(hash_ids(twice).tolist())
    assert len({int(h) >> 60 for h in repeated.tolist()}) == SLICES


def test_unique_ids_repeat_nothing() -> None:
    hashes = IdHashes()
    assert len(hashes.repeated()) == 0
    hashes.add(np.array(["a", "b", None, "c"], dtype=object))
    assert len(hashes.repeated()) == 0
