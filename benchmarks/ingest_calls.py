"""Insert call size and ARGV form against ingest rate and Redis blocking:
``python -m benchmarks.ingest_calls`` (about 3 minutes; writes
results/ingest_calls.json).

``index()`` sends calls of ``RedisStorage(memberships_per_call=...)`` memberships (ids
x bands; the insert script refuses more than 16,384); each call is one atomic script
run, so Redis serves nobody else meanwhile. This sweep indexes the
first 200,000 vectors of the 1M scale set with both of its configurations (rows
from the corpus size, 14, and fitted to a sample, 18) at several call sizes, in the
``"*"`` form (one SADD per membership, derived in Lua) and the grouped form (one
variadic SADD per bucket of the call), and reports vectors/s end to end, Redis time
per vector and the mean time one call holds Redis.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from benchmarks.measure import write_results
from benchmarks.scale import DIM, SCALE_BANDS, ClusteredEmbeddings
from benchmarks.servers import private_redis
from lshrs import LSHRS, RedisStorage, corpus_config

VECTORS = 200_000
CALL_SIZES = (1024, 2048, 8192, 16384)
"""Memberships per call."""
FORMS = {"*": float("inf"), "grouped": 0.0}
"""ARGV form -> ``RedisStorage(min_group_size=...)`` that forces it."""


def one(
    url: str, kwargs: dict[str, Any], data: list[Any], memberships: int, min_group_size: float
) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    client.flushall()
    storage = RedisStorage(
        url=url, prefix="calls", memberships_per_call=memberships, min_group_size=min_group_size
    )
    lsh = LSHRS(DIM, storage=storage, **kwargs)
    client.config_resetstat()
    seconds = 0.0
    for ids, vectors in data:
        start = time.perf_counter()
        lsh.index(ids, vectors)
        seconds += time.perf_counter() - start
    stats = client.info("commandstats")["cmdstat_evalsha"]
    lsh.close()
    client.close()
    return {
        "memberships_per_call": memberships,
        "ids_per_call": memberships // SCALE_BANDS,
        "vectors_per_s": round(VECTORS / seconds),
        "redis_us_per_vector": round(stats["usec"] / VECTORS, 1),
        "redis_ms_per_call": round(stats["usec_per_call"] / 1000, 1),
    }


def main() -> None:
    stream = ClusteredEmbeddings(1_000_000)
    chunks = stream.chunks()
    data = [next(chunks) for _ in range(VECTORS // 50_000)]
    sample = data[0][1][:10_000]
    configs = {
        "rows from size": corpus_config(1_000_000, num_bands=SCALE_BANDS),
        "rows fitted to a sample": corpus_config(
            1_000_000, num_bands=SCALE_BANDS, sample=sample, index="hyperplane"
        ),
    }
    results: dict[str, Any] = {"command": "python -m benchmarks.ingest_calls", "runs": []}
    with private_redis("--set-max-intset-entries", "8192") as url:
        for label, config in configs.items():
            kwargs = config.index_kwargs(sample)
            for form, threshold in FORMS.items():
                for size in CALL_SIZES:
                    row = {
                        "config": f"{label}: 16 x {config.rows_per_band}",
                        "form": form,
                        **one(url, kwargs, data, size, threshold),
                    }
                    print(row, flush=True)
                    results["runs"].append(row)
    write_results("ingest_calls.json", results)


if __name__ == "__main__":
    main()
