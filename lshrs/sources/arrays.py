"""Vectors in memory: a fetch function over a numpy array, and the error every fetch
function raises for ids it does not hold.

A fetch function takes ids and returns float32 ``(len(ids), dim)``, row ``i`` being the
vector of ``ids[i]`` (ids may repeat). Ids the store does not hold raise
:class:`MissingVectorsError`, never a silent gap or a zero row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ArrayFetcher", "MissingVectorsError", "array_fetcher", "as_id_array"]

_SHOWN_MISSING = 10


class MissingVectorsError(KeyError):
    """Some requested ids have no vector in the store.

    Attributes:
        missing_ids: The distinct missing ids, ascending.
        source: What was searched, for the message.
    """

    def __init__(self, missing_ids: Iterable[int], source: str = "the vector store") -> None:
        self.missing_ids: list[int] = sorted({int(missing) for missing in missing_ids})
        self.source = source
        super().__init__(self.missing_ids, source)

    def __str__(self) -> str:
        count = len(self.missing_ids)
        shown = ", ".join(map(str, self.missing_ids[:_SHOWN_MISSING]))
        more = f" and {count - _SHOWN_MISSING} more" if count > _SHOWN_MISSING else ""
        return f"{count} id(s) missing from {self.source}: {shown}{more}"


def as_id_array(
    ids: Sequence[int] | npt.NDArray[np.integer[Any]], name: str
) -> npt.NDArray[np.int64]:
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers; got dtype {array.dtype} (first: {array[0]!r})")
    if array.dtype == np.uint64:
        beyond = np.flatnonzero(array > np.iinfo(np.int64).max)
        if beyond.size:
            raise ValueError(
                f"{name} must fit in int64 like every stored id; got {array[beyond[0]]}"
            )
    return array.astype(np.int64, copy=False)


class ArrayFetcher:
    """Looks vectors up by id in memory; built by :func:`array_fetcher`.

    Lookups are one ``np.searchsorted`` over the sorted ids plus one gather, with no
    per-id Python work. Calls only read, so they are safe from several threads.
    """

    def __init__(
        self,
        ids: Sequence[int] | npt.NDArray[np.integer[Any]],
        vectors: npt.ArrayLike,
        source: str = "the in-memory vectors",
    ) -> None:
        id_array = as_id_array(ids, "ids")
        matrix = np.asarray(vectors, dtype=np.float32, order="C")
        if matrix.ndim != 2 or matrix.shape[0] != id_array.shape[0]:
            raise ValueError(
                f"vectors must have shape (len(ids), dim) = ({id_array.shape[0]}, dim); "
                f"got {matrix.shape}"
            )
        order = np.argsort(id_array, kind="stable")
        sorted_ids = id_array[order]
        repeated = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
        if repeated.size:
            raise ValueError(
                f"ids must be unique; id {sorted_ids[repeated[0]]} appears more than once "
                f"in {source}"
            )
        self._sorted_ids = sorted_ids
        self._rows = order
        self._vectors = matrix
        self._source = source

    @property
    def dim(self) -> int:
        """Length of every vector."""
        return int(self._vectors.shape[1])

    def __len__(self) -> int:
        return int(self._sorted_ids.shape[0])

    def __call__(
        self, ids: Sequence[int] | npt.NDArray[np.integer[Any]]
    ) -> npt.NDArray[np.float32]:
        """Return float32 ``(len(ids), dim)`` in the order of ``ids``.

        Raises:
            ValueError: ``ids`` is not a one-dimensional sequence of integers.
            MissingVectorsError: Some ids are not held.
        """
        wanted = as_id_array(ids, "ids")
        positions = np.searchsorted(self._sorted_ids, wanted)
        found = positions < len(self)
        found[found] = self._sorted_ids[positions[found]] == wanted[found]
        if not found.all():
            raise MissingVectorsError(wanted[~found].tolist(), self._source)
        vectors: npt.NDArray[np.float32] = self._vectors[self._rows[positions]]
        return vectors


def array_fetcher(
    ids: Sequence[int] | npt.NDArray[np.integer[Any]], vectors: npt.ArrayLike
) -> ArrayFetcher:
    """Build a fetch function over vectors held in memory.

    Args:
        ids: ``n`` distinct integer ids.
        vectors: ``(n, dim)`` array-like, row ``i`` being the vector of ``ids[i]``;
            converted once to float32 C-contiguous (no copy if it already is, so later
            writes to that array show in fetched vectors).

    Returns:
        A callable ``fetch(ids) -> float32 (len(ids), dim)`` in the order of ``ids``.
        It raises :class:`MissingVectorsError` for ids it does not hold.

    Raises:
        ValueError: ``ids`` is not one-dimensional integers, is not unique, or does not
            match the number of rows of ``vectors``.

    Example:
        >>> fetch = array_fetcher([10, 30, 20], [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
        >>> fetch([20, 10, 20])
        array([[0.5, 0.5],
               [1. , 0. ],
               [0.5, 0.5]], dtype=float32)
        >>> fetch([10, 99])
        Traceback (most recent call last):
        ...
        lshrs.sources.arrays.MissingVectorsError: 1 id(s) missing from the in-memory vectors: 99
    """
    return ArrayFetcher(ids, vectors)
