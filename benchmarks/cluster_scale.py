"""A large IVF-PQ index spread over the masters of a local Redis Cluster:
``python -m benchmarks.cluster_scale [--size 6400000]``.

The clustered 768-dim set (``benchmarks.scale.ClusteredEmbeddings``) is generated in
chunks and never held whole: the model is trained on a sample of the first chunks
(``corpus_config(size, sample=...)``, the README way), then every chunk is indexed into
3 partitions on a private cluster of 3 masters and 3 replicas, its exact top-10 for 500
held-out queries is updated, and its vectors are appended to a float16 file on disk,
from which the exact refine fetches candidates. Reports ``used_memory`` of every
master and replica, ingest rate, recall@10 and latency of top-10 after the refine.
Writes ``benchmarks/results/cluster-scale-<size>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.cluster import memory
from benchmarks.measure import machine, recall_at, timed_queries, write_results
from benchmarks.scale import ClusteredEmbeddings, ExactTop
from lshrs import LSHRS, corpus_config
from tests.fixtures.redis_cluster import LocalCluster

TRAINING_SAMPLE = 262_144


def run(size: int, workdir: Path) -> dict[str, Any]:
    data = ClusteredEmbeddings(size)
    queries = data.queries()
    exact = ExactTop(queries)
    stored = np.lib.format.open_memmap(
        workdir / "vectors.f16.npy", mode="w+", dtype=np.float16, shape=(size, data.dim)
    )

    def fetch(ids: list[int]) -> npt.NDArray[np.float32]:
        return np.asarray(stored[np.asarray(ids)], dtype=np.float32)

    chunks = data.chunks()
    head: list[npt.NDArray[np.float32]] = []
    pending: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = []
    while sum(len(v) for v in head) < min(size, TRAINING_SAMPLE):
        ids, vectors = next(chunks)
        head.append(vectors)
        pending.append((ids, vectors))
    sample = np.concatenate(head)
    config = corpus_config(size, sample=sample)
    started = time.perf_counter()
    kwargs = config.index_kwargs(sample[: config.min_sample()])
    train_s = time.perf_counter() - started
    del head, sample
    model = kwargs["hasher"]

    cluster = LocalCluster().start()
    try:
        masters = [n.port for n in cluster.nodes if cluster.role_of(n) == "master"]
        replicas = [n.port for n in cluster.nodes if n.port not in masters]
        before = memory(masters + replicas)
        lsh = LSHRS(
            data.dim,
            redis_url=cluster.url,
            redis_prefix="cluster-scale",
            partitions=3,
            vector_fetch_fn=fetch,
            **kwargs,
        )
        ingest_s = generate_s = 0.0
        started = time.perf_counter()

        def chunk_stream() -> Any:
            yield from pending
            yield from chunks

        for ids, vectors in chunk_stream():
            generate_s += time.perf_counter() - started
            exact.add(ids, vectors)
            stored[ids] = vectors
            begin = time.perf_counter()
            lsh.index(ids, vectors)
            ingest_s += time.perf_counter() - begin
            started = time.perf_counter()
            if ids[0] % 1_000_000 < len(ids):
                print(f"indexed {ids[-1] + 1:,} in {ingest_s:.0f} s", flush=True)
        stored.flush()
        after = memory(masters + replicas)
        found, latency = timed_queries(
            queries, lambda q: [i for i, _ in lsh.query(q, topk=10, topp=1.0)]
        )
        found_k, latency_k = timed_queries(queries, lambda q: lsh.get_top_k(q, topk=10))
        count = lsh.stats()["num_indexed"]
        lsh.close()
    finally:
        cluster.stop()
    used = {port: after[port] - before[port] for port in after}
    return {
        "dataset": {"vectors": size, "dim": data.dim, "queries": len(queries)},
        "config": {
            "nlist": model.nlist,
            "nprobe": model.nprobe,
            "code_bytes": model.code_bytes,
            "rerank_candidates": kwargs.get("rerank_candidates"),
            "partitions": 3,
            "masters": 3,
            "replicas": 3,
        },
        "num_indexed": count,
        "train_s": round(train_s, 1),
        "ingest_s": round(ingest_s, 1),
        "ingest_vps": round(size / ingest_s),
        "used_memory_per_master": {str(p): after[p] for p in masters},
        "used_memory_per_replica": {str(p): after[p] for p in replicas},
        "index_bytes_per_vector_masters": round(sum(used[p] for p in masters) / size, 1),
        "top10_refined": {"recall_at_10": recall_at(found, exact.ids), **latency},
        "top10_codes_only": {"recall_at_10": recall_at(found_k, exact.ids), **latency_k},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster_scale", description=__doc__)
    parser.add_argument("--size", type=int, default=6_400_000)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lshrs-cluster-scale-") as workdir:
        result = {"machine": machine(), **run(args.size, Path(workdir))}
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    path = write_results(f"cluster-scale-{args.size}.json", result)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
