"""Input checks at the public boundary: convert once, fail before anything is written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

MAX_ID = 2**53 - 1
"""Largest id: ids travel as exact integers through Lua (doubles) and JSON."""


def _first(mask: Any) -> int:
    return int(np.flatnonzero(mask)[0])


def as_ids(indices: Any, name: str = "indices") -> npt.NDArray[np.int64]:
    """Convert ids to a 1-D int64 array.

    Raises:
        ValueError: if ids are not integers, out of ``[0, 2**53 - 1]`` or empty; the
            message names the first bad id as given and its position.
    """
    if isinstance(indices, (int, np.integer)) and not isinstance(indices, bool):
        indices = [indices]
    array = np.asarray(indices)
    if not isinstance(indices, np.ndarray) and array.dtype.kind == "f":
        # Python ints beyond int64 become floats: keep them exact, to name them.
        exact = np.asarray(indices, dtype=object)
        if all(type(value) is int for value in exact.ravel().tolist()):
            array = exact
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of ints, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: nothing to do")
    if array.dtype == object:
        values = array.tolist()
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, np.integer))]
        if bad:
            raise ValueError(f"{name} must be integers, got {bad[0]!r} ({type(bad[0]).__name__})")
        outside = [position for position, v in enumerate(values) if not 0 <= v <= MAX_ID]
        if outside:
            _raise_out_of_range(name, values[outside[0]], outside[0])
        array = np.asarray(values, dtype=np.int64)
    elif array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{name} must be integers, got dtype {array.dtype} (e.g. {array.ravel()[0]!r}); "
            "convert with np.asarray(ids, dtype=np.int64) if they are whole numbers"
        )
    # Compared in the given dtype: an unsigned id beyond int64 would wrap when converted.
    out_of_range = array > MAX_ID if array.dtype.kind == "u" else (array < 0) | (array > MAX_ID)
    if out_of_range.any():
        position = _first(out_of_range)
        _raise_out_of_range(name, int(array[position]), position)
    return array.astype(np.int64)


def _raise_out_of_range(name: str, value: int, position: int) -> None:
    raise ValueError(
        f"{name} must be in [0, 2**53 - 1], got {value} at position {position}; ids must "
        "stay exact as Lua numbers: map them to integers in that range"
    )


def unique_ids(ids: npt.NDArray[np.int64], name: str = "indices") -> npt.NDArray[np.int64]:
    """Check that ids are distinct.

    Raises:
        ValueError: naming a repeated id.
    """
    uniq, counts = np.unique(ids, return_counts=True)
    if uniq.size != ids.size:
        dupes = uniq[counts > 1]
        raise ValueError(f"{name} must be distinct; {dupes.size} repeat, e.g. {dupes[:5].tolist()}")
    return ids


class StreamIds:
    """The ids of one stream of batches so far, to refuse an id that comes twice.

    An ascending stream (a query ``ORDER BY`` the id) is checked against its last id
    alone, so it costs nothing per id. Any other stream keeps every id, 8 bytes each,
    in sorted runs merged as they grow: each batch is looked up in ``O(log n)`` runs,
    and over the whole stream each id is copied ``O(log n)`` times.

    Args:
        ascending: the source promises ascending ids.
        source: what the stream reads, for messages.

    Example:
        >>> seen = StreamIds(ascending=False, source="items.parquet")
        >>> seen.add(np.array([3, 1]))
        >>> seen.add(np.array([2, 3]))
        Traceback (most recent call last):
        ...
        ValueError: id 3 comes twice in items.parquet; each id must come once: ...
    """

    def __init__(self, ascending: bool, source: str) -> None:
        self.ascending = ascending
        self.source = source
        self._last: int | None = None
        self._runs: list[npt.NDArray[np.int64]] = []

    def add(self, ids: npt.NDArray[np.int64]) -> None:
        """Record a batch of distinct ids.

        Raises:
            ValueError: naming the smallest id of ``ids`` seen in an earlier batch, or
                the first that breaks the ascending order promised.
        """
        if not ids.size:
            return
        if self.ascending:
            self._add_ascending(ids)
            return
        batch = np.sort(ids)
        seen = np.zeros(batch.size, dtype=bool)
        for run in self._runs:
            if run[0] <= batch[-1] and batch[0] <= run[-1]:
                positions = np.minimum(np.searchsorted(run, batch), run.size - 1)
                seen |= run[positions] == batch
        if seen.any():
            self._repeated(int(batch[_first(seen)]))
        self._runs.append(batch)
        while len(self._runs) > 1 and self._runs[-2].size <= self._runs[-1].size:
            newer = self._runs.pop()
            self._runs[-1] = np.sort(np.concatenate([self._runs[-1], newer]), kind="stable")

    def _add_ascending(self, ids: npt.NDArray[np.int64]) -> None:
        chain = ids if self._last is None else np.concatenate([[self._last], ids])
        not_after = np.flatnonzero(chain[1:] <= chain[:-1])
        if not_after.size:
            before, after = int(chain[not_after[0]]), int(chain[not_after[0] + 1])
            if before == after:
                self._repeated(after)
            raise ValueError(
                f"id {after} came after id {before} in {self.source}, whose ids were "
                "expected in ascending order"
            )
        self._last = int(ids[-1])

    def _repeated(self, id_: int) -> None:
        raise ValueError(
            f"id {id_} comes twice in {self.source}; each id must come once: deduplicate "
            "the source (e.g. a unique key on the id column); the batches before this one "
            "are indexed"
        )


def as_vectors(
    vectors: Any,
    dim: int,
    name: str = "vectors",
    ids: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.float32]:
    """Convert a batch of vectors to a C-contiguous float32 ``(n, dim)`` array.

    Args:
        vectors: ``(n, dim)`` numbers.
        dim: the expected number of columns.
        name: what the vectors are, for messages.
        ids: the ``n`` ids of the rows, when known, so that messages name a bad row's id.

    Raises:
        ValueError: wrong shape or dimension, empty, non-numeric, NaN/inf, or an
            all-zero vector (its cosine similarity is undefined).
    """
    array = np.asarray(vectors)
    if (
        array.dtype == object
        or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer))
        or array.dtype == bool
    ):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (n, {dim}), got {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: nothing to do")
    if array.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns (dim={dim}), got {array.shape[1]}")
    with np.errstate(over="ignore"):  # values beyond float32 become inf, reported below
        result = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(result).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"{_row(name, ids, _first(~finite))} contains NaN or inf (or a value beyond "
            "float32 range); every value must be a finite float32"
        )
    zero = ~result.any(axis=1)
    if zero.any():
        raise ValueError(
            f"{_row(name, ids, _first(zero))} is all zeros: its cosine similarity is "
            "undefined; drop it or give it a nonzero vector"
        )
    return result


def _row(name: str, ids: npt.NDArray[np.int64] | None, row: int) -> str:
    """How a message names a row: by its id when the ids are known."""
    if ids is None or len(ids) <= row:
        return f"{name} row {row}"
    return f"{name}: the vector of id {ids[row]} (row {row})"


def as_vector(
    vector: Any, dim: int, name: str = "vector", ids: npt.NDArray[np.int64] | None = None
) -> npt.NDArray[np.float32]:
    """Convert one vector to float32 ``(dim,)``; accepts ``(dim,)`` or ``(1, dim)``.

    Raises:
        ValueError: as :func:`as_vectors`.
    """
    array = np.asarray(vector)
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape ({dim},), got {array.shape}")
    return as_vectors(array.reshape(1, -1), dim, name, ids).reshape(dim)


def check_positive_int(value: Any, name: str, allow_none: bool = False) -> int | None:
    """Check a positive integer argument."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def same_length(ids: Sequence[int] | npt.NDArray[np.int64], vectors: npt.NDArray[Any]) -> None:
    """Check that ids and vectors pair up.

    Raises:
        ValueError: if their lengths differ.
    """
    if len(ids) != len(vectors):
        raise ValueError(
            f"got {len(ids)} indices but {len(vectors)} vectors; they must pair up one to one"
        )
