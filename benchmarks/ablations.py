"""Before/after measurements of the engineering changes, in one run:
``python -m benchmarks.ablations`` (about 2 minutes; writes results/ablations.json).

- query path: collisions counted inside Redis (``lua/query.lua``, the former path)
  against members gathered as one string (``lua/gather.lua``) and counted in numpy;
- insert ARGV form: grouped by bucket (the former form, always) against ``"*"``
  (memberships derived from the signatures);
- centring: bucket balance and recall of the same configuration with and without
  the corpus mean subtracted;
- Redis ``set-max-intset-entries``: memory per vector of the same index at 512
  (default) and 8192;
- Redis ``hash-max-listpack-value``: memory per vector of the chosen debian-minilm
  index, whose reverse-index values (64 bands x 2 bytes) exceed the default 64;
- Redis vector fetch: ``RedisVectorStore.fetch`` joining the MGET reply and copying
  it to float32 (the former path) against one fixed-width copy, 1,000 random ids of
  200,000 x 768 scale vectors per fetch;
- rerank: the fetched candidates validated value by value and copied normalised
  (the former path) against :func:`lshrs.similarity.rerank_cosines` (norms once,
  used as the check).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import redis

from benchmarks.measure import latency_stats, write_results
from benchmarks.minilm import load, redis_memory
from benchmarks.scale import ClusteredEmbeddings
from benchmarks.servers import private_redis
from lshrs import LSHRS, LSHHasher, corpus_config
from lshrs.similarity import cosine_similarity, rerank_cosines
from lshrs.sources.redis import RedisVectorStore
from lshrs.storage import count_collisions, encode_insert
from lshrs.validation import as_ids, as_vectors

QUERIES = 200


def query_paths(url: str, lsh: LSHRS, queries: np.ndarray) -> dict[str, Any]:
    """Same codes, same limit, both scripts; latency and Redis time per query."""
    storage = lsh.storage
    client = redis.Redis.from_url(url)
    codes = [lsh.hasher.probe_codes(q, lsh.extra_probes) for q in queries]
    out: dict[str, Any] = {}
    for name in ("query.lua (count in Redis)", "gather.lua + numpy count"):
        client.config_resetstat()
        seconds = []
        for code in codes:
            start = time.perf_counter()
            if name.startswith("query"):
                storage._run(
                    storage.scripts.query, [storage.fingerprint, lsh.rerank_candidates, *code]
                )
            else:
                members = storage._run(storage.scripts.gather, [storage.fingerprint, *code])
                count_collisions(members, lsh.rerank_candidates)
            seconds.append(time.perf_counter() - start)
        stats = client.info("commandstats")["cmdstat_evalsha"]
        out[name] = {
            **latency_stats(seconds),
            "redis_ms_per_query": round(stats["usec_per_call"] / 1000, 3),
        }
    client.close()
    return out


def insert_forms(url: str, ids: np.ndarray, vectors: np.ndarray) -> dict[str, Any]:
    """16 bands x 14 rows (the 1M configuration's buckets) on 59,504 vectors."""
    hasher = LSHHasher(16, 14, vectors.shape[1], 42, center=vectors.mean(axis=0))
    signatures = hasher.hash_batch(vectors)
    client = redis.Redis.from_url(url)
    out: dict[str, Any] = {}
    for form in ("grouped", "*"):
        lsh = LSHRS(vectors.shape[1], hasher=hasher, redis_url=url, redis_prefix=f"form{form}")
        root, fingerprint = lsh.storage.keys.root, lsh.storage.fingerprint
        calls = []
        for first in range(0, ids.size, 1000):
            args = encode_insert(
                fingerprint, ids[first : first + 1000], signatures[first : first + 1000]
            )
            if form == "grouped" and args[-1] == "*":
                args = grouped_args(
                    fingerprint, ids[first : first + 1000], signatures[first : first + 1000]
                )
            calls.append(args)
        client.config_resetstat()
        start = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        for args in calls:
            lsh.storage.scripts.insert(keys=[root], args=args, client=pipe)
        pipe.execute()
        seconds = time.perf_counter() - start
        usec = client.info("commandstats")["cmdstat_evalsha"]["usec"]
        out[form] = {
            "arguments_per_id": round(sum(len(a) for a in calls) / ids.size, 1),
            "send_and_run_vps": round(ids.size / seconds),
            "redis_us_per_id": round(usec / ids.size, 1),
        }
        lsh.clear()
        lsh.close()
    client.close()
    return out


def grouped_args(fingerprint: str, ids: np.ndarray, signatures: np.ndarray) -> list[Any]:
    """The grouped form (every membership listed under its bucket), which the encoder
    used for every call before the "*" form existed."""
    n, bands, _ = signatures.shape
    order = np.argsort(ids, kind="stable")
    pairs: list[Any] = []
    groups: dict[bytes, list[bytes]] = {}
    for row in order.tolist():
        index = str(int(ids[row])).encode()
        pairs += [index, signatures[row].tobytes()]
        for band in range(bands):
            code = band.to_bytes(2, "big") + signatures[row, band].tobytes()
            groups.setdefault(code, []).append(index)
    section: list[Any] = []
    for code, members in groups.items():
        section += [code, len(members), *members]
    return [fingerprint, n, *pairs, len(groups), *section]


def centring(
    url: str, ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray
) -> dict[str, Any]:
    """corpus_config's bands, rows, probes and rerank, with and without the centre."""
    config = corpus_config(ids.size)
    out: dict[str, Any] = {}
    for label, center in (("uncentred", None), ("centred", vectors.mean(axis=0))):
        hasher = LSHHasher(
            config.num_bands, config.rows_per_band, vectors.shape[1], 42, center=center
        )
        signatures = hasher.hash_batch(vectors)
        sizes = np.unique(
            signatures[:, 0].view(f"V{hasher.sig_bytes}").ravel(), return_counts=True
        )[1]
        lsh = LSHRS(
            vectors.shape[1],
            hasher=hasher,
            redis_url=url,
            redis_prefix=label,
            extra_probes=config.extra_probes,
            rerank_candidates=config.rerank_candidates,
            vector_fetch_fn=lambda found: vectors[np.asarray(found)],
        )
        lsh.index(ids, vectors)
        hits, read = [], []
        for number, query in enumerate(queries):
            total, _, _ = lsh.storage.query(hasher.probe_codes(query, config.extra_probes), 0)
            read.append(total)
            found = [i for i, _ in lsh.query(query, topk=10, topp=1.0)]  # type: ignore[misc]
            hits.append(len(set(found) & set(truth[number, :10].tolist())) / 10)
        out[label] = {
            "recall_at_10": round(float(np.mean(hits)), 4),
            "distinct_candidates_mean": round(float(np.mean(read))),
            "band0_largest_bucket": int(sizes.max()),
            "band0_empty_share": round(1 - sizes.size / 2**hasher.rows_per_band, 3),
        }
        lsh.clear()
        lsh.close()
    return out


def intset_entries(ids: np.ndarray, vectors: np.ndarray) -> dict[str, Any]:
    """16 x 14 buckets (as at 1M) hold ~4 ids here; 16 x 8 hold ~230, like 1M x 14's
    largest: memory per vector at Redis's default and at 8192 intset entries."""
    out: dict[str, Any] = {}
    for entries in ("512", "8192"):
        with private_redis("--set-max-intset-entries", entries) as url:
            before = redis_memory(url)
            lsh = LSHRS(
                vectors.shape[1],
                num_bands=16,
                rows_per_band=8,
                redis_url=url,
                redis_prefix="intset",
            )
            lsh.index(ids, vectors)
            out[f"set-max-intset-entries {entries}"] = {
                "redis_bytes_per_vector": round((redis_memory(url) - before) / ids.size, 1)
            }
            lsh.close()
    return out


def listpack_value(ids: np.ndarray, vectors: np.ndarray) -> dict[str, Any]:
    """The chosen configuration's reverse-index values are 128 bytes: memory per
    vector with Redis's default ``hash-max-listpack-value`` (64) and with 256."""
    out: dict[str, Any] = {}
    for value in ("64", "256"):
        with private_redis("--hash-max-listpack-value", value) as url:
            before = redis_memory(url)
            kwargs = corpus_config(ids.size, sample=vectors).index_kwargs(vectors)
            lsh = LSHRS(vectors.shape[1], redis_url=url, redis_prefix="listpack", **kwargs)
            lsh.index(ids, vectors)
            out[f"hash-max-listpack-value {value}"] = {
                "redis_bytes_per_vector": round((redis_memory(url) - before) / ids.size, 1)
            }
            lsh.close()
    return out


def rerank_paths(vectors: np.ndarray, repeats: int = 300) -> dict[str, Any]:
    """ms per query of both rerank paths, for 1,000 x 768 candidates (the 1M scale
    run's rerank depth) and the debian-minilm chosen depth (2,381 x 384)."""
    rng = np.random.default_rng(7)
    wide = rng.standard_normal((1000, 768)).astype(np.float32)
    shapes = {"1000 x 768": wide, "2381 x 384": vectors[rng.choice(len(vectors), 2381)]}
    out: dict[str, Any] = {}
    for label, candidates in shapes.items():
        query = np.ascontiguousarray(candidates[0])
        paths = {
            "validate + normalised copy (former)": lambda q=query, c=candidates: cosine_similarity(
                q, as_vectors(c, c.shape[1])
            ),
            "rerank_cosines": lambda q=query, c=candidates: rerank_cosines(q, c),
        }
        out[label] = {}
        for name, path in paths.items():
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(repeats):
                    path()
                best = min(best, (time.perf_counter() - start) / repeats)
            out[label][name] = round(best * 1e3, 3)
    return out


def former_fetch(store: RedisVectorStore, ids: np.ndarray) -> np.ndarray:
    """``RedisVectorStore.fetch`` before the fixed-width copy (missing-id check kept)."""
    id_array = as_ids(ids)
    values = store.storage.client.mget(store.storage.keys.vectors(id_array))
    missing = [i for i, v in zip(id_array.tolist(), values, strict=True) if v is None]
    assert not missing
    raw = np.frombuffer(b"".join(values), dtype=store.dtype)
    return raw.reshape(id_array.size, store.dim).astype(np.float32)


def fetch_paths(fetches: int = 300, stored: int = 200_000) -> dict[str, Any]:
    """ms per fetch of 1,000 random ids from a Redis holding ``stored`` 768-dim
    vectors, both paths interleaved on the same ids."""
    data = ClusteredEmbeddings(stored)
    with private_redis() as url:
        lsh = LSHRS(768, redis_url=url, redis_prefix="fetch", num_bands=1, rows_per_band=4)
        store = RedisVectorStore(lsh.storage, 768)
        for ids, vectors in data.chunks():
            store.put(ids, vectors)
        rng = np.random.default_rng(3)
        paths = {
            "join + float32 copy (former)": former_fetch,
            "fixed-width copy": RedisVectorStore.fetch,
        }
        seconds: dict[str, list[float]] = {name: [] for name in paths}
        for number in range(fetches + 10):
            ids = rng.choice(stored, 1000, replace=False)
            for name, path in paths.items():
                start = time.perf_counter()
                path(store, ids)
                if number >= 10:
                    seconds[name].append(time.perf_counter() - start)
        lsh.close()
    return {name: latency_stats(values) for name, values in seconds.items()}


def main() -> None:
    ids, vectors, queries, truth = load()
    queries, truth = queries[:QUERIES], truth[:QUERIES]
    results: dict[str, Any] = {"command": "python -m benchmarks.ablations"}
    with private_redis() as url:
        kwargs = corpus_config(ids.size).index_kwargs(vectors)
        lsh = LSHRS(vectors.shape[1], redis_url=url, redis_prefix="ablation", **kwargs)
        lsh.index(ids, vectors)
        results["query_path"] = query_paths(url, lsh, queries)
        lsh.clear()
        lsh.close()
        results["insert_form"] = insert_forms(url, ids, vectors)
        results["centring"] = centring(url, ids, vectors, queries, truth)
    results["intset_entries"] = intset_entries(ids, vectors)
    results["listpack_value"] = listpack_value(ids, vectors)
    results["redis_fetch_1000_x_768"] = fetch_paths()
    results["rerank_ms_per_query"] = rerank_paths(vectors)
    write_results("ablations.json", results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
