"""LSHRS: the index, orchestrating hashing (numpy), storage (Redis scripts) and rerank."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from redis.client import NEVER_DECODE

from lshrs.config.bands import get_optimal_config
from lshrs.lists import ListIndex
from lshrs.progress import Progress
from lshrs.schemes import SignatureScheme, scheme_from_model
from lshrs.schemes.base import FORMAT_VERSION
from lshrs.schemes.hyperplane import LSHHasher
from lshrs.schemes.ivfpq import IVFPQ
from lshrs.semantic import SemanticIds, code_paths
from lshrs.similarity import rerank_cosines
from lshrs.sources import open_batches
from lshrs.storage import RedisStorage
from lshrs.threads import single_threaded_blas
from lshrs.validation import (
    as_ids,
    as_vector,
    as_vectors,
    check_positive_int,
    same_length,
    unique_ids,
)
from lshrs.verify import VerifyReport, verify_index

VectorFetchFn = Callable[[Sequence[int]], Any]
IDS_PER_CALL = 1000
"""Ids per insert script call: one call blocks Redis for roughly 10-30 ms."""
MODEL_FORMAT = "lshrs-model"


class LSHRS:
    """A locality-sensitive hash index in Redis over vectors stored elsewhere.

    Random-hyperplane signatures are split into ``num_bands`` bands of
    ``rows_per_band`` bits; each band's signature names a Redis set (bucket) of
    ids. Queries read the query's buckets in one round trip and rank ids by how
    many bands they collide in; top-p queries rerank candidates by exact cosine,
    fetching their vectors with ``vector_fetch_fn``.

    Args:
        dim: dimension of the vectors; fixed for the life of the index.
        num_perm: hash bits to spend when bands/rows are derived.
        num_bands: bands; derived with ``rows_per_band`` from ``num_perm`` and
            ``similarity_threshold`` by :func:`get_optimal_config` when both are None,
            or as ``num_perm // rows_per_band`` when only this one is None.
        rows_per_band: bits per band (see ``num_bands``).
        similarity_threshold: cosine similarity the derived configuration targets.
        buffer_size: vectors hashed and written per pipelined flush in :meth:`index`.
        vector_fetch_fn: ``fetch(ids) -> array (len(ids), dim)`` in the order of
            ``ids``; needed for top-p queries and for :meth:`index` without vectors.
        storage: a ready :class:`RedisStorage`; then the ``redis_*`` arguments are unused.
        redis_host: Redis hostname.
        redis_port: Redis port.
        redis_db: Redis database number.
        redis_password: Redis password.
        redis_prefix: prefix of every key of this index (any characters but braces).
        decode_responses: passed on to the redis-py client.
        seed: seed of the random hyperplanes.
        redis_url: keyword-only; a full ``redis://`` or ``rediss://`` URL instead of
            host/port/db/password.
        redis_username: keyword-only; ACL username.
        extra_probes: keyword-only; buckets read per query beyond one per band
            (multi-probe). More probes find more neighbours at the cost of more
            candidates and a slower query.
        rerank_candidates: keyword-only; how many candidates (best collision counts
            first) a top-p query fetches and reranks by exact cosine.
        hasher: keyword-only; a ready signature scheme (see
            :class:`lshrs.schemes.SignatureScheme`) instead of random hyperplanes, or
            an :class:`lshrs.schemes.ivfpq.IVFPQ` model for compressed inverted lists (the
            recommended index for dense embeddings: :func:`lshrs.corpus_config`);
            then ``num_perm``, ``num_bands``, ``rows_per_band``,
            ``similarity_threshold`` and ``seed`` are unused. With IVF-PQ,
            ``rerank_candidates`` is how many of the best-scored codes a top-p query
            or :meth:`search` reranks by exact cosine.

    Raises:
        ValueError: for an invalid argument, or when an index with another
            configuration already lives under ``redis_prefix``.
        redis.exceptions.RedisError: when Redis cannot be reached.

    Example:
        >>> lsh = LSHRS(dim=3, num_bands=4, rows_per_band=2, redis_url=redis_url,
        ...             redis_prefix=prefix)
        >>> lsh.index([1, 2], np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        >>> lsh.get_top_k(np.array([1.0, 0.1, 0.0]), topk=1)
        [1]
    """

    def __init__(
        self,
        dim: int,
        num_perm: int = 128,
        num_bands: int | None = None,
        rows_per_band: int | None = None,
        similarity_threshold: float = 0.5,
        buffer_size: int = 10000,
        vector_fetch_fn: VectorFetchFn | None = None,
        storage: RedisStorage | None = None,
        redis_host: str = "localhost",
        redis_port: int = 6379,
        redis_db: int = 0,
        redis_password: str | None = None,
        redis_prefix: str = "lsh",
        decode_responses: bool = False,
        seed: int = 42,
        *,
        redis_url: str | None = None,
        redis_username: str | None = None,
        extra_probes: int = 0,
        rerank_candidates: int = 1000,
        hasher: SignatureScheme | IVFPQ | None = None,
    ) -> None:
        dim = check_positive_int(dim, "dim")  # type: ignore[assignment]
        num_perm = check_positive_int(num_perm, "num_perm")  # type: ignore[assignment]
        num_bands = check_positive_int(num_bands, "num_bands", allow_none=True)
        rows_per_band = check_positive_int(rows_per_band, "rows_per_band", allow_none=True)
        if isinstance(hasher, IVFPQ):
            if hasher.dim != dim:
                raise ValueError(f"hasher is for dim={hasher.dim}, but dim={dim} was given")
            num_bands, rows_per_band = 1, 1
        elif hasher is not None:
            if not isinstance(hasher, SignatureScheme):
                raise ValueError(f"hasher must implement SignatureScheme, got {hasher!r}")
            if hasher.dim != dim:
                raise ValueError(f"hasher is for dim={hasher.dim}, but dim={dim} was given")
            num_bands, rows_per_band = hasher.num_bands, getattr(hasher, "rows_per_band", 1)
        if num_bands is None and rows_per_band is None:
            num_bands, rows_per_band = get_optimal_config(num_perm, similarity_threshold)
        elif num_bands is None or rows_per_band is None:
            given = num_bands if num_bands is not None else rows_per_band
            assert given is not None
            if given > num_perm:
                raise ValueError(
                    f"num_bands/rows_per_band {given} must not exceed num_perm {num_perm}; "
                    "raise num_perm or give both num_bands and rows_per_band"
                )
            num_bands, rows_per_band = (
                (num_bands, num_perm // num_bands)
                if num_bands is not None
                else (num_perm // rows_per_band, rows_per_band)  # type: ignore[operator]
            )
        else:
            num_perm = num_bands * rows_per_band
        if not 0.0 < similarity_threshold < 1.0:
            raise ValueError(f"similarity_threshold must be in (0, 1), got {similarity_threshold}")
        if isinstance(extra_probes, bool) or not isinstance(extra_probes, int) or extra_probes < 0:
            raise ValueError(f"extra_probes must be an integer >= 0, got {extra_probes!r}")
        if vector_fetch_fn is not None and not callable(vector_fetch_fn):
            raise ValueError("vector_fetch_fn must be callable: fetch(ids) -> (len(ids), dim)")

        assert num_bands is not None and rows_per_band is not None
        self.dim: int = dim
        self.num_perm: int | None = (
            num_perm if hasher is None or hasattr(hasher, "rows_per_band") else None
        )
        """Hash bits in use; None for schemes without bit rows (k-means, RQ, IVF-PQ)."""
        self.similarity_threshold = float(similarity_threshold)
        self.buffer_size: int = check_positive_int(buffer_size, "buffer_size")  # type: ignore[assignment]
        self.rerank_candidates: int = check_positive_int(  # type: ignore[assignment]
            rerank_candidates, "rerank_candidates"
        )
        self.extra_probes = extra_probes
        self.vector_fetch_fn = vector_fetch_fn
        self.hasher: SignatureScheme | IVFPQ = (
            hasher if hasher is not None else LSHHasher(num_bands, rows_per_band, dim, seed)
        )
        self._redis_settings = {
            "redis_host": redis_host,
            "redis_port": redis_port,
            "redis_db": redis_db,
            "redis_prefix": storage.prefix if storage is not None else redis_prefix,
        }
        if storage is None:
            storage = RedisStorage(
                redis_host,
                redis_port,
                redis_db,
                redis_password,
                redis_prefix,
                decode_responses,
                url=redis_url,
                username=redis_username,
            )
        self.storage = storage
        self.storage.attach(
            self.hasher.fingerprint, self.hasher.config_fields(), self.hasher.model_blob()
        )
        self._lists: ListIndex | None = (
            ListIndex(storage, self.hasher) if isinstance(self.hasher, IVFPQ) else None
        )
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future[int] | None = None
        self._semantic: SemanticIds | None = None

    # -- configuration ---------------------------------------------------------------

    @property
    def num_bands(self) -> int:
        return self.hasher.num_bands

    @property
    def _scheme(self) -> SignatureScheme:
        """The bucket scheme; only called on bucket indexes."""
        assert not isinstance(self.hasher, IVFPQ)
        return self.hasher

    @property
    def rows_per_band(self) -> int | None:
        """Bits per band for hyperplanes; None for schemes without bit rows."""
        rows: int | None = getattr(self.hasher, "rows_per_band", None)
        return rows

    @property
    def seed(self) -> int | None:
        seed: int | None = getattr(self.hasher, "seed", None)
        return seed

    @property
    def redis_prefix(self) -> str:
        return self.storage.prefix

    # -- writes ----------------------------------------------------------------------

    def ingest(self, index: int, vector: npt.ArrayLike) -> None:
        """Add (or re-add) one vector, written to Redis before this returns.

        Args:
            index: the vector's id, an integer in ``[0, 2**53 - 1]``.
            vector: shape ``(dim,)``.

        Raises:
            ValueError: for a bad id or vector; nothing is written then.

        Example:
            >>> lsh.ingest(42, np.ones(3, dtype=np.float32))
        """
        ids = as_ids([index], "index")
        array = as_vector(vector, self.dim).reshape(1, self.dim)
        self._flush_buffer()
        if self._lists is not None:
            with single_threaded_blas():
                calls = self._lists.insert_calls(ids, array)
            self._lists.insert(calls)
            self._lists.compact()
            return
        self.storage.insert(ids, self._scheme.hash_batch(array))

    def index(
        self, indices: Sequence[int] | npt.ArrayLike, vectors: npt.ArrayLike | None = None
    ) -> None:
        """Add a batch of vectors.

        Everything is validated before the first write. Vectors are hashed in chunks
        of ``buffer_size`` (one matrix product each) and written as pipelined calls
        of the insert script, each atomic for its ids, while the next chunk is hashed.
        Re-indexing an id with the same vector changes nothing; with a new vector the
        id moves to its new buckets.

        Args:
            indices: ids, integers in ``[0, 2**53 - 1]``, distinct.
            vectors: shape ``(n, dim)``; when None they are fetched with
                ``vector_fetch_fn(indices)``.

        Raises:
            ValueError: for bad ids or vectors (nothing is written then).
            RuntimeError: when ``vectors`` is None and there is no ``vector_fetch_fn``.

        Example:
            >>> lsh.index([7, 8], np.eye(3)[:2])
        """
        self._index(indices, vectors, wait=True)
        if self._lists is not None:
            self._lists.compact()

    def _index(
        self, indices: Sequence[int] | npt.ArrayLike, vectors: npt.ArrayLike | None, wait: bool
    ) -> int:
        ids = unique_ids(as_ids(indices))
        if vectors is None:
            vectors = self._fetch(ids)
        array = as_vectors(vectors, self.dim)
        same_length(ids, array)
        self._flush_buffer()
        for start in range(0, ids.size, self.buffer_size):
            chunk = slice(start, start + self.buffer_size)
            write: Callable[[], int]
            if self._lists is not None:
                write = partial(
                    self._lists.insert, self._lists.insert_calls(ids[chunk], array[chunk])
                )
            else:
                signatures = self._scheme.hash_batch(array[chunk])
                chunk_ids = ids[chunk]
                batches = [
                    (chunk_ids[i : i + IDS_PER_CALL], signatures[i : i + IDS_PER_CALL])
                    for i in range(0, chunk_ids.size, IDS_PER_CALL)
                ]
                write = partial(self.storage.insert_batches, batches)
            self._flush_buffer()
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lshrs-writer")
            self._pending = self._writer.submit(write)
        if wait:
            self._flush_buffer()
        return int(ids.size)

    def create_signatures(
        self,
        format: str,
        dsn: str | None = None,
        table: str | None = None,
        index_column: str | None = None,
        vector_column: str | None = None,
        batch_size: int = 10000,
        where_clause: str | None = None,
        connection_factory: Callable[[], Any] | None = None,
        file_path: str | Path | None = None,
        *,
        progress: bool | None = None,
    ) -> int:
        """Stream vectors from PostgreSQL or Parquet into the index.

        Reading the next batch overlaps with writing the previous one. Each batch is
        validated before it is written, so a bad row stops the stream with nothing of
        its batch indexed. Inserts are idempotent: after an interruption, run the same
        call again to finish.

        Args:
            format: ``"postgres"`` or ``"parquet"``.
            dsn: PostgreSQL connection string (or give ``connection_factory``).
            table: table name (PostgreSQL).
            index_column: column of integer ids.
            vector_column: column of vectors.
            batch_size: rows per batch read and written.
            where_clause: trusted SQL filter (PostgreSQL), e.g. ``"lang = 'en'"``.
            connection_factory: ``() -> psycopg.Connection`` instead of ``dsn``.
            file_path: a Parquet file or a directory of them.
            progress: show rows done and rows/s on stderr; None shows it when stderr
                is a terminal.

        Returns:
            The number of rows indexed.

        Raises:
            ValueError: for a bad argument or a bad row (naming it).
            ImportError: when psycopg or pyarrow is not installed.

        Example:
            >>> demo = LSHRS(dim=384, redis_url=redis_url, redis_prefix=prefix + "-demo")
            >>> demo.create_signatures(format="parquet", file_path=demo_parquet,
            ...                        index_column="id", vector_column="vector")
            5000
            >>> demo.clear()
        """
        batches, total = open_batches(
            format,
            dsn=dsn,
            table=table,
            index_column=index_column,
            vector_column=vector_column,
            batch_size=batch_size,
            where_clause=where_clause,
            connection_factory=connection_factory,
            file_path=file_path,
        )
        report = Progress("indexing", total=total, enabled=progress)
        try:
            for ids, vectors in batches:
                report.update(self._index(ids, vectors, wait=False))
            self._flush_buffer()
            if self._lists is not None:
                self._lists.compact()
        except BaseException:
            pending, self._pending = self._pending, None
            if pending is not None:
                pending.exception()  # let the previous batch land; the error raised is this one
            raise
        finally:
            report.close()
        return report.done

    def _flush_buffer(self) -> None:
        """Wait for the pipelined writes in flight; re-raise their error, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def delete(self, indices: int | Sequence[int]) -> None:
        """Remove ids from the index; ids that are not indexed are ignored.

        Each id costs one reverse-index read and one SREM per band, inside one
        atomic script call (one call per 5,000 ids).

        Args:
            indices: one id or a sequence of ids.

        Raises:
            ValueError: for ids that are not integers in ``[0, 2**53 - 1]``.

        Example:
            >>> lsh.delete(42)
            >>> lsh.delete([7, 8])
        """
        ids = as_ids(indices)
        self._flush_buffer()
        if self._lists is not None:
            self._lists.delete(ids)
        else:
            self.storage.delete(ids)

    def clear(self) -> None:
        """Delete every key of this index (buckets, reverse index, configuration).

        Irreversible. The instance stays usable: the next write recreates the
        configuration.
        """
        self._flush_buffer()
        self.storage.clear()

    # -- reads -----------------------------------------------------------------------

    def query(
        self, vector: npt.ArrayLike, topk: int | None = 10, topp: float | None = None
    ) -> list[int] | list[tuple[int, float]]:
        """Search for vectors similar to ``vector``.

        Top-k mode (``topp`` None): one round trip; returns up to ``topk`` ids ordered
        by the number of bands they share with the query, ties by smaller id.

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
        if topp is not None and not (
            isinstance(topp, (int, float)) and not isinstance(topp, bool) and 0.0 <= topp <= 1.0
        ):
            raise ValueError(f"topp must be a fraction in [0, 1], got {topp!r}")
        if topp is not None and self.vector_fetch_fn is None:
            raise RuntimeError(
                "top-p queries rerank by exact cosine and need vectors: pass "
                "vector_fetch_fn=fetch(ids) -> array (len(ids), dim) to LSHRS"
            )
        self._flush_buffer()
        if self._lists is not None:
            with single_threaded_blas():
                return self._query_lists(query, topk, topp)
        codes = self._scheme.probe_codes(query, self.extra_probes)
        if topp is None:
            assert topk is not None
            _, ids, _ = self.storage.query(codes, topk)
            return [int(i) for i in ids]

        _, ids, _ = self.storage.query(codes, self.rerank_candidates)
        if ids.size == 0:
            return []
        sims = rerank_cosines(query, self._fetch_raw(ids), "vector_fetch_fn result")
        keep = math.ceil(topp * ids.size)
        if topk is not None:
            keep = min(keep, topk)
        order = np.lexsort((ids, -sims))[:keep]
        return [(int(ids[i]), float(sims[i])) for i in order]

    def _query_lists(
        self, query: npt.NDArray[np.float32], topk: int | None, topp: float | None
    ) -> list[int] | list[tuple[int, float]]:
        """IVF-PQ: top-k by approximate score, or top-p after an exact rerank."""
        assert self._lists is not None and isinstance(self.hasher, IVFPQ)
        ids, scores = self._lists.candidates(query[None], self.hasher.nprobe)[0]
        if topp is None:
            assert topk is not None
            return [int(i) for i in ids[best(scores, ids, topk)]]
        ids = ids[best(scores, ids, self.rerank_candidates)]
        if ids.size == 0:
            return []
        sims = rerank_cosines(query, self._fetch_raw(ids), "vector_fetch_fn result")
        keep = math.ceil(topp * ids.size)
        if topk is not None:
            keep = min(keep, topk)
        order = np.lexsort((ids, -sims))[:keep]
        return [(int(ids[i]), float(sims[i])) for i in order]

    def search(
        self, queries: npt.ArrayLike, k: int = 10, *, rerank: bool | None = None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Search a batch of queries at once, FAISS style.

        With IVF-PQ the probed lists of all queries are read in one pipelined round
        trip; with a reranking step the best ``rerank_candidates`` codes of each query
        are scored by exact cosine, their vectors fetched with one
        ``vector_fetch_fn`` call for the whole batch. Bucket indexes answer query by
        query (top-p with ``topp=1``, or top-k by collisions).

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
        k = check_positive_int(k, "k")  # type: ignore[assignment]
        rerank = self.vector_fetch_fn is not None if rerank is None else bool(rerank)
        if rerank and self.vector_fetch_fn is None:
            raise RuntimeError(
                "rerank=True needs vectors: pass vector_fetch_fn=fetch(ids) -> array "
                "(len(ids), dim) to LSHRS"
            )
        self._flush_buffer()
        scores = np.full((array.shape[0], k), -np.inf, dtype=np.float32)
        ids = np.full((array.shape[0], k), -1, dtype=np.int64)
        if self._lists is None:
            for row, query in enumerate(array):
                if rerank:
                    hits = self.query(query, topk=k, topp=1.0)
                    pairs = [(int(i), float(s)) for i, s in hits]  # type: ignore[misc]
                else:
                    _, found_ids, counts = self.storage.query(
                        self._scheme.probe_codes(query, self.extra_probes), k
                    )
                    pairs = list(
                        zip(found_ids.tolist(), counts.astype(float).tolist(), strict=True)
                    )
                for col, (index, score) in enumerate(pairs):
                    ids[row, col], scores[row, col] = index, score
            return scores, ids
        assert isinstance(self.hasher, IVFPQ)
        with single_threaded_blas():
            return self._search_lists(array, k, rerank, scores, ids)

    def _search_lists(
        self,
        array: npt.NDArray[np.float32],
        k: int,
        rerank: bool,
        scores: npt.NDArray[np.float32],
        ids: npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        assert self._lists is not None and isinstance(self.hasher, IVFPQ)
        depth = self.rerank_candidates if rerank else k
        kept = []
        for cand, approx in self._lists.candidates(array, self.hasher.nprobe):
            top = best(approx, cand, depth)
            kept.append((cand[top], approx[top]))
        if rerank:
            union = np.unique(np.concatenate([cand for cand, _ in kept]))
            vectors = self._fetch_raw(union) if union.size else np.empty((0, self.dim))
            for row, (cand, _) in enumerate(kept):
                sims = rerank_cosines(
                    array[row], vectors[np.searchsorted(union, cand)], "vector_fetch_fn result"
                )
                kept[row] = (cand, sims.astype(np.float32))
        for row, (cand, s) in enumerate(kept):
            order = np.lexsort((cand, -s))[:k]
            ids[row, : order.size] = cand[order]
            scores[row, : order.size] = s[order]
        return scores, ids

    def candidate_count(self, vector: npt.ArrayLike) -> int:
        """How many ids a query for ``vector`` reads from Redis before ranking: the
        records of its probed lists (IVF-PQ), or the distinct ids of its buckets.

        Example:
            >>> lsh.candidate_count(np.array([1.0, 0.0, 0.0])) >= 1
            True
        """
        query = as_vector(vector, self.dim)
        self._flush_buffer()
        if self._lists is not None:
            assert isinstance(self.hasher, IVFPQ)
            return int(self._lists.candidates(query[None], self.hasher.nprobe)[0][0].size)
        total, _, _ = self.storage.query(self._scheme.probe_codes(query, self.extra_probes), 0)
        return total

    def get_top_k(self, vector: npt.ArrayLike, topk: int = 10) -> list[int]:
        """Top-k ids by band collisions, without reranking (see :meth:`query`).

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

    def _fetch(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return as_vectors(self._fetch_raw(ids), self.dim, "vector_fetch_fn result")

    def _fetch_raw(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """``vector_fetch_fn(ids)``, shape-checked; values are checked by the caller."""
        if self.vector_fetch_fn is None:
            raise RuntimeError(
                "no vectors given and no vector_fetch_fn: pass vectors, or "
                "vector_fetch_fn=fetch(ids) -> array (len(ids), dim) to LSHRS"
            )
        fetched = np.asarray(self.vector_fetch_fn(ids.tolist()))
        if fetched.ndim != 2 or fetched.shape != (ids.size, self.dim):
            raise ValueError(
                f"vector_fetch_fn returned shape {fetched.shape} for {ids.size} ids; "
                f"expected ({ids.size}, {self.dim}) in the order of the ids"
            )
        return fetched

    def stats(self) -> dict[str, Any]:
        """Configuration and index statistics.

        Returns:
            A dict with ``dim``, ``num_perm``, ``num_bands``, ``rows_per_band``,
            ``similarity_threshold``, ``seed``, ``buffer_size``, ``redis_prefix``,
            ``scheme``, ``fingerprint``, ``extra_probes``, ``rerank_candidates`` and
            ``num_indexed`` (ids in the index now).

        Example:
            >>> lsh.stats()["num_bands"]
            4
        """
        self._flush_buffer()
        return {
            **self._settings(),
            "redis_prefix": self.redis_prefix,
            "fingerprint": self.hasher.fingerprint,
            "num_indexed": self.storage.count(),
        }

    def _settings(self) -> dict[str, Any]:
        """The configuration, as both :meth:`stats` and :meth:`save_to_disk` report it."""
        return {
            "scheme": self.hasher.scheme,
            "dim": self.dim,
            "num_perm": self.num_perm,
            "num_bands": self.num_bands,
            "rows_per_band": self.rows_per_band,
            "similarity_threshold": self.similarity_threshold,
            "seed": self.seed,
            "buffer_size": self.buffer_size,
            "extra_probes": self.extra_probes,
            "rerank_candidates": self.rerank_candidates,
            **(
                {
                    "nlist": self.hasher.nlist,
                    "nprobe": self.hasher.nprobe,
                    "code_bytes": self.hasher.code_bytes,
                }
                if isinstance(self.hasher, IVFPQ)
                else {}
            ),
        }

    # -- semantic IDs ----------------------------------------------------------------

    def assign_semantic_ids(
        self, indices: Sequence[int] | npt.ArrayLike, vectors: npt.ArrayLike | None = None
    ) -> list[str]:
        """Give indexed ids collision-free semantic IDs from their code paths.

        An id's path is its code under a learned scheme (``"12-5-33"``: the RQ code
        over all levels, or each band's k-means list). The first id on a path gets
        the path itself, later ones ``"12-5-33-1"``, ``"12-5-33-2"``, ...; assigned
        atomically in Redis (``lua/semantic_id.lua``), stable once assigned (also
        when the id is re-indexed), released by :meth:`delete` and never reused.

        Args:
            indices: indexed ids, distinct.
            vectors: their vectors ``(n, dim)`` (the paths are computed from them);
                when None they are fetched with ``vector_fetch_fn``.

        Returns:
            Each id's semantic ID, in the order of ``indices``.

        Raises:
            ValueError: for bad ids or vectors, or an id that is not indexed.
            RuntimeError: for random hyperplanes (no code paths), or no vectors and
                no ``vector_fetch_fn``.

        Example:
            >>> lsh.assign_semantic_ids([1, 2], vectors)  # doctest: +SKIP
            ['12-5-33', '12-5-33-1']
        """
        ids = unique_ids(as_ids(indices))
        array = as_vectors(self._fetch(ids) if vectors is None else vectors, self.dim)
        same_length(ids, array)
        paths = code_paths(self._scheme, array)
        self._flush_buffer()
        return self._semantic_ids().assign(ids, paths)

    def semantic_id(self, index: int) -> str | None:
        """The semantic ID of ``index``, or None if it has none (see
        :meth:`assign_semantic_ids`).

        Raises:
            ValueError: for an id that is not an integer in ``[0, 2**53 - 1]``.
        """
        (checked,) = as_ids([index], "index").tolist()
        self._flush_buffer()
        return self._semantic_ids().get(checked)

    def resolve_semantic_id(self, name: str) -> int | None:
        """The id holding semantic ID ``name``, or None."""
        self._flush_buffer()
        return self._semantic_ids().resolve(name)

    def _semantic_ids(self) -> SemanticIds:
        if self._semantic is None:
            self._semantic = SemanticIds(self.storage)
        return self._semantic

    def verify(self, repair: bool = False) -> VerifyReport:
        """Check that the index in Redis is consistent; optionally repair it.

        Every bucket member must have a reverse entry naming that bucket and vice
        versa, the stored configuration must be this client's, and the stored count
        must equal the number of reverse entries. The check runs in small atomic
        batches (see :func:`lshrs.verify.verify_index`); run it with no concurrent
        writers for an exact count.

        Args:
            repair: rebuild memberships from the reverse index (add missing, remove
                stray), drop malformed entries and correct the count.

        Returns:
            A :class:`lshrs.verify.VerifyReport`; ``.ok`` is True when nothing was wrong.

        Example:
            >>> lsh.verify().ok
            True
        """
        self._flush_buffer()
        if self._lists is not None:
            return self._lists.verify(repair=repair)
        return verify_index(
            self.storage,
            self.hasher.fingerprint,
            self.hasher.config_fields(),
            self.hasher.model_blob(),
            repair=repair,
        )

    # -- persistence -----------------------------------------------------------------

    def save_to_disk(self, path: str | Path) -> None:
        """Save the configuration as a small JSON file.

        Only ``dim``, ``seed`` and the band configuration are needed: the planes are
        regenerated from them on load (a centred hasher's centre is written too, as
        ``scheme_model``). No password is written.

        Example:
            >>> lsh.save_to_disk(tmp_path / "model.lsh")
        """
        model = {
            "format": MODEL_FORMAT,
            "format_version": FORMAT_VERSION,
            **self._settings(),
            **self._redis_settings,
        }
        if not isinstance(self.hasher, LSHHasher) or self.hasher.center is not None:
            model["scheme_model"] = self.hasher.to_model()
        Path(path).write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_redis(cls, redis_prefix: str = "lsh", **kwargs: Any) -> LSHRS:
        """Attach to an index that already exists in Redis, reading its configuration.

        Args:
            redis_prefix: the index's prefix.
            **kwargs: connection arguments (``redis_url``, ``redis_host``, ``redis_port``,
                ``redis_db``, ``redis_password``, ``redis_username``) and any other
                constructor argument (``vector_fetch_fn``, ``extra_probes``, ...).

        Raises:
            ValueError: if no index exists under the prefix, or it uses a learned
                scheme (open those with :meth:`load_from_disk`).

        Example:
            >>> LSHRS.from_redis(prefix, redis_url=redis_url).num_bands
            4
        """
        connection = {
            "host": kwargs.pop("redis_host", "localhost"),
            "port": kwargs.pop("redis_port", 6379),
            "db": kwargs.pop("redis_db", 0),
            "password": kwargs.pop("redis_password", None),
            "username": kwargs.pop("redis_username", None),
            "url": kwargs.pop("redis_url", None),
            "decode_responses": kwargs.pop("decode_responses", False),
        }
        storage = kwargs.pop("storage", None) or RedisStorage(prefix=redis_prefix, **connection)
        config = storage.config()
        if not config:
            raise ValueError(f"no lshrs index under redis_prefix {redis_prefix!r}")
        if config.get("scheme") == IVFPQ.scheme:
            blob = storage.client.execute_command("GET", storage.keys.model, **{NEVER_DECODE: True})
            model = IVFPQ.from_blob(blob or b"", nprobe=int(config.get("nprobe", 1)))
            kwargs.setdefault("rerank_candidates", int(config.get("rerank_candidates", 1000)))
            return cls(model.dim, hasher=model, storage=storage, **kwargs)
        if config.get("scheme") != LSHHasher.scheme:
            raise ValueError(
                f"index {redis_prefix!r} uses the {config.get('scheme')!r} scheme; open it "
                "with LSHRS.load_from_disk(<its saved model>)"
            )
        return cls(
            dim=int(config["dim"]),
            num_bands=int(config["num_bands"]),
            rows_per_band=int(config["rows_per_band"]),
            seed=int(config["seed"]),
            storage=storage,
            **kwargs,
        )

    @classmethod
    def load_from_disk(cls, path: str | Path, **kwargs: Any) -> LSHRS:
        """Recreate an index from :meth:`save_to_disk`'s file.

        Args:
            path: the saved file.
            **kwargs: constructor arguments that override the saved ones, such as
                ``redis_host``, ``redis_url`` or ``vector_fetch_fn``.

        Raises:
            ValueError: if the file is not an lshrs model.

        Example:
            >>> lsh.save_to_disk(tmp_path / "model.lsh")
            >>> again = LSHRS.load_from_disk(tmp_path / "model.lsh", redis_url=redis_url)
            >>> again.stats()["fingerprint"] == lsh.stats()["fingerprint"]
            True
        """
        try:
            model = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not an lshrs model file: {error}") from error
        if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
            raise ValueError(f"{path} is not an lshrs model file")
        if model.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path} has model format {model.get('format_version')}; this lshrs reads "
                f"format {FORMAT_VERSION}"
            )
        params = {
            key: model[key]
            for key in (
                "dim",
                "num_perm",
                "num_bands",
                "rows_per_band",
                "similarity_threshold",
                "seed",
                "buffer_size",
                "redis_host",
                "redis_port",
                "redis_db",
                "redis_prefix",
                "extra_probes",
                "rerank_candidates",
            )
            if model.get(key) is not None
        }
        if "scheme_model" in model and "hasher" not in kwargs:
            if model.get("scheme") == IVFPQ.scheme:
                params["hasher"] = IVFPQ.from_model(model["scheme_model"])
            else:
                params["hasher"] = scheme_from_model(model["scheme"], model["scheme_model"])
        params.update(kwargs)
        return cls(**params)

    @classmethod
    def from_faiss(cls, index: Any, nprobe: int | None = None, **kwargs: Any) -> LSHRS:
        """An index whose buckets are a trained FAISS IVF index's lists.

        The coarse quantizer's centroids become a :class:`lshrs.schemes.kmeans.KMeansHasher`;
        FAISS's inverted lists are not copied: index your vectors with :meth:`index`.
        faiss is imported only here (``pip install 'lshrs[faiss]'``).

        Args:
            index: a trained ``IndexIVFFlat``, ``IndexIVFPQ`` or other IVF index.
            nprobe: lists read per query; default the FAISS index's ``nprobe``.
            **kwargs: other constructor arguments (``redis_url``, ``redis_prefix``, ...).

        Raises:
            ValueError: if faiss is missing or ``index`` is not a trained IVF index.

        Example:
            >>> lsh = LSHRS.from_faiss(ivf_index, nprobe=16, redis_url=redis_url,
            ...                        redis_prefix=prefix)  # doctest: +SKIP
        """
        from lshrs.schemes.kmeans import KMeansHasher

        hasher = KMeansHasher.from_faiss(index, nprobe=nprobe)
        return cls(hasher.dim, hasher=hasher, **kwargs)

    @classmethod
    def from_faiss_ivfpq(cls, index: Any, nprobe: int | None = None, **kwargs: Any) -> LSHRS:
        """An IVF-PQ index loaded from a trained and filled ``faiss.IndexIVFPQ``.

        The centroids, codebooks, ids and codes are copied as they are (no
        re-encoding), so approximate top-k answers match FAISS's. FAISS does not
        normalise vectors; lshrs then scores as FAISS does (its metric, no
        normalisation) and reranks by exact cosine.

        Args:
            index: a trained ``IndexIVFPQ`` with 8-bit codes; ids in ``[0, 2**53 - 1]``.
            nprobe: lists read per query; default the FAISS index's ``nprobe``.
            **kwargs: other constructor arguments (``redis_url``, ``redis_prefix``, ...).

        Raises:
            ValueError: if faiss is missing, the index is of another kind, or its ids
                are out of range or repeated (then nothing is written).

        Example:
            >>> lsh = LSHRS.from_faiss_ivfpq(faiss_index, redis_url=redis_url,
            ...                              redis_prefix=prefix)  # doctest: +SKIP
        """
        model = IVFPQ.from_faiss(index, nprobe=nprobe)
        lsh = cls(model.dim, hasher=model, **kwargs)
        assert lsh._lists is not None
        _, calls = lsh._lists.faiss_calls(index)
        lsh._lists.insert(calls)
        return lsh

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Finish pending writes and release the connection and writer thread."""
        try:
            self._flush_buffer()
        finally:
            if self._writer is not None:
                self._writer.shutdown()
                self._writer = None
            self.storage.close()

    def __enter__(self) -> LSHRS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LSHRS({self.hasher.fingerprint!r}, prefix={self.redis_prefix!r})"


def best(
    scores: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], limit: int
) -> npt.NDArray[np.intp]:
    """Positions of the ``limit`` highest scores, best first, ties by smaller id."""
    if limit < scores.size:
        part = np.argpartition(-scores, limit - 1)[:limit]
    else:
        part = np.arange(scores.size)
    return part[np.lexsort((ids[part], -scores[part]))]
