"""IVF-PQ at scale: the clustered 768-dim set, with FAISS IndexIVFPQ on the same model.

``python -m benchmarks.ivfpq_scale [--size 1000000]``: generates the set in chunks
(``benchmarks.scale.ClusteredEmbeddings``, exact neighbours of 500 held-out queries
computed on the way), configures the index the README way from a sample of the first
chunks, ingests it into a private Redis, and measures recall@10 and latency of
top-k after an exact refine (vectors in process), batch search, memory per vector and
ingest rate. Beside it, in the same run: a FAISS ``IndexIVFPQ`` holding the same
centroids and codebooks (one thread, in process), filled with ``add`` and searched
with the same ``nprobe`` and the same exact refine, so the two differ only in where
the lists live. Writes ``benchmarks/results/ivfpq-scale-<size>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.measure import machine, timed_queries, write_results
from benchmarks.minilm import redis_memory
from benchmarks.scale import ClusteredEmbeddings, ExactTop
from benchmarks.servers import private_redis
from lshrs import LSHRS, corpus_config
from lshrs.fetchers import array_fetcher
from lshrs.ivfpq import IVFPQ

REFINE = 200


def recall(found: list[list[int]], truth: npt.NDArray[np.int64]) -> float:
    hits = [len(set(row) & set(t.tolist())) for row, t in zip(found, truth, strict=True)]
    return round(float(np.mean(hits)) / truth.shape[1], 4)


def faiss_twin(model: IVFPQ) -> Any:
    """A FAISS IndexIVFPQ with this model's centroids and codebooks (inner product)."""
    import faiss

    faiss.omp_set_num_threads(1)
    quantizer = faiss.IndexFlatIP(model.dim)
    quantizer.add(model.centroids)
    index = faiss.IndexIVFPQ(
        quantizer, model.dim, model.nlist, model.code_bytes, 8, faiss.METRIC_INNER_PRODUCT
    )
    faiss.copy_array_to_vector(model.pq.codebooks.ravel(), index.pq.centroids)
    index.is_trained = True
    index.nprobe = model.nprobe
    return index


def refined(
    search: Any, vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32]
) -> list[int]:
    """Top-10 by exact cosine of the ``REFINE`` best candidates ``search`` returns."""
    candidates = search(query)
    candidates = candidates[candidates >= 0]
    sims = vectors[candidates] @ query
    return candidates[np.argsort(-sims)[:10]].tolist()  # type: ignore[no-any-return]


def run(size: int, redis_url: str) -> dict[str, Any]:
    data = ClusteredEmbeddings(size)
    queries = data.queries()
    exact = ExactTop(queries)
    vectors = np.empty((size, data.dim), dtype=np.float32)
    started = time.perf_counter()
    for ids, chunk in data.chunks():
        vectors[ids] = chunk
        exact.add(ids, chunk)
    generate_s = time.perf_counter() - started

    config = corpus_config(size, sample=vectors[: min(size, 262_144)])
    sample = vectors[: config.min_sample()]
    started = time.perf_counter()
    kwargs = config.index_kwargs(sample)
    train_s = time.perf_counter() - started
    model: IVFPQ = kwargs["hasher"]
    ids = np.arange(size, dtype=np.int64)

    before = redis_memory(redis_url)
    lsh = LSHRS(
        data.dim,
        redis_url=redis_url,
        redis_prefix="ivfpq-scale",
        vector_fetch_fn=array_fetcher(ids, vectors),
        **kwargs,
    )
    started = time.perf_counter()
    lsh.index(ids, vectors)
    ingest_s = time.perf_counter() - started
    used = redis_memory(redis_url) - before - len(model.model_blob())

    twin = faiss_twin(model)
    started = time.perf_counter()
    twin.add_with_ids(vectors, ids)
    faiss_add_s = time.perf_counter() - started

    found, lshrs_stats = timed_queries(
        queries, lambda q: [i for i, _ in lsh.query(q, topk=10, topp=1.0)]
    )
    faiss_found, faiss_stats = timed_queries(
        queries, lambda q: refined(lambda x: twin.search(x[None], REFINE)[1][0], vectors, q)
    )
    started = time.perf_counter()
    for start in range(0, len(queries), 100):
        lsh.search(queries[start : start + 100], k=10)
    batch_s = time.perf_counter() - started
    scanned = float(np.mean([lsh.candidate_count(q) for q in queries[:100]]))
    return {
        "dataset": {"vectors": size, "dim": data.dim, "queries": len(queries)},
        "config": {
            "nlist": model.nlist,
            "nprobe": model.nprobe,
            "code_bytes": model.code_bytes,
            "rerank_candidates": lsh.rerank_candidates,
            "sample": int(sample.shape[0]),
        },
        "generate_s": round(generate_s, 1),
        "train_s": round(train_s, 1),
        "ingest_vps": round(size / ingest_s),
        "faiss_add_vps": round(size / faiss_add_s),
        "redis_bytes_per_vector": round(used / size, 1),
        "records_scanned_per_query": round(scanned),
        "lshrs": {"recall_at_10": recall(found, exact.ids), **lshrs_stats},
        "faiss_same_model": {"recall_at_10": recall(faiss_found, exact.ids), **faiss_stats},
        "batch_search_qps": round(len(queries) / batch_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ivfpq_scale", description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    started = time.time()
    with private_redis() as redis_url:
        result = run(args.size, redis_url)
    result = {
        "machine": machine(),
        "command": "python -m benchmarks.ivfpq_scale " + " ".join(argv or sys.argv[1:]),
        **result,
        "wall_s": round(time.time() - started, 1),
    }
    write_results(f"ivfpq-scale-{args.size}.json", result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
