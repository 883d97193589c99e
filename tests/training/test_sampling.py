"""The seeded uniform sample: the same rows however the file is cut, every row as likely."""

from __future__ import annotations

import numpy as np
import pytest

from training.sampling import Reservoir, Rows


def rows(n: int, start: int = 0) -> Rows:
    values = np.arange(start, start + n, dtype=np.float64).reshape(-1, 1)
    ids = np.array([f"C{i}" for i in range(start, start + n)], dtype=object)
    return Rows(values, np.arange(start + 2, start + n + 2, dtype=np.int64), ids)


def draw(n: int, capacity: int | None, seed: int, chunk: int) -> Rows:
    reservoir = Reservoir(capacity, seed, width=1)
    for start in range(0, n, chunk):
        reservoir.offer(rows(min(chunk, n - start), start))
    return reservoir.sample()


@pytest.mark.parametrize("chunk", [1, 7, 100, 999, 5000])
def test_the_sample_does_not_depend_on_how_the_file_is_cut(chunk: int) -> None:
    reference = draw(5000, 300, seed=42, chunk=5000)
    sample = draw(5000, 300, seed=42, chunk=chunk)
    assert sample.lines.tolist() == reference.lines.tolist()
    assert sample.values.tolist() == reference.values.tolist()
    assert sample.ids is not None and reference.ids is not None
    assert sample.ids.tolist() == reference.ids.tolist()


def test_the_sample_is_in_file_order_without_repeats_and_follows_the_seed() -> None:
    sample = draw(5000, 300, seed=42, chunk=64)
    assert len(sample) == 300
    assert sample.lines.tolist() == sorted(set(sample.lines.tolist()))
    assert sample.values[:, 0].tolist() == (sample.lines - 2).tolist()  # rows kept whole
    assert draw(5000, 300, seed=43, chunk=64).lines.tolist() != sample.lines.tolist()


@pytest.mark.parametrize("capacity", [5000, 10_000, None])
def test_a_sample_at_least_as_large_as_the_file_is_the_file(capacity: int | None) -> None:
    sample = draw(5000, capacity, seed=42, chunk=333)
    assert sample.lines.tolist() == list(range(2, 5002))


def test_a_read_that_only_validates_keeps_no_rows() -> None:
    reservoir = Reservoir(0, 42, width=1)
    reservoir.offer(rows(100))
    assert len(reservoir.sample()) == 0 and reservoir.seen == 100


def test_every_row_is_equally_likely() -> None:
    """100 rows, samples of 10 under 2,000 seeds: each row drawn ~200 times."""
    counts = np.zeros(100, dtype=np.int64)
    for seed in range(2000):
        counts[draw(100, 10, seed=seed, chunk=17).lines - 2] += 1
    expected, sd = 200, np.sqrt(2000 * 0.1 * 0.9)
    assert np.all(np.abs(counts - expected) < 4.5 * sd), counts
