"""What every part of :class:`lshrs.LSHRS` shares: its state, the wait for writes in
flight, and fetching vectors by id with ``vector_fetch_fn``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.buckets import BucketIndex
from lshrs.lists import ListIndex
from lshrs.partitioned import PartitionedIndex
from lshrs.schemes import IVFPQ, Scheme
from lshrs.storage import RedisStorage
from lshrs.threads import single_threaded_blas
from lshrs.validation import as_vectors

FETCHED = "vector_fetch_fn result"


class IndexCore:
    """State set by :class:`lshrs.LSHRS`; the write, read and semantic-ID methods build
    on it."""

    dim: int
    extra_probes: int
    rerank_candidates: int
    buffer_size: int
    vector_fetch_fn: Callable[[Sequence[int]], Any] | None
    hasher: Scheme
    storage: RedisStorage
    partitions: int
    _kind: BucketIndex | ListIndex | PartitionedIndex
    _pending: Future[int] | None

    def _flush_buffer(self) -> None:
        """Wait for the pipelined writes in flight; re-raise their error, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _small_products(self) -> AbstractContextManager[Any]:
        """IVF-PQ encodes and scores one query or vector with small products: on one
        BLAS thread (:mod:`lshrs.threads`). Bucket indexes leave BLAS as it is."""
        if isinstance(self.hasher, IVFPQ):
            return single_threaded_blas()
        return nullcontext()

    def _require_fetch(self, what: str) -> Callable[[Sequence[int]], Any]:
        """``vector_fetch_fn``, or a RuntimeError saying that ``what`` needs vectors."""
        if self.vector_fetch_fn is None:
            raise RuntimeError(
                f"{what} needs vectors: pass vector_fetch_fn=fetch(ids) -> array "
                "(len(ids), dim) to LSHRS"
            )
        return self.vector_fetch_fn

    def _fetch(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return as_vectors(self._fetch_raw(ids), self.dim, FETCHED)

    def _fetch_raw(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """``vector_fetch_fn(ids)``, shape-checked; values are checked by the caller."""
        fetch = self._require_fetch("no vectors were given; this")
        fetched = np.asarray(fetch(ids.tolist()))
        if fetched.ndim != 2 or fetched.shape != (ids.size, self.dim):
            raise ValueError(
                f"vector_fetch_fn returned shape {fetched.shape} for {ids.size} ids; "
                f"expected ({ids.size}, {self.dim}) in the order of the ids"
            )
        return fetched
