"""debian-minilm: real sentence embeddings, recall against their exact neighbours."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq
import redis

from benchmarks import baselines
from benchmarks.measure import recall_at, timed_queries
from benchmarks.stores import LocalStore, PostgresStore, RedisChunkStore, RedisKeyStore
from lshrs import LSHRS, LSHHasher, corpus_config

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DELETE_COUNT = 5000
NAIVE_UNPIPELINED = 3000
"""Vectors the unpipelined naive client inserts (a round trip per band is slow)."""


def dataset_dir() -> Path:
    """``../shared/datasets`` next to the repository, or ``$LSHRS_DATASETS``."""
    import os

    return Path(os.environ.get("LSHRS_DATASETS", DATASETS))


def load(
    name: str = "debian-minilm",
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]
]:
    """ids, vectors (debian-minilm: 59,504 x 384; npm-minilm: 80,000 x 384), queries
    (500 x 384), exact top-100 ids per query, of the dataset ``name`` in
    :func:`dataset_dir`."""
    root = dataset_dir()
    table = pq.read_table(root / f"{name}.parquet", columns=["id", "vector"])
    vectors = table.column("vector").combine_chunks().flatten().to_numpy()
    vectors = np.ascontiguousarray(vectors.reshape(table.num_rows, -1), dtype=np.float32)
    ids = table.column("id").to_numpy().astype(np.int64)
    queries = np.load(root / f"{name}.queries.npy").astype(np.float32)
    truth = np.load(root / f"{name}.gt.npy")
    return ids, vectors, queries, truth


class CountingFetch:
    """A vector_fetch_fn that records how many candidates each query reranks."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.sizes: list[int] = []

    def __call__(self, ids: list[int]) -> npt.NDArray[np.float32]:
        self.sizes.append(len(ids))
        return self.store.fetch(ids)  # type: ignore[no-any-return]


def redis_memory(url: str) -> int:
    client = redis.Redis.from_url(url)
    used = int(client.info("memory")["used_memory"])
    client.close()
    return used


def top_p(
    lsh: LSHRS,
    queries: npt.NDArray[np.float32],
    truth: npt.NDArray[np.int64],
    fetch: CountingFetch,
    corpus: int,
) -> dict[str, Any]:
    lsh.vector_fetch_fn = fetch
    fetch.sizes.clear()
    results, stats = timed_queries(
        queries,
        lambda q: [i for i, _ in lsh.query(q, topk=10, topp=1.0)],  # type: ignore[misc]
    )
    sizes = fetch.sizes[-len(queries) :]
    return {
        "store": fetch.store.name,
        "recall_at_10": recall_at(results, truth),
        "candidates_mean": round(float(np.mean(sizes)), 1),
        "candidates_pct": round(100 * float(np.mean(sizes)) / corpus, 2),
        **stats,
    }


def build(
    name: str, url: str, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32], **kwargs: Any
) -> tuple[LSHRS, dict[str, Any]]:
    before = redis_memory(url)
    lsh = LSHRS(vectors.shape[1], redis_url=url, redis_prefix=name, **kwargs)
    start = time.perf_counter()
    lsh.index(ids, vectors)
    seconds = time.perf_counter() - start
    used = redis_memory(url) - before
    return lsh, {
        "num_bands": lsh.num_bands,
        "rows_per_band": lsh.rows_per_band,
        "extra_probes": lsh.extra_probes,
        "rerank_candidates": lsh.rerank_candidates,
        "centred": getattr(lsh.hasher, "center", None) is not None,
        "ingest_s": round(seconds, 2),
        "ingest_vps": round(ids.size / seconds),
        "redis_bytes_per_vector": round(used / ids.size, 1),
    }


def measure_delete(
    lsh: LSHRS, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
) -> dict[str, float]:
    doomed = ids[:DELETE_COUNT]
    start = time.perf_counter()
    lsh.delete(doomed.tolist())
    deleted = time.perf_counter() - start
    start = time.perf_counter()
    lsh.index(doomed, vectors[:DELETE_COUNT])
    again = time.perf_counter() - start
    return {
        "delete_ids_per_s": round(DELETE_COUNT / deleted),
        "reindex_vps": round(DELETE_COUNT / again),
    }


