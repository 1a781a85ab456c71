"""LSHRS: the index, orchestrating a scheme (numpy), its Redis structures and the rerank."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any

from lshrs import persistence
from lshrs.buckets import BucketIndex
from lshrs.cluster import check_migration_wait
from lshrs.code_check import stored_bucket_codes, stored_list_codes, wrong_codes
from lshrs.config import get_optimal_config
from lshrs.connection import open_storage
from lshrs.describe import description
from lshrs.limits import check_query_settings, check_scheme
from lshrs.lists import ListIndex
from lshrs.partitioned import PartitionedIndex, open_partitions
from lshrs.partitions import check_partitions
from lshrs.replication import ReplicaWait
from lshrs.schemes import IVFPQ, KMeansHasher, LSHHasher, Scheme, SignatureScheme
from lshrs.search import SearchMethods
from lshrs.semantic import SemanticIdMethods, SemanticIds
from lshrs.storage import RedisStorage
from lshrs.validation import check_positive_int
from lshrs.verify import VerifyReport
from lshrs.writes import WriteMethods

VectorFetchFn = Callable[[Sequence[int]], Any]
MODEL_FORMAT = persistence.MODEL_FORMAT


class LSHRS(WriteMethods, SearchMethods, SemanticIdMethods):
    """An approximate nearest-neighbour index in Redis over vectors stored elsewhere.

    Random-hyperplane signatures are split into ``num_bands`` bands of
    ``rows_per_band`` bits; each band's signature names a Redis set (bucket) of ids.
    Queries read the query's buckets in one round trip and rank ids by how many bands
    they collide in; top-p queries rerank candidates by exact cosine, fetching their
    vectors with ``vector_fetch_fn``. With ``hasher=`` a learned scheme or IVF-PQ
    (:mod:`lshrs.schemes`) replaces the hyperplanes.

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
        redis_url: keyword-only; a ``redis://`` or ``rediss://`` URL instead of
            host/port/db/password, or ``redis+cluster://host:port`` (any node) for a
            Redis Cluster (:mod:`lshrs.cluster`).
        redis_username: keyword-only; ACL username.
        extra_probes: keyword-only; buckets read per query beyond one per band
            (multi-probe): more neighbours found, more candidates, slower queries.
        rerank_candidates: keyword-only; how many of the best candidates a top-p query
            or :meth:`search` fetches and reranks by exact cosine.
        hasher: keyword-only; a ready scheme (:class:`lshrs.schemes.SignatureScheme`,
            or :class:`lshrs.schemes.ivfpq.IVFPQ` for compressed inverted lists, see
            :func:`lshrs.corpus_config`); then ``num_perm``, ``num_bands``,
            ``rows_per_band``, ``similarity_threshold`` and ``seed`` are unused.
        partitions: keyword-only; split the index into this many partitions, each
            a complete index under its own hash tag, so a Redis Cluster spreads them
            over its masters; ids are routed by :func:`lshrs.partitions.partition_of`
            and every query reads all partitions in one round trip. Fixed for the
            life of the index (another number is refused); 1 keeps the
            unpartitioned layout (docs/cluster.md).
        wait_replicas: keyword-only; after every write call, wait (``WAIT``, at most
            1 s) until this many replicas confirmed it, else raise
            :class:`lshrs.replication.NotReplicatedError`; 0 does not wait.
        migration_wait: keyword-only; on a Redis Cluster, seconds a call to a
            partition whose slot is migrating to another node waits for the move to
            end before :class:`lshrs.cluster.PartitionMigratingError`; None keeps
            the storage's (30 s by default, ``RedisStorage(migration_wait=...)``).

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
        partitions: int = 1,
        wait_replicas: int = 0,
        migration_wait: float | None = None,
    ) -> None:
        dim = check_positive_int(dim, "dim")  # type: ignore[assignment]
        num_perm = check_positive_int(num_perm, "num_perm")  # type: ignore[assignment]
        num_bands = check_positive_int(num_bands, "num_bands", allow_none=True)
        rows_per_band = check_positive_int(rows_per_band, "rows_per_band", allow_none=True)
        if hasher is not None:
            if not isinstance(hasher, (IVFPQ, SignatureScheme)):
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
        extra_probes, rerank_candidates = check_query_settings(extra_probes, rerank_candidates)
        partitions = check_partitions(partitions)
        if (
            isinstance(wait_replicas, bool)
            or not isinstance(wait_replicas, int)
            or wait_replicas < 0
        ):
            raise ValueError(f"wait_replicas must be an integer >= 0, got {wait_replicas!r}")
        if migration_wait is not None:
            migration_wait = check_migration_wait(migration_wait)
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
        self.rerank_candidates = rerank_candidates
        self.extra_probes = extra_probes
        self.vector_fetch_fn = vector_fetch_fn
        self.hasher: Scheme = (
            hasher if hasher is not None else LSHHasher(num_bands, rows_per_band, dim, seed)
        )
        check_scheme(self.hasher)
        self.storage = storage or open_storage(
            redis_prefix,
            redis_host=redis_host,
            redis_port=redis_port,
            redis_db=redis_db,
            redis_password=redis_password,
            redis_username=redis_username,
            redis_url=redis_url,
            decode_responses=decode_responses,
        )
        self.partitions: int = partitions
        """Partitions of the index (1: unpartitioned)."""
        if wait_replicas:
            self.storage.protocol.wait = ReplicaWait(wait_replicas)
        if migration_wait is not None:
            self.storage.protocol.migration_wait = migration_wait
        fields = description(self.hasher, extra_probes, self.rerank_candidates)
        self._kind: BucketIndex | ListIndex | PartitionedIndex
        if partitions > 1:
            self._kind = open_partitions(self.storage, self.hasher, fields, partitions)
        else:
            self.storage.attach(self.hasher.fingerprint, fields, self.hasher.model_blob())
            self._kind = (
                ListIndex(self.storage, self.hasher)
                if isinstance(self.hasher, IVFPQ)
                else BucketIndex(self.storage, self.hasher)
            )
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future[int] | None = None
        self._semantic: SemanticIds | None = None

    @property
    def num_bands(self) -> int:
        return self.hasher.num_bands

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

    # -- reads: query, search, candidate_count, get_top_k, get_above_p (lshrs.search) ----

    def stats(self) -> dict[str, Any]:
        """Configuration and index statistics.

        Returns:
            A dict with ``dim``, ``num_perm``, ``num_bands``, ``rows_per_band``,
            ``similarity_threshold``, ``seed``, ``buffer_size``, ``redis_prefix``,
            ``scheme``, ``fingerprint``, ``extra_probes``, ``rerank_candidates``,
            ``partitions`` and ``num_indexed`` (ids in the index now, over all
            partitions); IVF-PQ adds ``nlist``, ``nprobe`` and ``code_bytes``.

        Example:
            >>> lsh.stats()["num_bands"]
            4
        """
        self._flush_buffer()
        return {
            **self._settings(),
            "redis_prefix": self.redis_prefix,
            "fingerprint": self.hasher.fingerprint,
            "num_indexed": (
                self._kind.count()
                if isinstance(self._kind, PartitionedIndex)
                else self.storage.count()
            ),
        }

    def _settings(self) -> dict[str, Any]:
        """The configuration, as both :meth:`stats` and :meth:`save_to_disk` report it."""
        settings = {
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
            "partitions": self.partitions,
        }
        if isinstance(self.hasher, IVFPQ):
            settings["nlist"] = self.hasher.nlist
            settings["nprobe"] = self.hasher.nprobe
            settings["code_bytes"] = self.hasher.code_bytes
        return settings

    def verify(self, repair: bool = False, *, check_vectors: bool = False) -> VerifyReport:
        """Check that the index in Redis is consistent; optionally repair it.

        Every member must have a reverse entry naming its bucket or list and vice
        versa, the stored configuration must be this client's, and the stored count
        must equal the number of reverse entries. Checks run in small atomic batches;
        run it with no concurrent writers for an exact count.

        Args:
            repair: rebuild memberships from the reverse index, drop malformed entries
                and correct the count; with ``check_vectors``, index the ids with wrong
                codes again from their vectors.
            check_vectors: also fetch every id's vector with ``vector_fetch_fn`` and
                report ids whose stored codes differ from their vectors' (written by a
                client that computes codes wrongly): ``report.wrong_codes``.

        Returns:
            A :class:`lshrs.verify.VerifyReport`; ``.ok`` is True when nothing was wrong.

        Example:
            >>> lsh.verify().ok
            True
        """
        self._flush_buffer()
        report = self._kind.verify(repair=repair)
        if check_vectors:
            parts = self._kind.parts if isinstance(self._kind, PartitionedIndex) else [self._kind]
            stored = chain.from_iterable(
                stored_list_codes(part)
                if isinstance(part, ListIndex)
                else stored_bucket_codes(part.storage)
                for part in parts
            )
            report.wrong_codes = wrong_codes(self.hasher, stored, self._fetch)
            if repair and report.wrong_codes:
                self.index(report.wrong_codes)
        return report

    # -- persistence (lshrs.persistence) ---------------------------------------------

    def save_to_disk(self, path: str | Path) -> None:
        """Save the configuration as a small JSON file (no connection settings).

        Hyperplanes are regenerated from ``dim`` and ``seed`` on load; other schemes
        (and a centred hasher's centre) are written as ``scheme_model``.

        Example:
            >>> lsh.save_to_disk(tmp_path / "model.lsh")
        """
        persistence.save_model(self, path)

    @classmethod
    def load_from_disk(cls, path: str | Path, **kwargs: Any) -> LSHRS:
        """Recreate an index from :meth:`save_to_disk`'s file.

        Args:
            path: the saved file.
            **kwargs: constructor arguments that override the saved ones, such as
                ``redis_url`` or ``vector_fetch_fn``.

        Raises:
            ValueError: if the file is not an lshrs model, or a setting or the
                ``scheme_model`` is missing, mistyped or inconsistent (the message
                names the file and the field).

        Example:
            >>> lsh.save_to_disk(tmp_path / "model.lsh")
            >>> again = LSHRS.load_from_disk(tmp_path / "model.lsh", redis_url=redis_url)
            >>> again.stats()["fingerprint"] == lsh.stats()["fingerprint"]
            True
        """
        return cls(**persistence.load_arguments(path, kwargs))

    @classmethod
    def from_redis(cls, redis_prefix: str = "lsh", **kwargs: Any) -> LSHRS:
        """Attach to an index that already exists in Redis, of any scheme, reading its
        configuration and model from Redis (no model file needed).

        Args:
            redis_prefix: the index's prefix.
            **kwargs: connection arguments (``redis_url``, ``redis_host``, ...) and any
                other constructor argument (``vector_fetch_fn``, ``extra_probes``, ...).

        Raises:
            ValueError: if no index exists under the prefix, or its stored
                configuration or model is damaged (the message names the field).

        Example:
            >>> LSHRS.from_redis(prefix, redis_url=redis_url).num_bands
            4
        """
        return cls(**persistence.redis_arguments(redis_prefix, kwargs))

    @classmethod
    def from_faiss(cls, index: Any, nprobe: int | None = None, **kwargs: Any) -> LSHRS:
        """A bucket index over a trained FAISS IVF index's coarse centroids
        (:meth:`lshrs.schemes.kmeans.KMeansHasher.from_faiss`); index your vectors
        with :meth:`index`.

        Args:
            index: a trained ``IndexIVFFlat``, ``IndexIVFPQ`` or other IVF index.
            nprobe: lists read per query; default the FAISS index's ``nprobe``.
            **kwargs: other constructor arguments (``redis_url``, ``redis_prefix``, ...).

        Raises:
            ValueError: if faiss is missing or ``index`` is not a trained IVF index.
        """
        hasher = KMeansHasher.from_faiss(index, nprobe=nprobe)
        return cls(hasher.dim, hasher=hasher, **kwargs)

    @classmethod
    def from_faiss_ivfpq(cls, index: Any, nprobe: int | None = None, **kwargs: Any) -> LSHRS:
        """An IVF-PQ index copied from a trained and filled ``faiss.IndexIVFPQ``:
        centroids, codebooks, ids and codes as they are, so approximate top-k answers
        match FAISS's.

        Args:
            index: a trained ``IndexIVFPQ`` with 8-bit codes; ids in ``[0, 2**53 - 1]``.
            nprobe: lists read per query; default the FAISS index's ``nprobe``.
            **kwargs: other constructor arguments (``redis_url``, ``redis_prefix``, ...).

        Raises:
            ValueError: if faiss is missing, the index is of another kind, or its ids
                are out of range or repeated (then nothing is written).
        """
        model = IVFPQ.from_faiss(index, nprobe=nprobe)
        lsh = cls(model.dim, hasher=model, **kwargs)
        persistence.load_faiss_lists(lsh, index)
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
            if isinstance(self._kind, PartitionedIndex):
                self._kind.close()
            self.storage.close()

    def __enter__(self) -> LSHRS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        partitions = f", partitions={self.partitions}" if self.partitions > 1 else ""
        return f"LSHRS({self.hasher.fingerprint!r}, prefix={self.redis_prefix!r}{partitions})"
