"""How long verify() takes, how long one verify.lua call blocks Redis, and memory per id.

Usage:
    python -m benchmarks.verify_speed --ids 200000 --bands 16

Builds the index on a private redis-server (synthetic vectors, dim 16: hashing is
not what is measured), then runs verify() with SLOWLOG recording its slow calls.
Writes benchmarks/results/verify_speed.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import redis

from lshrs import LSHRS
from lshrs.verify import VERIFY_SCAN_COUNT
from tests.fixtures.redis_server import RedisProcess, server_binaries

RESULTS = Path(__file__).resolve().parent / "results" / "verify_speed.json"


def measure(binary: str, ids: int, bands: int, rows: int) -> dict[str, object]:
    server = RedisProcess(binary).start()
    try:
        admin = redis.Redis.from_url(server.url)
        empty = int(admin.info("memory")["used_memory"])
        lsh = LSHRS(dim=16, num_bands=bands, rows_per_band=rows, redis_url=server.url)
        vectors = np.random.default_rng(0).standard_normal((ids, 16)).astype(np.float32)
        began = time.perf_counter()
        lsh.index(np.arange(ids), vectors)
        index_seconds = time.perf_counter() - began
        used = int(admin.info("memory")["used_memory"])
        # Redis 7 logs the commands inside scripts too; 1 ms keeps only script calls.
        admin.config_set("slowlog-log-slower-than", 1000)
        admin.config_set("slowlog-max-len", 100_000)
        admin.slowlog_reset()
        calls_before = admin.info("commandstats")["cmdstat_evalsha"]["calls"]
        began = time.perf_counter()
        report = lsh.verify()
        verify_seconds = time.perf_counter() - began
        calls = admin.info("commandstats")["cmdstat_evalsha"]["calls"] - calls_before
        slow = [
            entry["duration"]
            for entry in admin.slowlog_get(100_000)
            if entry["command"].upper().startswith(b"EVALSHA")
        ]
        lsh.close()
        admin.close()
        return {
            "server": binary,
            "ids": ids,
            "num_bands": bands,
            "rows_per_band": rows,
            "keys_per_call": VERIFY_SCAN_COUNT,
            "index_seconds": round(index_seconds, 2),
            "bytes_per_id": round((used - empty) / ids),
            "verify_ok": report.ok,
            "verify_seconds": round(verify_seconds, 2),
            "verify_calls": calls,
            "verify_calls_over_1ms": len(slow),
            "verify_call_max_ms": round(max(slow) / 1000, 1),
            "verify_call_mean_ms": round(verify_seconds * 1000 / calls, 1),
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=200_000)
    parser.add_argument("--bands", type=int, default=16)
    parser.add_argument("--rows", type=int, default=8)
    args = parser.parse_args()
    results = [
        measure(binary, args.ids, args.bands, args.rows) for binary in server_binaries().values()
    ]
    for result in results:
        print(json.dumps(result))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
