"""A partitioned IVF-PQ index on a local Redis Cluster against one Redis:
``python -m benchmarks.cluster [--datasets debian-minilm,npm-minilm] [--name NAME]``.

Per dataset, one IVF-PQ model is trained the README way (``corpus_config(n,
sample=vectors)``, then ``index_kwargs``) and the same model is loaded into three
setups, side by side in one run:

- ``single``: one private Redis, 1 partition (the unpartitioned layout);
- ``single-3``: the same Redis, 3 partitions;
- ``cluster-3``: a private cluster of 3 masters and 3 replicas on this machine
  (``redis-cli --cluster create``), 3 partitions, one per master.

For each: ingest rate (``index()`` from arrays) and each Redis process's busy share
during it (``INFO cpu`` user+sys seconds over wall time); queries (top-10 after the
exact refine with the vectors in process): recall@10, p50/p95/p99; batch ``search()``
in batches of 100. Writes ``benchmarks/results/cluster.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import redis

from benchmarks.measure import machine, recall_at, timed_queries, write_results
from benchmarks.minilm import load
from benchmarks.servers import private_redis
from lshrs import LSHRS, corpus_config
from lshrs.sources import array_fetcher
from tests.fixtures.redis_cluster import LocalCluster


def cpu_seconds(ports: list[int]) -> dict[int, float]:
    """user + sys CPU seconds each Redis process has used so far."""
    used = {}
    for port in ports:
        client = redis.Redis(port=port)
        info = client.info("cpu")
        client.close()
        used[port] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return used


def memory(ports: list[int]) -> dict[int, int]:
    used = {}
    for port in ports:
        client = redis.Redis(port=port)
        used[port] = int(client.info("memory")["used_memory"])
        client.close()
    return used


@contextlib.contextmanager
def servers() -> Iterator[tuple[str, LocalCluster]]:
    cluster = LocalCluster().start()
    try:
        with private_redis() as url:
            yield url, cluster
    finally:
        cluster.stop()


def measure(
    name: str,
    url: str,
    partitions: int,
    ports: dict[str, list[int]],
    kwargs: dict[str, Any],
    data: tuple[Any, Any, Any, Any],
) -> dict[str, Any]:
    ids, vectors, queries, truth = data
    lsh = LSHRS(
        vectors.shape[1],
        redis_url=url,
        redis_prefix=f"bench-{name}",
        partitions=partitions,
        vector_fetch_fn=array_fetcher(ids, vectors),
        **kwargs,
    )
    watched = ports["masters"] + ports["replicas"]
    before_cpu = cpu_seconds(watched)
    started = time.perf_counter()
    lsh.index(ids, vectors)
    ingest_s = time.perf_counter() - started
    after_cpu = cpu_seconds(watched)
    busy = {
        role: [round(100 * (after_cpu[p] - before_cpu[p]) / ingest_s, 1) for p in ports[role]]
        for role in ("masters", "replicas")
    }
    found, latency = timed_queries(
        queries, lambda q: [i for i, _ in lsh.query(q, topk=10, topp=1.0)]
    )
    started = time.perf_counter()
    for start in range(0, len(queries), 100):
        lsh.search(queries[start : start + 100], k=10)
    batch_s = time.perf_counter() - started
    report = lsh.verify()
    result = {
        "setup": name,
        "partitions": partitions,
        "ingest_vps": round(len(ids) / ingest_s),
        "ingest_s": round(ingest_s, 1),
        "redis_busy_pct_during_ingest": busy,
        "recall_at_10": recall_at(found, truth),
        **{f"query_{k}": v for k, v in latency.items()},
        "batch_search_qps": round(len(queries) / batch_s, 1),
        "verify_ok": report.ok,
        "used_memory_per_master": list(memory(ports["masters"]).values()),
    }
    lsh.clear()
    lsh.close()
    return result


def run(dataset: str) -> dict[str, Any]:
    data = load(dataset)
    ids, vectors, _, _ = data
    config = corpus_config(len(ids), sample=vectors)
    started = time.perf_counter()
    kwargs = config.index_kwargs(vectors)
    train_s = time.perf_counter() - started
    model = kwargs["hasher"]
    results = []
    with servers() as (single_url, cluster):
        single_port = int(single_url.rsplit(":", 1)[1].split("/")[0])
        single = {"masters": [single_port], "replicas": []}
        masters = [n.port for n in cluster.nodes if cluster.role_of(n) == "master"]
        replicas = [n.port for n in cluster.nodes if n.port not in masters]
        for name, url, partitions, ports in (
            ("single", single_url, 1, single),
            ("single-3", single_url, 3, single),
            ("cluster-3", cluster.url, 3, {"masters": masters, "replicas": replicas}),
        ):
            result = measure(name, url, partitions, ports, kwargs, data)
            results.append(result)
            print(json.dumps(result), flush=True)
    base = results[0]
    ratios = {
        r["setup"]: {
            "ingest": round(r["ingest_vps"] / base["ingest_vps"], 2),
            "query_p95": round(r["query_p95_ms"] / base["query_p95_ms"], 2),
            "batch_search": round(r["batch_search_qps"] / base["batch_search_qps"], 2),
        }
        for r in results[1:]
    }
    return {
        "dataset": {"name": dataset, "vectors": len(ids), "dim": int(vectors.shape[1])},
        "config": {
            "nlist": model.nlist,
            "nprobe": model.nprobe,
            "code_bytes": model.code_bytes,
            "rerank_candidates": kwargs.get("rerank_candidates", 200),
        },
        "train_s": round(train_s, 1),
        "setups": results,
        "ratios_to_single": ratios,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__)
    parser.add_argument("--datasets", default="debian-minilm,npm-minilm")
    parser.add_argument("--name", default="cluster")
    args = parser.parse_args(argv)
    output = {
        "machine": machine(),
        "runs": [run(name) for name in args.datasets.split(",")],
    }
    path = write_results(f"{args.name}.json", output)
    for item in output["runs"]:
        print(item["dataset"]["name"], json.dumps(item["ratios_to_single"]))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
