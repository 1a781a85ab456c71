"""The scale set: clustered, anisotropic 768-dim vectors, generated and indexed in
streamed chunks (never all in RAM), with exact neighbours of held-out queries
computed on the way, and the rerank stores (in-process memory map, Redis, Postgres)
loaded from the same stream."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import numpy.typing as npt
import redis

from benchmarks.measure import recall_at, timed_queries
from benchmarks.minilm import CountingFetch, redis_memory, top_p
from benchmarks.servers import private_redis
from benchmarks.stores import LocalStore, PostgresStore, RedisKeyStore
from lshrs import LSHRS, corpus_config

DIM = 768
CHUNK = 50_000
CLUSTERS = 2000
QUERIES = 500
SEED = 20260501
SCALE_BANDS = 16
SCALE_RERANK = 1000
CEILING_MEMBERSHIPS = 320_000
PROBE_SWEEP = (16, 96, 160)
"""Extra probes of the recall/latency sweep (in-process vectors), beside the default 48."""
STORES = ("local", "redis", "redis-f16", "postgres")
"""Where the scale run keeps vectors for reranking: a memory-mapped float32 file,
Redis float32 and float16 keys (each in its own private server), Postgres bytea."""


class ClusteredEmbeddings:
    """A seeded stream of unit vectors shaped like sentence embeddings.

    A shared offset (every embedding model has a common direction), ``CLUSTERS``
    topic centres with Zipf-distributed sizes, and a decaying spectrum
    (``scale_j = (j + 1) ** -0.6``) under a fixed random rotation: anisotropic, as
    real embeddings are. Chunk ``c`` is drawn from ``default_rng([SEED, c])``, so any
    chunk regenerates alone.
    """

    def __init__(self, size: int, dim: int = DIM) -> None:
        self.size, self.dim = size, dim
        rng = np.random.default_rng([SEED, 10**6])
        self.spectrum = ((np.arange(dim) + 1.0) ** -0.6).astype(np.float32)
        rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.rotation = rotation.astype(np.float32)
        self.offset = (rng.standard_normal(dim) * self.spectrum * 2.5).astype(np.float32)
        self.centres = (rng.standard_normal((CLUSTERS, dim)) * self.spectrum).astype(np.float32)
        weights = 1.0 / (np.arange(CLUSTERS) + 10.0)
        self.weights = weights / weights.sum()

    def _draw(self, rng: np.random.Generator, count: int) -> npt.NDArray[np.float32]:
        topic = rng.choice(CLUSTERS, size=count, p=self.weights)
        noise = rng.standard_normal((count, self.dim), dtype=np.float32) * self.spectrum
        raw = (self.offset + self.centres[topic] + 0.7 * noise) @ self.rotation
        raw /= np.linalg.norm(raw, axis=1, keepdims=True)
        return raw.astype(np.float32)

    def chunks(self) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        for number, start in enumerate(range(0, self.size, CHUNK)):
            count = min(CHUNK, self.size - start)
            yield (
                np.arange(start, start + count, dtype=np.int64),
                self._draw(np.random.default_rng([SEED, number]), count),
            )

    def queries(self) -> npt.NDArray[np.float32]:
        return self._draw(np.random.default_rng([SEED, 10**6 + 1]), QUERIES)


class ExactTop:
    """Exact top-k of fixed queries over a stream of chunks."""

    def __init__(self, queries: npt.NDArray[np.float32], k: int = 10) -> None:
        self.queries, self.k = queries, k
        self.ids = np.full((len(queries), k), -1, dtype=np.int64)
        self.sims = np.full((len(queries), k), -np.inf, dtype=np.float32)

    def add(self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        sims = self.queries @ vectors.T
        top = np.argpartition(-sims, self.k, axis=1)[:, : self.k]
        all_sims = np.concatenate([self.sims, np.take_along_axis(sims, top, 1)], axis=1)
        all_ids = np.concatenate([self.ids, ids[top]], axis=1)
        best = np.argsort(-all_sims, axis=1)[:, : self.k]
        self.sims = np.take_along_axis(all_sims, best, 1)
        self.ids = np.take_along_axis(all_ids, best, 1)


def sadd_ceiling(url: str) -> dict[str, float]:
    """What one Redis core does: single-member SADDs pipelined 64 deep from
    redis-benchmark, and SADDs issued from Lua (server time from INFO commandstats)."""
    parsed = urlparse(url)
    bench = subprocess.run(
        [
            "redis-benchmark",
            "-h",
            parsed.hostname or "127.0.0.1",
            "-p",
            str(parsed.port),
            "-n",
            str(CEILING_MEMBERSHIPS),
            "-P",
            "64",
            "-r",
            "65536",
            "-q",
            "-t",
            "sadd",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pipelined = float(bench.split("SADD:")[-1].split("requests per second")[0].strip())
    client = redis.Redis.from_url(url)
    script = client.register_script(
        "for i = 1, #ARGV do redis.call('SADD', KEYS[1] .. ARGV[i], i) end return #ARGV"
    )
    rng = np.random.default_rng(1)
    client.config_resetstat()
    for _ in range(0, CEILING_MEMBERSHIPS, 10_000):
        script(
            keys=[b"{ceiling}:k"], args=[str(k).encode() for k in rng.integers(0, 65536, 10_000)]
        )
    usec = client.info("commandstats")["cmdstat_evalsha"]["usec"]
    in_lua = CEILING_MEMBERSHIPS / (usec / 1e6)
    for pattern in (b"{ceiling}:*", b"key:*", b"myset*"):
        for key in client.scan_iter(match=pattern, count=10_000):
            client.delete(key)
    client.close()
    return {
        "pipelined_sadd_per_s": round(pipelined),
        "lua_sadd_per_s": round(in_lua),
        "vps_ceiling_one_sadd_per_membership_16_bands": round(in_lua / 16),
    }


def run(
    redis_url: str,
    conninfo: str | None,
    size: int,
    fit_rows: bool = True,
    stores: Collection[str] = STORES,
) -> dict[str, Any]:
    """Ingest, memory and queries at ``size``; rows fitted to a sample of the corpus
    (``corpus_config(..., sample=...)``), or from the size alone (``fit_rows=False``).
    ``stores`` picks the rerank stores (:data:`STORES`; the local file always runs:
    the probe sweep uses it). At 6.4M x 768 the Redis float32 store alone would need
    ~23 GB of RAM."""
    data = ClusteredEmbeddings(size)
    queries = data.queries()
    exact = ExactTop(queries)
    sample = next(data.chunks())[1][:10_000]
    config = corpus_config(
        size,
        num_bands=SCALE_BANDS,
        max_rerank=SCALE_RERANK,
        sample=sample if fit_rows else None,
    )
    before = redis_memory(redis_url)
    lsh = LSHRS(DIM, redis_url=redis_url, redis_prefix="scale", **config.index_kwargs(sample))
    out: dict[str, Any] = {
        "dataset": {
            "name": "clustered anisotropic (synthetic)",
            "vectors": size,
            "dim": DIM,
            "queries": QUERIES,
        },
        "config": {
            "rows_from": "sample" if fit_rows else "size",
            "num_bands": config.num_bands,
            "rows_per_band": config.rows_per_band,
            "extra_probes": config.extra_probes,
            "rerank_candidates": config.rerank_candidates,
        },
    }
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="lshrs-bench-scale-"))
        local = np.lib.format.open_memmap(
            Path(workdir) / "vectors.npy", mode="w+", dtype=np.float32, shape=(size, DIM)
        )
        redis_store = (
            RedisKeyStore(stack.enter_context(private_redis())) if "redis" in stores else None
        )
        half_store = (
            RedisKeyStore(stack.enter_context(private_redis()), dtype="float16")
            if "redis-f16" in stores
            else None
        )
        pg = PostgresStore(conninfo) if conninfo and "postgres" in stores else None
        ingest_s = 0.0
        for ids, vectors in data.chunks():
            start = time.perf_counter()
            lsh.index(ids, vectors)
            ingest_s += time.perf_counter() - start
            exact.add(ids, vectors)
            local[ids[0] : ids[-1] + 1] = vectors
            for store in (redis_store, half_store):
                if store is not None:
                    store.load(ids, vectors)
            if pg is not None:
                pg.load(ids, vectors)
        local.flush()
        index_bytes = redis_memory(redis_url) - before
        out["ingest_vps"] = round(size / ingest_s)
        out["ingest_s"] = round(ingest_s, 1)
        out["redis_bytes_per_vector"] = round(index_bytes / size, 1)
        out["redis_bytes_projected_6_4M"] = round(index_bytes / size * 6_400_000)
        out["memory_breakdown"] = key_breakdown(redis_url)
        truth = exact.ids
        lsh.extra_probes = 0
        results, out["top_k"] = timed_queries(queries, lambda q: lsh.query(q, topk=10))
        out["top_k"]["recall_at_10_unreranked"] = recall_at(results, truth)
        lsh.extra_probes = config.extra_probes
        _, out["top_k_with_probes"] = timed_queries(queries, lambda q: lsh.query(q, topk=10))
        if pg is not None:
            pg.finish()
        rerank_stores: list[Any] = [
            store for store in (LocalStore(local), redis_store, half_store, pg) if store is not None
        ]
        out["top_p"] = []
        for store in rerank_stores:
            row = top_p(lsh, queries, truth, CountingFetch(store), size)
            row["store_bytes_per_vector"] = round(store.nbytes() / size, 1)
            out["top_p"].append(row)
        out["top_p_probes"] = []
        for probes in PROBE_SWEEP:
            lsh.extra_probes = probes
            row = top_p(lsh, queries, truth, CountingFetch(rerank_stores[0]), size)
            out["top_p_probes"].append({"extra_probes": probes, **row})
        lsh.extra_probes = config.extra_probes
        if pg is not None:
            pg.drop()
        del local
    out["ceiling"] = sadd_ceiling(redis_url)
    lsh.clear()
    lsh.close()
    return out


def key_breakdown(url: str) -> dict[str, Any]:
    """Key counts and encodings of the index (sampled), for the memory discussion."""
    client = redis.Redis.from_url(url)
    counts = {"buckets": 0, "reverse": 0}
    encodings: dict[str, int] = {}
    for number, key in enumerate(client.scan_iter(match=b"{scale}:*", count=10_000)):
        kind = key[len(b"{scale}:") :][:1]
        if kind == b"b":
            counts["buckets"] += 1
        elif kind == b"r":
            counts["reverse"] += 1
        if number % 200 == 0:
            encoding = client.object("encoding", key)
            name = f"{kind.decode(errors='replace')}:{encoding!r}"
            encodings[name] = encodings.get(name, 0) + 1
    client.close()
    return {"keys": counts, "sampled_encodings": encodings}
