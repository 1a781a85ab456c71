"""A uniform sample of a streamed corpus: the rows with the smallest random keys."""

from __future__ import annotations

import numpy as np
import pytest

from lshrs.sample import reservoir_sample


def batches(rows: int, batch: int, dim: int = 3):
    data = np.arange(rows * dim, dtype=np.float32).reshape(rows, dim)
    for start in range(0, rows, batch):
        yield np.arange(start, min(rows, start + batch)), data[start : start + batch]


@pytest.mark.parametrize(("rows", "batch", "size"), [(1000, 37, 50), (1000, 400, 300), (20, 7, 50)])
def test_the_sample_is_the_rows_with_the_smallest_keys(rows, batch, size):
    rng = np.random.default_rng(5)
    keys = np.concatenate([rng.random(len(ids)) for ids, _ in batches(rows, batch)])
    expected = np.sort(np.argsort(keys)[:size])
    seen, sample = reservoir_sample(batches(rows, batch), size, seed=5)
    assert seen == rows
    assert np.array_equal(np.sort(sample[:, 0] // 3).astype(int), expected)


def test_an_empty_source_or_a_bad_size_is_refused():
    with pytest.raises(ValueError, match="no rows"):
        reservoir_sample(iter([]), 5)
    with pytest.raises(ValueError, match="positive"):
        reservoir_sample(batches(10, 5), 0)
