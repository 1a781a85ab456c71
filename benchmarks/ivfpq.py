"""IVF-PQ on debian-minilm and npm-minilm side by side:
``python -m benchmarks.ivfpq [--quick] [--datasets debian-minilm,npm-minilm] [--name NAME]``.

Per dataset, the index is built the README way (``corpus_config(n, sample=vectors)``,
then ``config.index_kwargs(vectors)``) in a private Redis, and measured against the
exact top-10 of the 500 held-out queries:

- training, ingest (vectors/s, Redis bytes per vector), single ``ingest()`` latency;
- queries: approximate top-k, top-10 after the exact refine with the vectors in
  process, in Postgres (``postgres_fetcher``: bytea and pgvector columns) and in
  Redis (``RedisVectorStore``, float16 and float32); an nprobe sweep; batch
  ``search()`` with and without refine;
- 5,000-id delete, re-index and ``verify()``;
- the worst PING round trip a second client sees while the largest single calls
  run, and Redis's own slowest command in that window (SLOWLOG);
- baselines in the same run: FAISS ``IndexIVFPQ`` (same nlist, code size and nprobe,
  one thread, with and without the same exact refine), exact numpy, pgvector HNSW.

``--quick`` (CI): only the chosen configuration's recall@10 after the in-process
refine, and its latency, on every dataset; exits 1 when recall@10 < 0.95 on any.
It trains exactly as the full run does (the README way).
Writes ``benchmarks/results/ivfpq.json`` (``ivfpq-quick.json``) and prints tables.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks import baselines
from benchmarks.measure import latency_stats, machine, recall_at, timed_queries, write_results
from benchmarks.minilm import load, redis_memory
from benchmarks.pinger import ping_monitor
from benchmarks.servers import pgserver_bin, private_postgres, private_redis
from benchmarks.stores import PostgresStore
from lshrs import LSHRS, corpus_config
from lshrs.fetchers import array_fetcher, postgres_fetcher
from lshrs.schemes.ivfpq import ID_BYTES, IVFPQ
from lshrs.storage import RedisStorage
from lshrs.vector_store import RedisVectorStore

DATASETS = ("debian-minilm", "npm-minilm")
RECALL_GATE = 0.95
"""recall@10 (exact refine, vectors in process) below which ``--quick`` fails."""
K = 10
SINGLE_INGESTS = 200
DELETE_COUNT = 5000
PIPELINE_VECTORS = 10_000
"""Vectors of the largest single ``index()`` call in the PING test."""
BATCH = 100
BATCH_REPEATS = 3
NPROBE_FACTORS = (0.5, 1.0, 2.0)
COUNT_QUERIES = 100
"""Queries whose scanned records are counted (untimed) for the sweep."""
PG_VECTOR_TABLE = "lshrs_bench_pgvector"
LOCAL_REFINE = "lshrs + refine, in-process"
TRAIN_ITERATIONS = inspect.signature(IVFPQ.fit).parameters["iterations"].default
"""Lloyd iterations ``index_kwargs`` trains with (``IVFPQ.fit``'s default)."""

Array = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Dataset:
    name: str
    ids: Ids
    vectors: Array
    queries: Array
    truth: Ids

    @property
    def n(self) -> int:
        return int(self.ids.size)


def load_dataset(name: str) -> Dataset:
    ids, vectors, queries, truth = load(name)
    return Dataset(name, ids, vectors, queries, truth[:, :K])


# -- build ---------------------------------------------------------------------------


def train(data: Dataset) -> tuple[dict[str, Any], dict[str, Any]]:
    """The README way: the config from a sample (here the corpus), then the model."""
    start = time.perf_counter()
    config = corpus_config(data.n, sample=data.vectors)
    kwargs = config.index_kwargs(data.vectors)
    seconds = time.perf_counter() - start
    model: IVFPQ = kwargs["hasher"]
    return kwargs, {
        "nlist": model.nlist,
        "nprobe": model.nprobe,
        "code_bytes": model.code_bytes,
        "rerank_candidates": kwargs["rerank_candidates"],
        "recall_target": config.recall_target,
        "kmeans_iterations": TRAIN_ITERATIONS,
        "train_s": round(seconds, 1),
    }


def build(data: Dataset, url: str, kwargs: dict[str, Any]) -> tuple[LSHRS, dict[str, Any]]:
    """Attach, then one ``index()`` of the whole corpus. Bytes per vector: Redis's
    ``used_memory`` growth over both, less the model blob (``MEMORY USAGE``); measured
    from just after attaching, the input buffer that carried the model would count."""
    before = redis_memory(url)
    lsh = LSHRS(
        data.vectors.shape[1],
        redis_url=url,
        redis_prefix=f"ivfpq-{data.name}",
        vector_fetch_fn=array_fetcher(data.ids, data.vectors),
        **kwargs,
    )
    start = time.perf_counter()
    lsh.index(data.ids, data.vectors)
    seconds = time.perf_counter() - start
    model_bytes = int(lsh.storage.client.memory_usage(lsh.storage.keys.model, samples=0) or 0)
    used = redis_memory(url) - before - model_bytes
    model: IVFPQ = lsh.hasher  # type: ignore[assignment]
    return lsh, {
        "ingest_s": round(seconds, 2),
        "ingest_vps": round(data.n / seconds),
        "redis_bytes_per_vector": round(used / data.n, 1),
        "record_bytes_theory": ID_BYTES + model.code_bytes,
        "model_bytes_in_redis": model_bytes,
        **key_memory(lsh),
    }


def key_memory(lsh: LSHRS) -> dict[str, float]:
    """``MEMORY USAGE`` of the lists and of the reverse index, per vector."""
    client = lsh.storage.client
    root = lsh.storage.keys.root
    keys = list(client.scan_iter(match=lsh.storage.keys.pattern, count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    sizes = dict(zip(keys, pipe.execute(), strict=True))
    count = lsh.storage.count()
    lists = sum(size for key, size in sizes.items() if key[len(root) :].startswith(b"l"))
    reverse = sum(size for key, size in sizes.items() if key[len(root) :].startswith(b"r"))
    return {
        "lists_bytes_per_vector": round(lists / count, 1),
        "reverse_index_bytes_per_vector": round(reverse / count, 1),
    }


def single_ingests(lsh: LSHRS, data: Dataset) -> dict[str, float]:
    """``ingest()`` of one new id at a time (held-out query vectors), then deleted."""
    new_ids = np.arange(data.n, data.n + SINGLE_INGESTS, dtype=np.int64) + 10**6
    vectors = data.queries[np.arange(SINGLE_INGESTS) % len(data.queries)]
    seconds = []
    for index, vector in zip(new_ids.tolist(), vectors, strict=True):
        start = time.perf_counter()
        lsh.ingest(index, vector)
        seconds.append(time.perf_counter() - start)
    lsh.delete(new_ids.tolist())
    return latency_stats(seconds)


# -- queries -------------------------------------------------------------------------

Search = Callable[[Array], list[int]]
Stack = contextlib.ExitStack


def top_k(lsh: LSHRS) -> Search:
    """``get_top_k``: ranked by PQ scores alone, no refine."""
    model: IVFPQ = lsh.hasher  # type: ignore[assignment]
    calibrated = model.nprobe

    def search(query: Array) -> list[int]:
        model.nprobe = calibrated
        return lsh.get_top_k(query, K)

    return search


def refine(lsh: LSHRS, fetch: Any, nprobe: int | None = None) -> Search:
    """``query(q, topk=10, topp=1.0)``: the best ``rerank_candidates`` codes of
    ``nprobe`` lists (default: calibrated) reranked by exact cosine, vectors from
    ``fetch``. Each call sets both, so searchers on one index can alternate."""
    model: IVFPQ = lsh.hasher  # type: ignore[assignment]
    lists = nprobe or model.nprobe

    def search(query: Array) -> list[int]:
        lsh.vector_fetch_fn = fetch
        model.nprobe = lists
        return [i for i, _ in lsh.query(query, topk=K, topp=1.0)]  # type: ignore[misc]

    return search


def exact(data: Dataset) -> Search:
    """Brute force in numpy: one matrix-vector product, then argpartition."""

    def search(query: Array) -> list[int]:
        sims = data.vectors @ query
        top = np.argpartition(-sims, K)[:K]
        found: list[int] = data.ids[top[np.argsort(-sims[top])]].tolist()
        return found

    return search


def timed(data: Dataset, search: Search, name: str) -> dict[str, Any]:
    results, stats = timed_queries(data.queries, search)
    return {"name": name, "recall_at_10": recall_at(results, data.truth), **stats}


def interleaved(
    searchers: dict[str, Search], data: Dataset, warmup: int = 10
) -> list[dict[str, Any]]:
    """Every searcher on every query, in an order rotating by query, so that all of
    them are timed under the same load of a shared machine; one row each."""
    names = list(searchers)
    for query in data.queries[:warmup]:
        for search in searchers.values():
            search(query)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    found: dict[str, list[list[int]]] = {name: [] for name in names}
    for row, query in enumerate(data.queries):
        shift = row % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            found[name].append(searchers[name](query))
            seconds[name].append(time.perf_counter() - start)
    return [
        {
            "name": name,
            "recall_at_10": recall_at(found[name], data.truth),
            **latency_stats(seconds[name]),
        }
        for name in names
    ]


def sweep_searchers(
    lsh: LSHRS, data: Dataset, fetch: Any
) -> tuple[dict[str, Search], dict[str, Any]]:
    """Refine at fractions and multiples of the calibrated nprobe, and the records
    each reads (counted untimed on :data:`COUNT_QUERIES` queries)."""
    model: IVFPQ = lsh.hasher  # type: ignore[assignment]
    calibrated = model.nprobe
    searchers: dict[str, Search] = {}
    info: dict[str, Any] = {}
    for factor in NPROBE_FACTORS:
        model.nprobe = max(1, min(model.nlist, round(calibrated * factor)))
        scanned = np.mean([lsh.candidate_count(q) for q in data.queries[:COUNT_QUERIES]])
        name = LOCAL_REFINE if factor == 1 else f"{LOCAL_REFINE}, nprobe x{factor:g}"
        searchers[name] = refine(lsh, fetch, model.nprobe)
        info[name] = {"nprobe": model.nprobe, "records_scanned_mean": round(float(scanned))}
    model.nprobe = calibrated
    return searchers, info


def redis_stores(
    lsh: LSHRS, url: str, data: Dataset, stack: Stack
) -> tuple[dict[str, Search], dict[str, Any]]:
    """Refine vectors in Redis (``RedisVectorStore``): float16 under the index's own
    prefix (as its docs advise; ``verify()`` is run with them there), float32 under
    another prefix."""
    searchers: dict[str, Search] = {}
    info: dict[str, Any] = {}
    for dtype, storage in (
        ("float16", lsh.storage),
        ("float32", stack.enter_context(contextlib.closing(RedisStorage(url=url, prefix="vec32")))),
    ):
        store = RedisVectorStore(storage, dim=data.vectors.shape[1], dtype=dtype)
        before = redis_memory(url)
        store.put(data.ids, data.vectors)
        stack.callback(store.delete, data.ids)
        name = f"lshrs + refine, RedisVectorStore {dtype}"
        searchers[name] = refine(lsh, store)
        info[name] = {"store_bytes_per_vector": round((redis_memory(url) - before) / data.n, 1)}
    report = lsh.verify()
    info["verify_with_vector_store_under_prefix"] = {
        "ok": report.ok,
        "unknown_keys": len(report.unknown_keys),
    }
    return searchers, info


def postgres_stores(
    lsh: LSHRS, conninfo: str, data: Dataset, pgvector: bool, stack: Stack
) -> tuple[dict[str, Search], dict[str, Any]]:
    """Refine vectors fetched by ``postgres_fetcher``: a bytea table (any Postgres),
    and a pgvector ``vector`` column when the server has the extension."""
    store = PostgresStore(conninfo)
    stack.callback(store.drop)
    store.load(data.ids, data.vectors)
    store.finish()
    tables = [(store.table, "v", "bytea", store.nbytes())]
    if pgvector:
        stack.callback(drop_pgvector, conninfo)
        tables.append((PG_VECTOR_TABLE, "embedding", "pgvector", load_pgvector(conninfo, data)))
    searchers: dict[str, Search] = {}
    info: dict[str, Any] = {}
    for table, column, kind, nbytes in tables:
        fetch = stack.enter_context(
            postgres_fetcher(conninfo, table=table, index_column="id", vector_column=column)
        )
        name = f"lshrs + refine, postgres_fetcher {kind}"
        searchers[name] = refine(lsh, fetch)
        info[name] = {"store_bytes_per_vector": round(nbytes / data.n, 1)}
    return searchers, info


def load_pgvector(conninfo: str, data: Dataset) -> int:
    """A ``(id bigint primary key, embedding vector(dim))`` table; returns its size."""
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute(f"DROP TABLE IF EXISTS {PG_VECTOR_TABLE}")
        conn.execute(
            f"CREATE TABLE {PG_VECTOR_TABLE} (id bigint PRIMARY KEY, "
            f"embedding vector({data.vectors.shape[1]}))"
        )
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {PG_VECTOR_TABLE} FROM STDIN WITH (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["int8", "vector"])
            for index, vector in zip(data.ids.tolist(), data.vectors, strict=True):
                copy.write_row((index, vector))
        conn.execute(f"VACUUM ANALYZE {PG_VECTOR_TABLE}")
        row = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (PG_VECTOR_TABLE,))
        size = row.fetchone()
    return int(size[0]) if size else 0


def drop_pgvector(conninfo: str) -> None:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {PG_VECTOR_TABLE}")


# -- writes --------------------------------------------------------------------------


def deletes(lsh: LSHRS, data: Dataset) -> dict[str, Any]:
    """Delete 5,000 ids, index them again, then check the index is whole."""
    doomed = data.ids[:DELETE_COUNT]
    doomed_list = doomed.tolist()
    start = time.perf_counter()
    lsh.delete(doomed_list)
    deleted = time.perf_counter() - start
    start = time.perf_counter()
    lsh.index(doomed, data.vectors[:DELETE_COUNT])
    again = time.perf_counter() - start
    start = time.perf_counter()
    report = lsh.verify()
    checked = time.perf_counter() - start
    return {
        "delete_ids_per_s": round(DELETE_COUNT / deleted),
        "reindex_vps": round(DELETE_COUNT / again),
        "verify_s": round(checked, 2),
        "verify_ok": report.ok,
        "count": lsh.storage.count(),
    }


# -- blocking ------------------------------------------------------------------------


def blocking(lsh: LSHRS, url: str, data: Dataset) -> dict[str, dict[str, Any]]:
    """Worst PING while the largest single calls run (each against a whole index)."""
    batch = data.ids[:PIPELINE_VECTORS]
    batch_list, doomed = batch.tolist(), batch[:DELETE_COUNT].tolist()
    queries = data.queries[:100]
    lsh.vector_fetch_fn = array_fetcher(data.ids, data.vectors)
    out: dict[str, dict[str, Any]] = {}
    with ping_monitor(url) as monitor:
        out["idle (1 s sleep)"] = monitor.measure(lambda: time.sleep(1.0))
        lsh.delete(batch_list)
        out[f"index() of {PIPELINE_VECTORS:,} new vectors"] = monitor.measure(
            lambda: lsh.index(batch, data.vectors[:PIPELINE_VECTORS])
        )
        out[f"delete() of {DELETE_COUNT:,} ids"] = monitor.measure(lambda: lsh.delete(doomed))
        lsh.index(batch[:DELETE_COUNT], data.vectors[:DELETE_COUNT])
        out["100 refine queries, one after another"] = monitor.measure(
            lambda: [lsh.query(q, topk=K, topp=1.0) for q in queries]
        )
        out["verify()"] = monitor.measure(lsh.verify)
    return out


# -- baselines -----------------------------------------------------------------------


def faiss_searchers(
    data: Dataset, chosen: dict[str, Any], stack: Stack
) -> tuple[dict[str, Any], dict[str, Any]]:
    """FAISS ``IndexIVFPQ`` with lshrs's nlist, code size and nprobe, inner product on
    the normalised vectors; trained with FAISS's default threads (as lshrs trains),
    searched on one thread (until ``stack`` closes), without and with an exact refine
    of the best ``rerank_candidates`` (``IndexRefineFlat``). Returns the indexes by
    name, and build figures."""
    import faiss

    dim = data.vectors.shape[1]
    start = time.perf_counter()
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQ(
        quantizer, dim, chosen["nlist"], chosen["code_bytes"], 8, faiss.METRIC_INNER_PRODUCT
    )
    index.train(data.vectors)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    index.add(data.vectors)
    add_s = time.perf_counter() - start
    index.nprobe = chosen["nprobe"]
    refined_index = faiss.IndexRefineFlat(index, faiss.swig_ptr(data.vectors))
    refined_index.k_factor = chosen["rerank_candidates"] / K
    stack.callback(faiss.omp_set_num_threads, faiss.omp_get_max_threads())
    faiss.omp_set_num_threads(1)
    indexes = {
        "FAISS IndexIVFPQ, no refine": index,
        "FAISS IndexIVFPQ + refine": refined_index,
        "_quantizer": quantizer,
    }
    return indexes, {
        "name": f"FAISS IndexIVFPQ nlist={index.nlist} M={chosen['code_bytes']} nbits=8 "
        f"nprobe={index.nprobe}, inner product, 1 search thread",
        "train_s": round(train_s, 1),
        "add_vps": round(data.n / add_s),
    }


def faiss_search(index: Any) -> Search:
    def search(query: Array) -> list[int]:
        found: list[int] = index.search(query[None], K)[1][0].tolist()
        return found

    return search


def pgvector_searchers(
    conninfo: str, data: Dataset, stack: Stack
) -> tuple[dict[str, Search], dict[str, Any], Any]:
    """pgvector HNSW (``baselines.pgvector_build``), one connection per ef_search."""
    import psycopg

    conn = stack.enter_context(psycopg.connect(conninfo, autocommit=True))
    stack.callback(conn.execute, "DROP TABLE IF EXISTS bench_items")
    info = baselines.pgvector_build(conn, data.ids, data.vectors)
    searchers: dict[str, Search] = {}
    for ef in baselines.PGVECTOR_EF_SEARCH:
        searcher, search = baselines.pgvector_searcher(conninfo, ef)
        stack.callback(searcher.close)
        searchers[f"pgvector HNSW ef_search={ef}"] = search
    return searchers, info, conn


# -- batches -------------------------------------------------------------------------


def batches(lsh: LSHRS, indexes: dict[str, Any], data: Dataset) -> list[dict[str, Any]]:
    """Queries/s of ``search()`` in batches of :data:`BATCH`, lshrs with and without
    refine and FAISS likewise, alternating; the median of :data:`BATCH_REPEATS` runs."""
    runs: dict[str, Callable[[Array], Ids]] = {
        f"lshrs search(), batches of {BATCH}, rerank={rerank}": partial(_lshrs_batch, lsh, rerank)
        for rerank in (False, True)
    }
    for name, index in indexes.items():
        if not name.startswith("_"):
            runs[f"{name}, batches of {BATCH}"] = partial(_faiss_batch, index)
    qps: dict[str, list[float]] = {name: [] for name in runs}
    found: dict[str, Ids] = {}
    for _ in range(BATCH_REPEATS):
        for name, run_batch in runs.items():
            start = time.perf_counter()
            found[name] = np.concatenate(
                [run_batch(data.queries[i : i + BATCH]) for i in range(0, len(data.queries), BATCH)]
            )
            qps[name].append(len(data.queries) / (time.perf_counter() - start))
    return [
        {
            "name": name,
            "recall_at_10": recall_at(found[name].tolist(), data.truth),
            "qps": round(float(np.median(qps[name])), 1),
        }
        for name in runs
    ]


def _lshrs_batch(lsh: LSHRS, rerank: bool, chunk: Array) -> Ids:
    return lsh.search(chunk, K, rerank=rerank)[1]


def _faiss_batch(index: Any, chunk: Array) -> Ids:
    found: Ids = index.search(chunk, K)[1]
    return found


# -- runs ----------------------------------------------------------------------------


def run_quick(url: str, data: Dataset) -> dict[str, Any]:
    """The chosen configuration's refine recall and latency, vectors in process."""
    kwargs, chosen = train(data)
    lsh, ingest = build(data, url, kwargs)
    chosen.update(ingest)
    row = timed(data, refine(lsh, array_fetcher(data.ids, data.vectors)), LOCAL_REFINE)
    lsh.clear()
    lsh.close()
    return {"chosen": chosen, "queries": [row]}


def run_full(url: str, data: Dataset, conninfo: str | None, pgvector: str | None) -> dict[str, Any]:
    """Everything; all single-query searchers, lshrs's and the baselines', are timed
    together (:func:`interleaved`)."""
    kwargs, chosen = train(data)
    lsh, ingest = build(data, url, kwargs)
    chosen.update(ingest)
    chosen["single_ingest"] = single_ingests(lsh, data)
    local = array_fetcher(data.ids, data.vectors)
    out: dict[str, Any] = {"chosen": chosen, "baselines": {}}
    with contextlib.ExitStack() as stack:
        sweep, info = sweep_searchers(lsh, data, local)
        searchers = {"lshrs get_top_k (PQ scores only)": top_k(lsh), **sweep}
        if conninfo is not None:
            found, more = postgres_stores(lsh, conninfo, data, conninfo == pgvector, stack)
            searchers, info = {**searchers, **found}, {**info, **more}
        found, more = redis_stores(lsh, url, data, stack)
        searchers, info = {**searchers, **found}, {**info, **more}
        chosen["verify_with_vector_store_under_prefix"] = info.pop(
            "verify_with_vector_store_under_prefix"
        )
        searchers["exact numpy (brute force)"] = exact(data)
        indexes: dict[str, Any] = {}
        with contextlib.suppress(ImportError):
            indexes, out["baselines"]["faiss"] = faiss_searchers(data, chosen, stack)
            searchers |= {k: faiss_search(v) for k, v in indexes.items() if not k.startswith("_")}
        pg_conn = None
        if pgvector is not None:
            found, out["baselines"]["pgvector"], pg_conn = pgvector_searchers(pgvector, data, stack)
            searchers |= found
        rows = interleaved(searchers, data)
        out["queries"] = [{**row, **info.get(row["name"], {})} for row in rows]
        lsh.vector_fetch_fn = local
        out["batch"] = batches(lsh, indexes, data)
        if pg_conn is not None:
            out["baselines"]["pgvector"]["delete_ids_per_s"] = baselines.pgvector_delete(
                pg_conn, data.ids, DELETE_COUNT
            )
    chosen.update(deletes(lsh, data))
    out["blocking"] = blocking(lsh, url, data)
    lsh.clear()
    lsh.close()
    return out


def run(
    url: str,
    conninfo: str | None,
    pgvector: str | None,
    quick: bool,
    datasets: tuple[str, ...] = DATASETS,
) -> dict[str, Any]:
    """Every dataset, one after another, in the Redis at ``url``."""
    out: dict[str, Any] = {}
    for name in datasets:
        started = time.time()
        data = load_dataset(name)
        load_before = machine()["load_average"]
        result = run_quick(url, data) if quick else run_full(url, data, conninfo, pgvector)
        out[name] = {
            "dataset": {
                "vectors": data.n,
                "dim": int(data.vectors.shape[1]),
                "queries": len(data.queries),
            },
            **result,
            "load_average": {"before": load_before, "after": machine()["load_average"]},
            "wall_s": round(time.time() - started, 1),
        }
        print(f"{name}: done in {out[name]['wall_s']} s", file=sys.stderr, flush=True)
    return out


def refine_row(entry: dict[str, Any]) -> dict[str, Any]:
    """The chosen configuration's top-10 after the exact refine, vectors in process."""
    row: dict[str, Any] = next(r for r in entry["queries"] if r["name"] == LOCAL_REFINE)
    return row


def failures(results: dict[str, Any]) -> list[str]:
    """Datasets whose chosen configuration misses :data:`RECALL_GATE`."""
    return [
        f"{name}: recall@10 {refine_row(entry)['recall_at_10']} < {RECALL_GATE}"
        for name, entry in results.items()
        if refine_row(entry)["recall_at_10"] < RECALL_GATE
    ]


# -- tables --------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = [header, ["---"] * len(header), *([_cell(c) for c in row] for row in rows)]
    return ["| " + " | ".join(str(c) for c in line) + " |" for line in lines] + [""]


def side_by_side(
    results: dict[str, Any],
    rows: Callable[[dict[str, Any]], dict[str, dict[str, Any]]],
    fields: list[tuple[str, str]],
) -> list[str]:
    """One row per label, and for every dataset its ``fields`` (key, title)."""
    names = list(results)
    per = {name: rows(results[name]) for name in names}
    labels = list(dict.fromkeys(label for name in names for label in per[name]))
    header = ["", *(f"{name.split('-')[0]} {title}" for name in names for _, title in fields)]
    body = [
        [label, *(per[name].get(label, {}).get(key) for name in names for key, _ in fields)]
        for label in labels
    ]
    return _table(header, body)


def config_rows(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    chosen = entry["chosen"]
    single = chosen.get("single_ingest", {})
    values = {
        "vectors": entry["dataset"]["vectors"],
        "nlist / nprobe": f"{chosen['nlist']} / {chosen['nprobe']}",
        "code bytes / refine depth": f"{chosen['code_bytes']} / {chosen['rerank_candidates']}",
        "training s (corpus_config + index_kwargs)": chosen["train_s"],
        "k-means iterations": chosen["kmeans_iterations"],
        "index() vectors/s": chosen["ingest_vps"],
        "Redis bytes/vector (used_memory delta)": chosen["redis_bytes_per_vector"],
        "  lists / reverse index (MEMORY USAGE)": f"{chosen['lists_bytes_per_vector']} / "
        f"{chosen['reverse_index_bytes_per_vector']}",
        "  record size in theory (8 + code bytes)": chosen["record_bytes_theory"],
        "model in Redis, bytes": chosen["model_bytes_in_redis"],
        "single ingest() p50 / p95 ms": f"{single['p50_ms']} / {single['p95_ms']}"
        if single
        else None,
        "delete ids/s (5,000)": chosen.get("delete_ids_per_s"),
        "re-index vectors/s (5,000)": chosen.get("reindex_vps"),
        "verify() s / ok": f"{chosen['verify_s']} / {_cell(chosen['verify_ok'])}"
        if "verify_ok" in chosen
        else None,
        "verify() ok with RedisVectorStore keys under the prefix": _nested(
            chosen, "verify_with_vector_store_under_prefix", "ok"
        ),
        "refine store bytes/vector: " + " / ".join(STORE_SHORT.values()): _store_bytes(entry),
        "FAISS IVFPQ train s / add vectors/s": _pair(entry, "faiss", "train_s", "add_vps"),
        "pgvector COPY s / HNSW build s": _pair(entry, "pgvector", "copy_s", "build_s"),
        "pgvector bytes/vector (table+index) / delete ids/s": _pair(
            entry, "pgvector", "bytes_per_vector_total", "delete_ids_per_s"
        ),
        "dataset wall s": entry["wall_s"],
        "load average before -> after": f"{entry['load_average']['before'][0]} -> "
        f"{entry['load_average']['after'][0]}",
    }
    return {label: {"value": value} for label, value in values.items() if value is not None}


STORE_SHORT = {
    "lshrs + refine, RedisVectorStore float16": "Redis f16",
    "lshrs + refine, RedisVectorStore float32": "Redis f32",
    "lshrs + refine, postgres_fetcher bytea": "PG bytea",
    "lshrs + refine, postgres_fetcher pgvector": "PG vector",
}


def _nested(entry: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(entry, dict) or key not in entry:
            return None
        entry = entry[key]
    return entry


def _pair(entry: dict[str, Any], baseline: str, first: str, second: str) -> str | None:
    found = _nested(entry, "baselines", baseline)
    if not isinstance(found, dict):
        return None
    return f"{_cell(found.get(first))} / {_cell(found.get(second))}"


def _store_bytes(entry: dict[str, Any]) -> str | None:
    sizes = {r["name"]: r.get("store_bytes_per_vector") for r in entry["queries"]}
    if not any(name in sizes for name in STORE_SHORT):
        return None
    return " / ".join(_cell(sizes.get(name)) for name in STORE_SHORT)


def query_rows(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    local = refine_row(entry)["p95_ms"]
    return {
        row["name"]: {**row, "ratio": f"{row['p95_ms'] / local:.2f}x"} for row in entry["queries"]
    }


def batch_rows(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in entry.get("batch", [])}


def blocking_rows(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(entry.get("blocking", {}))


def ratio_lines(results: dict[str, Any]) -> list[str]:
    """lshrs (refine, in process) p95 over FAISS's and pgvector's, with each recall."""
    lines = []
    for name, entry in results.items():
        ours = refine_row(entry)
        others = [r for r in entry["queries"] if r["name"].startswith(("FAISS", "pgvector"))]
        for other in others:
            lines.append(
                f"- {name}: lshrs / {other['name']} p95 = {ours['p95_ms'] / other['p95_ms']:.2f}x "
                f"({ours['p95_ms']} ms at recall {ours['recall_at_10']} vs {other['p95_ms']} ms "
                f"at recall {other['recall_at_10']})"
            )
    return [*lines, ""] if lines else []


def tables(results: dict[str, Any]) -> str:
    out = ["## IVF-PQ: configuration and writes", ""]
    out += side_by_side(results, config_rows, [("value", "")])
    out += [
        "## Queries: 500 held-out, one at a time, every method timed in turn on each "
        "query (interleaved); ratio = p95 / p95 of lshrs + refine, in-process",
        "",
    ]
    out += side_by_side(
        results,
        query_rows,
        [
            ("recall_at_10", "R@10"),
            ("p50_ms", "p50"),
            ("p95_ms", "p95"),
            ("p99_ms", "p99"),
            ("ratio", "ratio"),
        ],
    )
    if any("batch" in entry for entry in results.values()):
        out += [f"## Batch search (batches of {BATCH}, median of {BATCH_REPEATS} runs)", ""]
        out += side_by_side(results, batch_rows, [("recall_at_10", "R@10"), ("qps", "q/s")])
    if any("blocking" in entry for entry in results.values()):
        out += ["## Worst PING of a second client during one call (ms)", ""]
        out += side_by_side(
            results,
            blocking_rows,
            [("call_ms", "call"), ("worst_ping_ms", "ping"), ("redis_slowest_ms", "slowest cmd")],
        )
    ratios = ratio_lines(results)
    if ratios:
        out += ["## p95 ratios at each one's recall", "", *ratios]
    return "\n".join(out)


# -- command line --------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ivfpq", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI mode: recall gate only")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names")
    parser.add_argument("--name", default=None, help="results file name (default ivfpq[-quick])")
    parser.add_argument(
        "--pg", default=None, help="conninfo of a Postgres for the refine (default: private)"
    )
    args = parser.parse_args(argv)
    datasets = tuple(name for name in args.datasets.split(",") if name)
    name = args.name or ("ivfpq-quick" if args.quick else "ivfpq")
    started = time.time()
    results: dict[str, Any] = {
        "machine": machine(),
        "quick": args.quick,
        "lshrs": lshrs_version(),
        "command": "python -m benchmarks.ivfpq " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(private_redis())
        pg, pgvector = args.pg, None
        if not args.quick and pgserver_bin() is not None:
            pgvector = stack.enter_context(private_postgres())
            pg = pg or pgvector
        results["datasets"] = run(url, pg, pgvector, args.quick, datasets)
    results["wall_s"] = round(time.time() - started, 1)
    path = write_results(f"{name}.json", results)
    print(tables(results["datasets"]))
    print(f"wrote {path} ({results['wall_s']} s)")
    return gate(results["datasets"])


def lshrs_version() -> dict[str, Any]:
    """The commit measured, and whether the library had uncommitted changes."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "lshrs_dirty": bool(git("status", "--short", "lshrs", "lua")),
    }


def gate(results: dict[str, Any]) -> int:
    """1 (and the reasons on stderr) when a dataset misses :data:`RECALL_GATE`."""
    failed = failures(results)
    for line in failed:
        print(f"FAIL: IVF-PQ {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
