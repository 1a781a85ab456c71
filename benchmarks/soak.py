"""Soak test: sustained top-k queries at full speed plus a steady, balanced trickle of
inserts and deletes, for a bounded time on loopback.

Reports per window: query throughput, p50/p99 latency, errors (must be zero) and the
server's used memory (must stay flat: as many ids leave as arrive).

Usage:
    python -m benchmarks.soak --seconds 120            # private redis-server, real data
    python -m benchmarks.soak --seconds 120 --url redis://127.0.0.1:6379/0

Writes benchmarks/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import numpy.typing as npt
import redis

from benchmarks.minilm import dataset_dir
from tests.faults.soak import run_soak

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"
DATASET = dataset_dir()


def load_minilm() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    import pyarrow.parquet as pq

    table = pq.read_table(DATASET / "debian-minilm.parquet", columns=["vector"])
    flat = table.column("vector").combine_chunks().flatten().to_numpy()
    base = np.ascontiguousarray(flat.reshape(table.num_rows, -1), dtype=np.float32)
    return base, np.load(DATASET / "debian-minilm.queries.npy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--window", type=float, default=10.0, help="seconds per report line")
    parser.add_argument("--indexed", type=int, default=50_000)
    parser.add_argument(
        "--trickle", type=int, default=200, help="ids inserted (and deleted) a second"
    )
    parser.add_argument("--url", help="a Redis to use instead of a private redis-server")
    args = parser.parse_args()

    base, queries = load_minilm()
    server = None
    url = args.url
    if url is None:
        from tests.fixtures.redis_server import RedisProcess, server_binaries

        server = RedisProcess(server_binaries()["redis-server"]).start()
        url = server.url
    try:
        result = run_soak(
            url,
            base,
            queries,
            seconds=args.seconds,
            window_seconds=args.window,
            indexed=args.indexed,
            trickle_per_second=args.trickle,
        )
    finally:
        if server is not None:
            server.stop()
    result["server"] = redis_version(url) if server is None else "private redis-server 7.0"
    result["machine"] = f"{platform.machine()}, {platform.python_version()}"
    for line in result["windows"]:
        print(json.dumps(line))
    print(json.dumps({k: v for k, v in result.items() if k != "windows"}, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def redis_version(url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        return f"redis {client.info('server')['redis_version']}"
    finally:
        client.close()


if __name__ == "__main__":
    main()
