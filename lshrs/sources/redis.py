"""Vectors kept in Redis beside the index, for reranking without another database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.sources.arrays import MissingVectorsError
from lshrs.sources.checks import first_other
from lshrs.storage import RedisStorage
from lshrs.validation import as_ids, as_vectors, same_length, unique_ids

WRITE_CHUNK = 5000


class RedisVectorStore:
    """One Redis string per id (``{prefix}:v<id>``) holding its vector as raw
    little-endian float32 or float16; a fetch is one ``MGET``, so one round trip.

    The keys live under the index's prefix, in its hash slot, and ``LSHRS.clear()``
    removes them with the index. float16 halves the memory; cosine reranking on
    normalised sentence embeddings loses almost nothing by it.

    Args:
        storage: the index's :class:`RedisStorage` (``lsh.storage``).
        dim: vector dimension.
        dtype: ``"float32"`` or ``"float16"``.

    Example:
        >>> store = RedisVectorStore(lsh.storage, dim=3)
        >>> store.put([1, 2], np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        >>> store([2, 1]).tolist()
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """

    def __init__(self, storage: RedisStorage, dim: int, dtype: str = "float32") -> None:
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        self.storage = storage
        self.dim = int(dim)
        self.dtype = np.dtype(dtype).newbyteorder("<")

    def put(self, ids: Sequence[int] | npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Store vectors (replacing any stored under the same ids).

        Raises:
            ValueError: for bad ids or vectors; nothing is written then.
        """
        id_array = unique_ids(as_ids(ids))
        array = as_vectors(vectors, self.dim)
        same_length(id_array, array)
        blobs = array.astype(self.dtype).view(f"V{self.dim * self.dtype.itemsize}").ravel()
        keys = self.storage.keys.vectors(id_array)
        pipe = self.storage.client.pipeline(transaction=False)
        for start in range(0, len(keys), WRITE_CHUNK):
            stop = start + WRITE_CHUNK
            pipe.mset(dict(zip(keys[start:stop], blobs[start:stop].tolist(), strict=True)))
        pipe.execute()

    def fetch(self, ids: Sequence[int] | npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Vectors of ``ids`` in their order: float32 ``(len(ids), dim)``.

        Raises:
            MissingVectorsError: naming the ids that have no stored vector.
        """
        id_array = as_ids(ids)
        values: list[Any] = self.storage.client.mget(self.storage.keys.vectors(id_array))
        if None in values:
            missing = [i for i, v in zip(id_array.tolist(), values, strict=True) if v is None]
            raise MissingVectorsError(missing, f"the Redis vector store {self.storage.prefix!r}")
        width = self.dim * self.dtype.itemsize
        sizes = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        row = first_other(sizes, width)
        if row is not None:
            raise ValueError(
                f"the Redis vector store {self.storage.prefix!r} holds {sizes[row]} bytes for "
                f"id {id_array[row]}, expected {width} ({self.dim} {self.dtype.name} values)"
            )
        # One copy into a fixed-width array: no joined buffer, and float32 needs no
        # second copy (1,000 x 768 candidates are 3 MB per query).
        packed = np.array(values, dtype=f"S{width}").view(self.dtype)
        vectors: npt.NDArray[np.float32] = packed.reshape(id_array.size, self.dim).astype(
            np.float32, copy=False
        )
        return vectors

    __call__ = fetch

    def delete(self, ids: Sequence[int] | npt.ArrayLike) -> int:
        """Remove stored vectors; returns how many existed."""
        return int(self.storage.client.unlink(*self.storage.keys.vectors(as_ids(ids))))
