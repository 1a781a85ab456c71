"""What lshrs is measured against: exact numpy, the naive client design, FAISS, pgvector."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from benchmarks.measure import recall_at, timed_queries
from lshrs import LSHHasher


def exact_numpy(
    vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32], k: int = 10
) -> dict[str, Any]:
    """Brute force: one matrix-vector product per query, then argpartition."""

    def search(query: npt.NDArray[np.float32]) -> list[int]:
        sims = vectors @ query
        top = np.argpartition(-sims, k)[:k]
        return top[np.argsort(-sims[top])].tolist()

    _, stats = timed_queries(queries, search)
    return {"name": "exact numpy (brute force)", "recall_at_10": 1.0, **stats}


class NaiveClient:
    """The seed sketches' client-side design, as datasketch's Redis storage does it:
    one SADD per band per vector, and one SMEMBERS per band per query, each a
    separate command; collisions are counted in Python."""

    def __init__(self, url: str, hasher: LSHHasher, prefix: str = "naive") -> None:
        self.client = redis.Redis.from_url(url)
        self.hasher = hasher
        self.prefix = prefix.encode() + b":"

    def _key(self, band: int, signature: bytes) -> bytes:
        return self.prefix + band.to_bytes(2, "big") + signature

    def insert(self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        """Unpipelined: a round trip per SADD (datasketch's plain ``insert``)."""
        signatures = self.hasher.hash_batch(vectors)
        for row, index in enumerate(ids.tolist()):
            for band in range(self.hasher.num_bands):
                self.client.sadd(self._key(band, signatures[row, band].tobytes()), index)

    def insert_pipelined(
        self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
    ) -> None:
        """Buffered in pipelines of 50,000 commands (datasketch's ``insertion_session``)."""
        signatures = self.hasher.hash_batch(vectors)
        pipe = self.client.pipeline(transaction=False)
        for row, index in enumerate(ids.tolist()):
            for band in range(self.hasher.num_bands):
                pipe.sadd(self._key(band, signatures[row, band].tobytes()), index)
            if len(pipe) >= 50_000:
                pipe.execute()
        pipe.execute()

    def delete(self, ids: Sequence[int], vectors: npt.NDArray[np.float32]) -> None:
        """Without a reverse index the client must rehash the vector to find its buckets."""
        signatures = self.hasher.hash_batch(vectors)
        for row, index in enumerate(ids):
            for band in range(self.hasher.num_bands):
                self.client.srem(self._key(band, signatures[row, band].tobytes()), index)

    def candidates(self, query: npt.NDArray[np.float32], limit: int) -> npt.NDArray[np.int64]:
        signature = self.hasher.hash_batch(query[None])[0]
        counts: dict[int, int] = {}
        for band in range(self.hasher.num_bands):
            for member in self.client.smembers(self._key(band, signature[band].tobytes())):
                index = int(member)
                counts[index] = counts.get(index, 0) + 1
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return np.array([index for index, _ in ranked], dtype=np.int64)

    def close(self) -> None:
        self.client.close()


def faiss_runs(
    vectors: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    truth: npt.NDArray[np.int64],
    rerank: int,
) -> list[dict[str, Any]]:
    """FAISS on one thread: exact (IndexFlatIP), LSH codes with and without exact
    rerank of ``rerank`` candidates, and IVF-Flat over a range of probes."""
    import faiss

    faiss.omp_set_num_threads(1)
    n, dim = vectors.shape
    out: list[dict[str, Any]] = []

    def run(name: str, index: Any, build_s: float, **extra: Any) -> None:
        results, stats = timed_queries(queries, lambda q: index.search(q[None], 10)[1][0].tolist())
        out.append(
            {
                "name": name,
                "recall_at_10": recall_at(results, truth),
                "build_s": round(build_s, 2),
                "ingest_vps": round(n / build_s),
                **stats,
                **extra,
            }
        )

    start = time.perf_counter()
    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    run("faiss IndexFlatIP (exact)", flat, time.perf_counter() - start)

    for nbits in (256, 1024):
        start = time.perf_counter()
        lsh = faiss.IndexLSH(dim, nbits)
        lsh.train(vectors)
        lsh.add(vectors)
        build = time.perf_counter() - start
        run(f"faiss IndexLSH {nbits} bits", lsh, build)
        refined = faiss.IndexRefineFlat(lsh, faiss.swig_ptr(vectors))
        refined.k_factor = rerank / 10
        run(f"faiss IndexLSH {nbits} bits + rerank {rerank}", refined, build, candidates=rerank)

    nlist = int(4 * np.sqrt(n))
    start = time.perf_counter()
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors)
    ivf.add(vectors)
    build = time.perf_counter() - start
    for nprobe in (1, 4, 8, 16, 32):
        ivf.nprobe = nprobe
        run(
            f"faiss IndexIVFFlat nlist={nlist} nprobe={nprobe}",
            ivf,
            build,
            candidates=round(n * nprobe / nlist),
        )
    return out