def run(
    redis_url: str, conninfo: str | None, pgvector_conninfo: str | None, quick: bool
) -> dict[str, Any]:
    ids, vectors, queries, truth = load()
    if quick:
        queries, truth = queries[:200], truth[:200]
    n = ids.size
    local = LocalStore(vectors)
    out: dict[str, Any] = {
        "dataset": {
            "name": "debian-minilm",
            "vectors": int(n),
            "dim": int(vectors.shape[1]),
            "queries": len(queries),
        }
    }
    out["exact_numpy"] = baselines.exact_numpy(vectors, queries)

    chosen = corpus_config(n, sample=vectors, index="hyperplane")
    lsh, figures = build("chosen", redis_url, ids, vectors, **chosen.index_kwargs(vectors))
    figures["name"] = f"lshrs corpus_config({n}, sample=vectors, index='hyperplane')"
    _, figures["top_k"] = timed_queries(queries, lambda q: lsh.query(q, topk=10))
    figures["top_p"] = [top_p(lsh, queries, truth, CountingFetch(local), n)]
    out["chosen"] = figures
    if not quick:
        figures.update(measure_delete(lsh, ids, vectors))
        figures["top_p"] += stores_top_p(lsh, redis_url, conninfo, ids, vectors, queries, truth)
        out["sweep"] = sweep(lsh, queries[:200], truth[:200], local, n)
    lsh.clear()
    lsh.close()

    core, figures = build(
        "core", redis_url, ids, vectors, num_bands=16, rows_per_band=12, rerank_candidates=3000
    )
    figures["name"] = "lshrs 16 bands x 12 rows, uncentred, no probes (starting point)"
    _, figures["top_k"] = timed_queries(queries, lambda q: core.query(q, topk=10))
    figures["top_p"] = [top_p(core, queries, truth, CountingFetch(local), n)]
    if not quick:
        figures.update(measure_delete(core, ids, vectors))
    out["core_16x12"] = figures
    core.clear()
    core.close()

    if not quick:
        out["naive"] = naive(redis_url, ids, vectors, queries, truth, local)
        try:
            out["faiss"] = baselines.faiss_runs(vectors, queries, truth, chosen.rerank_candidates)
        except ImportError:
            out["faiss"] = "faiss-cpu not installed (pip install lshrs[bench])"
        if pgvector_conninfo is not None:
            out["pgvector"] = baselines.pgvector_run(
                pgvector_conninfo, ids, vectors, queries, truth, DELETE_COUNT
            )
    return out


def stores_top_p(
    lsh: LSHRS,
    redis_url: str,
    conninfo: str | None,
    ids: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    truth: npt.NDArray[np.int64],
) -> list[dict[str, Any]]:
    """Top-p with the vectors in Redis (two layouts) and in Postgres."""
    rows = []
    for store_class in (RedisChunkStore, RedisKeyStore):
        store = store_class(redis_url)
        store.load(ids, vectors)
        row = top_p(lsh, queries, truth, CountingFetch(store), ids.size)
        row["store_bytes_per_vector"] = round(store.nbytes() / ids.size, 1)
        rows.append(row)
        store.client.delete(*store.client.keys(store.prefix + b"*"))
    if conninfo is not None:
        pg = PostgresStore(conninfo)
        pg.load(ids, vectors)
        pg.finish()
        row = top_p(lsh, queries, truth, CountingFetch(pg), ids.size)
        row["store_bytes_per_vector"] = round(pg.nbytes() / ids.size, 1)
        rows.append(row)
        pg.drop()
    return rows


def sweep(
    lsh: LSHRS,
    queries: npt.NDArray[np.float32],
    truth: npt.NDArray[np.int64],
    local: LocalStore,
    n: int,
) -> list[dict[str, Any]]:
    """Recall against latency over probes and rerank depth, on one index."""
    points = []
    saved = (lsh.extra_probes, lsh.rerank_candidates)
    for probes in (0, lsh.num_bands, 2 * lsh.num_bands, 3 * lsh.num_bands):
        for share in (0.01, 0.02, 0.04):
            lsh.extra_probes, lsh.rerank_candidates = probes, int(share * n)
            row = top_p(lsh, queries, truth, CountingFetch(local), n)
            points.append({"extra_probes": probes, "rerank_candidates": int(share * n), **row})
    lsh.extra_probes, lsh.rerank_candidates = saved
    return points


def naive(
    redis_url: str,
    ids: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    truth: npt.NDArray[np.int64],
    local: LocalStore,
) -> dict[str, Any]:
    """The naive client on the starting point's hasher (16 x 12, uncentred)."""
    client = baselines.NaiveClient(redis_url, LSHHasher(16, 12, vectors.shape[1], 42))
    before = redis_memory(redis_url)
    start = time.perf_counter()
    client.insert(ids[:NAIVE_UNPIPELINED], vectors[:NAIVE_UNPIPELINED])
    unpipelined = NAIVE_UNPIPELINED / (time.perf_counter() - start)
    start = time.perf_counter()
    client.insert_pipelined(ids, vectors)
    pipelined = ids.size / (time.perf_counter() - start)
    used = redis_memory(redis_url) - before

    def search(query: npt.NDArray[np.float32]) -> list[int]:
        candidates = client.candidates(query, 3000)
        sims = local.fetch(candidates.tolist()) @ query
        return candidates[np.argsort(-sims)[:10]].tolist()

    results, stats = timed_queries(queries, search)
    start = time.perf_counter()
    client.delete(ids[:DELETE_COUNT].tolist(), vectors[:DELETE_COUNT])
    deleted = DELETE_COUNT / (time.perf_counter() - start)
    client.client.delete(*client.client.keys(b"naive:*"))
    client.close()
    return {
        "name": "naive client (SADD/SMEMBERS per band, datasketch style), 16 x 12",
        "ingest_vps_unpipelined": round(unpipelined),
        "ingest_vps_pipelined": round(pipelined),
        "redis_bytes_per_vector": round(used / ids.size, 1),
        "delete_ids_per_s": round(deleted),
        "top_p": {"recall_at_10": recall_at(results, truth), "rerank": 3000, **stats},
    }
