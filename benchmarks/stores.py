"""Where the vectors live for reranking: in-process, Redis (two layouts), Postgres.

Each store loads ``(ids, vectors)`` chunks and answers ``fetch(ids) -> (len(ids), dim)``
float32 in the order of ``ids`` in one round trip, as ``LSHRS(vector_fetch_fn=...)``
expects. ``nbytes()`` is what the store holds for the vectors (Redis: the
``used_memory`` it added; Postgres: table plus index size on disk).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import psycopg
import redis

from lshrs.sources.redis import RedisVectorStore
from lshrs.storage import RedisStorage

CHUNK = 128
"""Ids per Redis hash in the chunked layout, as the reverse index does."""


class LocalStore:
    """A float32 array (or memory map) indexed by id, in the query process."""

    name = "in-process"

    def __init__(self, vectors: npt.NDArray[np.float32]) -> None:
        self.vectors = vectors

    def fetch(self, ids: Sequence[int]) -> npt.NDArray[np.float32]:
        return np.asarray(self.vectors[np.asarray(ids)], dtype=np.float32)

    def nbytes(self) -> int:
        return int(self.vectors.nbytes)


class RedisChunkStore:
    """One HASH per 128 ids (field = id, value = float32-le bytes); a fetch is one
    pipeline of HMGETs, one per chunk touched."""

    name = "redis-hash-per-128"

    def __init__(self, url: str, prefix: str = "vec") -> None:
        self.client = redis.Redis.from_url(url)
        self.prefix = ("{" + prefix + "}:h").encode()
        self.start_memory = int(self.client.info("memory")["used_memory"])

    def load(self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        order = np.argsort(ids, kind="stable")
        ids, blobs = ids[order], vectors[order].astype("<f4")
        chunks = ids // CHUNK
        bounds = np.flatnonzero(np.r_[True, chunks[1:] != chunks[:-1], True])
        pipe = self.client.pipeline(transaction=False)
        for first, last in pairwise(bounds):
            mapping = {int(i): blobs[k].tobytes() for k, i in enumerate(ids[first:last], first)}
            pipe.hset(self.prefix + str(int(chunks[first])).encode(), mapping=mapping)
            if len(pipe) >= 200:
                pipe.execute()
        pipe.execute()

    def fetch(self, ids: Sequence[int]) -> npt.NDArray[np.float32]:
        array = np.asarray(ids, dtype=np.int64)
        chunks = array // CHUNK
        order = np.argsort(chunks, kind="stable")
        sorted_chunks = chunks[order]
        bounds = np.flatnonzero(np.r_[True, sorted_chunks[1:] != sorted_chunks[:-1], True])
        pipe = self.client.pipeline(transaction=False)
        for first, last in pairwise(bounds):
            fields = array[order[first:last]].tolist()
            pipe.hmget(self.prefix + str(int(sorted_chunks[first])).encode(), fields)
        blobs = [blob for reply in pipe.execute() for blob in reply]
        out = np.empty((array.size, len(blobs[0]) // 4), dtype=np.float32)
        out[order] = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(array.size, -1)
        return out

    def nbytes(self) -> int:
        return int(self.client.info("memory")["used_memory"]) - self.start_memory


class RedisKeyStore:
    """The library's :class:`lshrs.sources.redis.RedisVectorStore`: one STRING per id
    (float32-le or float16-le bytes); a fetch is one MGET."""

    def __init__(self, url: str, prefix: str = "vec", dtype: str = "float32") -> None:
        self.name = "redis-key-per-id" + ("" if dtype == "float32" else f" ({dtype})")
        self.dtype = dtype
        self.storage = RedisStorage(url=url, prefix=prefix)
        self.client = self.storage.client
        self.prefix = self.storage.keys.root + b"v"
        self.start_memory = int(self.client.info("memory")["used_memory"])
        self.store: RedisVectorStore | None = None

    def load(self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        if self.store is None:
            self.store = RedisVectorStore(self.storage, dim=vectors.shape[1], dtype=self.dtype)
        self.store.put(ids, vectors)

    def fetch(self, ids: Sequence[int]) -> npt.NDArray[np.float32]:
        assert self.store is not None, "load() first"
        return self.store.fetch(ids)

    def nbytes(self) -> int:
        return int(self.client.info("memory")["used_memory"]) - self.start_memory


class PostgresStore:
    """A table ``(id bigint primary key, v bytea STORAGE PLAIN)`` of float32-le
    vectors; a fetch is one ``SELECT id, v ... WHERE id = ANY(%s)`` (psycopg 3,
    binary results)."""

    name = "postgres-bytea"

    def __init__(self, conninfo: str, table: str = "lshrs_bench_vectors") -> None:
        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.table = table
        self.conn.execute(f"DROP TABLE IF EXISTS {table}")
        self.conn.execute(f"CREATE UNLOGGED TABLE {table} (id bigint, v bytea)")
        # A 768-dim float32 vector is 3 KB, above the 2 KB TOAST threshold: keep it in
        # the row (one heap read per id) instead of out of line in the TOAST table.
        self.conn.execute(f"ALTER TABLE {table} ALTER COLUMN v SET STORAGE PLAIN")

    def load(self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        blobs = vectors.astype("<f4")
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {self.table} (id, v) FROM STDIN WITH (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["int8", "bytea"])
            for k, i in enumerate(ids.tolist()):
                copy.write_row((i, blobs[k].tobytes()))

    def finish(self) -> None:
        """Add the primary key once all rows are in (faster than per-row upkeep)."""
        self.conn.execute(f"ALTER TABLE {self.table} ADD PRIMARY KEY (id)")
        self.conn.execute(f"VACUUM ANALYZE {self.table}")

    def fetch(self, ids: Sequence[int]) -> npt.NDArray[np.float32]:
        array = np.asarray(ids, dtype=np.int64)
        with self.conn.cursor(binary=True) as cur:
            cur.execute(f"SELECT id, v FROM {self.table} WHERE id = ANY(%s)", (array.tolist(),))
            rows = cur.fetchall()
        found = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype="<f4")
        vectors = vectors.reshape(len(rows), -1)
        position = np.argsort(found)
        return vectors[position[np.searchsorted(found, array, sorter=position)]]

    def nbytes(self) -> int:
        row = self.conn.execute(
            "SELECT pg_total_relation_size(%s::regclass)", (self.table,)
        ).fetchone()
        return int(row[0]) if row else 0

    def drop(self) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.conn.close()