PGVECTOR_EF_SEARCH = (40, 100)


def pgvector_build(
    conn: Any, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
) -> dict[str, Any]:
    """Table ``bench_items`` loaded with COPY, then its HNSW index (m=16,
    ef_construction=64, cosine); ``conn`` is an autocommit psycopg connection."""
    from pgvector.psycopg import register_vector

    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(conn)
    dim = vectors.shape[1]
    conn.execute("DROP TABLE IF EXISTS bench_items")
    conn.execute(f"CREATE TABLE bench_items (id bigint PRIMARY KEY, embedding vector({dim}))")
    start = time.perf_counter()
    with (
        conn.cursor() as cur,
        cur.copy("COPY bench_items (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy,
    ):
        copy.set_types(["int8", "vector"])
        for index, vector in zip(ids.tolist(), vectors, strict=True):
            copy.write_row((index, vector))
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    conn.execute(
        "CREATE INDEX bench_items_hnsw ON bench_items USING hnsw (embedding vector_cosine_ops)"
    )
    build_s = time.perf_counter() - start
    size = conn.execute("SELECT pg_total_relation_size('bench_items')").fetchone()
    index_size = conn.execute("SELECT pg_relation_size('bench_items_hnsw')").fetchone()
    return {
        "name": "pgvector HNSW (m=16, ef_construction=64)",
        "copy_s": round(load_s, 2),
        "build_s": round(build_s, 2),
        "ingest_vps": round(ids.size / (load_s + build_s)),
        "bytes_per_vector_total": round(size[0] / ids.size, 1) if size else None,
        "bytes_per_vector_index": round(index_size[0] / ids.size, 1) if index_size else None,
        "points": [],
    }


def pgvector_searcher(
    conninfo: str, ef: int
) -> tuple[Any, Callable[[npt.NDArray[np.float32]], list[int]]]:
    """A connection of its own with ``hnsw.ef_search = ef``, and a top-10 search on it."""
    import psycopg
    from pgvector.psycopg import register_vector

    conn = psycopg.connect(conninfo, autocommit=True)
    register_vector(conn)
    conn.execute(f"SET hnsw.ef_search = {ef}")

    def search(query: npt.NDArray[np.float32]) -> list[int]:
        rows = conn.execute(
            "SELECT id FROM bench_items ORDER BY embedding <=> %s LIMIT 10", (query,)
        ).fetchall()
        return [row[0] for row in rows]

    return conn, search


def pgvector_delete(conn: Any, ids: npt.NDArray[np.int64], delete_count: int) -> float:
    """Delete the first ``delete_count`` ids; ids per second."""
    doomed = ids[:delete_count].tolist()
    start = time.perf_counter()
    conn.execute("DELETE FROM bench_items WHERE id = ANY(%s)", (doomed,))
    return round(delete_count / (time.perf_counter() - start))


def pgvector_run(
    conninfo: str,
    ids: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    truth: npt.NDArray[np.int64],
    delete_count: int,
) -> dict[str, Any]:
    """pgvector HNSW (m=16, ef_construction=64, cosine), what a Postgres user would
    pick instead: load, build, query at two ef_search values, delete."""
    import psycopg

    conn = psycopg.connect(conninfo, autocommit=True)
    result = pgvector_build(conn, ids, vectors)
    for ef in PGVECTOR_EF_SEARCH:
        searcher, search = pgvector_searcher(conninfo, ef)
        results, stats = timed_queries(queries, search)
        searcher.close()
        result["points"].append(
            {"ef_search": ef, "recall_at_10": recall_at(results, truth), **stats}
        )
    result["delete_ids_per_s"] = pgvector_delete(conn, ids, delete_count)
    conn.execute("DROP TABLE bench_items")
    conn.close()
    return result
