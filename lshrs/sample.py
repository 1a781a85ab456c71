"""A uniform random sample of a streamed corpus, in one pass and bounded memory."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt


def reservoir_sample(
    batches: Iterable[tuple[npt.ArrayLike, npt.ArrayLike]], size: int, seed: int = 0
) -> tuple[int, npt.NDArray[np.float32]]:
    """Count the rows of ``(ids, vectors)`` batches and keep a uniform sample of them.

    Every row draws a random key; the ``size`` rows with the smallest keys so far are
    kept, which is a uniform sample without replacement of everything seen. Memory
    holds at most ``size`` rows plus one batch; once the sample is full, a batch costs
    only the rows that enter it.

    Args:
        batches: ``(ids, vectors)`` pairs, e.g. :func:`lshrs.iter_parquet_vectors`.
        size: rows to keep at most, >= 1.
        seed: seed of the random keys.

    Returns:
        ``(rows seen, sample)``: the sample is float32 ``(min(size, rows), dim)``.

    Raises:
        ValueError: for a bad ``size`` or batches of differing dimensions.

    Example:
        >>> batches = [(np.arange(5), np.ones((5, 3))), (np.arange(5, 9), np.zeros((4, 3)))]
        >>> rows, sample = reservoir_sample(batches, size=4)
        >>> rows, sample.shape
        (9, (4, 3))
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    rng = np.random.default_rng(seed)
    kept: npt.NDArray[np.float32] | None = None
    keys = np.empty(0)
    rows = 0
    for _, vectors in batches:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or (kept is not None and array.shape[1] != kept.shape[1]):
            raise ValueError(f"batches must be (n, dim) of one dim, got shape {array.shape}")
        rows += array.shape[0]
        drawn: npt.NDArray[np.float64] = rng.random(int(array.shape[0]))
        if kept is None or keys.size < size:
            pool = array if kept is None else np.concatenate([kept, array])
            pool_keys = np.concatenate([keys, drawn])
            if pool_keys.size > size:
                chosen = np.argpartition(pool_keys, size - 1)[:size]
                pool, pool_keys = pool[chosen], pool_keys[chosen]
            kept, keys = np.ascontiguousarray(pool), pool_keys
            continue
        # Full: only rows that beat the largest kept key can enter, and they overwrite
        # the rows they push out, so the sample is never copied whole.
        entering = np.flatnonzero(drawn < keys.max())
        if entering.size == 0:
            continue
        candidates = np.concatenate([keys, drawn[entering]])
        chosen = np.argpartition(candidates, size - 1)[:size]
        winners = entering[chosen[chosen >= size] - size]
        freed = np.setdiff1d(np.arange(size), chosen[chosen < size], assume_unique=True)
        kept[freed] = array[winners]
        keys[freed] = drawn[winners]
    if kept is None:
        raise ValueError("the source holds no rows")
    return rows, kept
