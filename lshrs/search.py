"""The read side of :class:`lshrs.LSHRS`: top-k and top-p queries, batch search, and
the vector fetches of the exact rerank. Bucket indexes and inverted lists answer
through the same calls (:mod:`lshrs.buckets`, :mod:`lshrs.lists`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

from lshrs.core import FETCHED, IndexCore
from lshrs.limits import MAX_TOPK, check_limit
from lshrs.similarity import rerank_cosines
from lshrs.validation import as_vector, as_vectors, check_positive_int


class SearchMethods(IndexCore):
    """The reads of :class:`lshrs.LSHRS`."""

    def query(
        self, vector: npt.ArrayLike, topk: int | None = 10, topp: float | None = None
    ) -> list[int] | list[tuple[int, float]]:
        """Search for vectors similar to ``vector``.

        Top-k mode (``topp`` None): one round trip unless the query's buckets or lists
        hold more than one script call reads (see :mod:`lshrs.limits`); returns up to
        ``topk`` ids ordered by approximate score (colliding bands, or IVF-PQ's
        estimate), ties by smaller id.

        Top-p mode: fetches the best ``rerank_candidates`` candidates' vectors with
        ``vector_fetch_fn``, computes exact cosine similarity, keeps the
        ``ceil(topp * candidates)`` most similar, at most ``topk`` (None: no cap), and
        returns ``(id, cosine)`` pairs, most similar first.

        Args:
            vector: shape ``(dim,)``.
            topk: maximum number of results.
            topp: fraction of the reranked candidates to keep, in ``[0, 1]``.

        Returns:
            Top-k: ``list[int]``. Top-p: ``list[tuple[int, float]]``.

        Raises:
            ValueError: for a bad vector, ``topk`` or ``topp``.
            RuntimeError: for top-p without ``vector_fetch_fn``.

        Example:
            >>> lsh.query(np.array([1.0, 0.0, 0.0]), topk=1)
            [1]
        """
        query = as_vector(vector, self.dim)
        topk = check_positive_int(topk, "topk", allow_none=topp is not None)
        if topk is not None:
            check_limit(topk, "topk", MAX_TOPK, "ask for fewer results", low=1)
        if topp is not None and not (
            isinstance(topp, (int, float)) and not isinstance(topp, bool) and 0.0 <= topp <= 1.0
        ):
            raise ValueError(f"topp must be a fraction in [0, 1], got {topp!r}")
        if topp is not None:
            self._require_fetch("top-p queries rerank by exact cosine and")
        with self._reading():
            return self._query(query, topk, topp)

    def _query(
        self, query: npt.NDArray[np.float32], topk: int | None, topp: float | None
    ) -> list[int] | list[tuple[int, float]]:
        if topp is None:
            assert topk is not None
            ids, _ = self._kind.top(query[None], topk, self.extra_probes)[0]
            return [int(i) for i in ids]
        ids, _ = self._kind.top(query[None], self.rerank_candidates, self.extra_probes)[0]
        if ids.size == 0:
            return []
        sims = rerank_cosines(query, self._fetch_raw(ids), FETCHED)
        keep = math.ceil(topp * ids.size)
        if topk is not None:
            keep = min(keep, topk)
        order = np.lexsort((ids, -sims))[:keep]
        return [(int(ids[i]), float(sims[i])) for i in order]

    def search(
        self, queries: npt.ArrayLike, k: int = 10, *, rerank: bool | None = None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Search a batch of queries at once, FAISS style.

        With IVF-PQ the probed lists are read in pipelined round trips of 32 queries
        that share one call's bound (:mod:`lshrs.limits`). With a rerank the best
        ``rerank_candidates`` candidates of each query are scored by exact cosine,
        their vectors fetched with one ``vector_fetch_fn`` call for the whole batch.

        Args:
            queries: float ``(n, dim)``.
            k: results per query.
            rerank: rank by exact cosine (needs ``vector_fetch_fn``); default: when
                ``vector_fetch_fn`` is set.

        Returns:
            ``(scores, ids)``: float32 and int64 ``(n, k)``, best first. Scores are
            cosines when reranked, else approximate (IVF-PQ: estimated inner products
            of the normalised vectors; buckets: colliding bands). Rows with fewer
            than ``k`` results are padded with score ``-inf`` and id ``-1``.

        Raises:
            ValueError: for bad queries or ``k``.
            RuntimeError: for ``rerank=True`` without ``vector_fetch_fn``.

        Example:
            >>> scores, ids = lsh.search(np.eye(3)[:2], k=1, rerank=False)
            >>> ids.shape, scores.dtype
            ((2, 1), dtype('float32'))
        """
        array = as_vectors(queries, self.dim, "queries")
        k = check_limit(k, "k", MAX_TOPK, "ask for fewer results", low=1)
        rerank = self.vector_fetch_fn is not None if rerank is None else bool(rerank)
        if rerank:
            self._require_fetch("rerank=True")
        with self._reading():
            return self._search(array, k, rerank)

    def _search(
        self, array: npt.NDArray[np.float32], k: int, rerank: bool
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        depth = self.rerank_candidates if rerank else k
        kept = self._kind.top(array, depth, self.extra_probes)
        if rerank:
            union = np.unique(np.concatenate([cand for cand, _ in kept]))
            vectors = self._fetch_raw(union) if union.size else np.empty((0, self.dim))
            for row, (cand, _) in enumerate(kept):
                sims = rerank_cosines(array[row], vectors[np.searchsorted(union, cand)], FETCHED)
                kept[row] = (cand, sims.astype(np.float32))
        scores = np.full((array.shape[0], k), -np.inf, dtype=np.float32)
        ids = np.full((array.shape[0], k), -1, dtype=np.int64)
        for row, (cand, s) in enumerate(kept):
            order = np.lexsort((cand, -s))[:k]
            ids[row, : order.size] = cand[order]
            scores[row, : order.size] = s[order]
        return scores, ids

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """A read after the writes in flight, with BLAS threads as
        :meth:`_small_products` chooses."""
        self._flush_buffer()
        with self._small_products():
            yield

    def candidate_count(self, vector: npt.ArrayLike) -> int:
        """How many ids a query for ``vector`` reads from Redis before ranking: the
        records of its probed lists (IVF-PQ), or the distinct ids of its buckets.

        Example:
            >>> lsh.candidate_count(np.array([1.0, 0.0, 0.0])) >= 1
            True
        """
        query = as_vector(vector, self.dim)
        self._flush_buffer()
        return self._kind.candidate_count(query, self.extra_probes)

    def get_top_k(self, vector: npt.ArrayLike, topk: int = 10) -> list[int]:
        """Top-k ids by approximate score, without reranking (see :meth:`query`).

        Example:
            >>> lsh.get_top_k(np.array([0.0, 1.0, 0.0]), topk=1)
            [2]
        """
        result = self.query(vector, topk=topk)
        return result  # type: ignore[return-value]

    def get_above_p(self, vector: npt.ArrayLike, p: float = 0.95) -> list[tuple[int, float]]:
        """The most similar ``ceil(p * candidates)`` candidates with their cosine
        similarity, most similar first (see :meth:`query`, top-p mode, with no topk cap).
        """
        result = self.query(vector, topk=None, topp=p)
        return result  # type: ignore[return-value]
