"""Failover and slot migration under a partitioned index on a local Redis Cluster:
``python -m benchmarks.cluster_faults``.

- **failover**, with ``wait_replicas`` 0 and 1: index 30,000 ids into 3 partitions,
  pause the replica of partition 0's master (SIGSTOP, its link cut), index 3,000
  more, kill the master, resume the replica, wait for its promotion; count the
  acknowledged ids a query for their own vector no longer finds, and time the writes.
- **migration**: move the slot of partition 0 to another master 5 keys at a time (what
  ``redis-cli --cluster reshard`` does), 20 ms apart, while one client queries; count the answers
  that differ from those before the move, and run ``verify()`` afterwards.

Writes ``benchmarks/results/cluster-faults.json``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import Any

import numpy as np
import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.retry import Retry

from benchmarks.measure import machine, write_results
from lshrs import IVFPQ, LSHRS, RedisStorage
from lshrs.partitions import partition_of, partition_prefixes
from lshrs.replication import NotReplicatedError
from tests.fixtures.redis_cluster import LocalCluster

DIM = 64
MIGRATE_PAUSE_S = 0.02
"""Pause between batches of 5 keys moved: a migration that takes a while, as on a busy
cluster, so the reader sees it."""
BEFORE, DURING = 30_000, 3_000
VECTORS = np.random.default_rng(5).standard_normal((BEFORE + DURING, DIM)).astype(np.float32)
IDS = np.arange(BEFORE + DURING, dtype=np.int64)
MODEL = IVFPQ.fit(VECTORS[:20_000], nlist=64, m=8, nprobe=8, iterations=5, backend="numpy")


def fetch(ids: Any) -> Any:
    return VECTORS[np.asarray(ids)]


def open_index(cluster: LocalCluster, prefix: str, wait_replicas: int = 0) -> LSHRS:
    client = RedisCluster(
        host="127.0.0.1",
        port=cluster.nodes[0].port,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 60),
    )
    return LSHRS(
        DIM,
        hasher=MODEL,
        storage=RedisStorage(prefix=prefix, client=client),
        partitions=3,
        wait_replicas=wait_replicas,
        vector_fetch_fn=fetch,
    )


def found(lsh: LSHRS, ids: np.ndarray) -> set[int]:
    """The ids a query for their own vector finds (exact rerank), 1,000 at a time."""
    present: set[int] = set()
    for start in range(0, ids.size, 1000):
        batch = ids[start : start + 1000]
        _, top = lsh.search(VECTORS[batch], k=1)
        present.update(int(i) for i, want in zip(top[:, 0], batch, strict=True) if i == want)
    return present


def failover(wait_replicas: int) -> dict[str, Any]:
    cluster = LocalCluster().start()
    try:
        lsh = open_index(cluster, "faults", wait_replicas)
        started = time.perf_counter()
        lsh.index(IDS[:BEFORE], VECTORS[:BEFORE])
        write_vps = BEFORE / (time.perf_counter() - started)
        root = ("{" + partition_prefixes("faults", 3)[0] + "}:").encode()
        master = cluster.node_of(root)
        replica = next(
            node
            for node in cluster.live()
            if redis.Redis(port=node.port).info("replication").get("master_port") == master.port
        )
        assert replica.process is not None
        replica.process.send_signal(signal.SIGSTOP)
        redis.Redis(port=master.port).client_kill_filter(_type="replica")
        acknowledged = set(IDS[:BEFORE].tolist())
        refused = 0
        routed = partition_of(IDS, 3)
        try:
            for part in range(3):
                batch = IDS[BEFORE:][routed[BEFORE:] == part]
                try:
                    lsh.index(batch, VECTORS[batch])
                    acknowledged.update(batch.tolist())
                except NotReplicatedError:
                    refused += batch.size
            killed = time.perf_counter()
            master.kill()
        finally:
            replica.process.send_signal(signal.SIGCONT)
        cluster.wait_ok(timeout=60)
        promoted_s = time.perf_counter() - killed
        ids = np.array(sorted(acknowledged), dtype=np.int64)
        lost = len(acknowledged - found(lsh, ids))
        report = lsh.verify()
        return {
            "wait_replicas": wait_replicas,
            "write_vps_before": round(write_vps),
            "acknowledged": len(acknowledged),
            "refused_not_replicated": refused,
            "acknowledged_lost": lost,
            "kill_to_promoted_s": round(promoted_s, 1),
            "verify_ok": report.ok,
            "num_indexed": lsh.stats()["num_indexed"],
        }
    finally:
        cluster.stop()


def migration() -> dict[str, Any]:
    cluster = LocalCluster().start()
    try:
        lsh = open_index(cluster, "moving")
        lsh.index(IDS[:BEFORE], VECTORS[:BEFORE])
        root = ("{" + partition_prefixes("moving", 3)[0] + "}:").encode()
        slot = key_slot(root)
        source = cluster.node_of(root)
        target = next(
            n for n in cluster.live() if cluster.role_of(n) == "master" and n.port != source.port
        )
        queries = VECTORS[:20]
        expected = lsh.search(queries, k=10, rerank=False)[1]
        counts = {"reads": 0, "reads_differing": 0, "read_errors": 0}
        stop = threading.Event()

        other = open_index(cluster, "moving")  # attaching writes (init): before the move

        def reader() -> None:
            while not stop.is_set():
                try:
                    got = other.search(queries, k=10, rerank=False)[1]
                except redis.RedisError:
                    counts["read_errors"] += 1
                    continue
                counts["reads"] += 1
                counts["reads_differing"] += int(not np.array_equal(got, expected))

        thread = threading.Thread(target=reader)
        thread.start()
        source_client, target_client = redis.Redis(port=source.port), redis.Redis(port=target.port)
        ids = {port: redis.Redis(port=port).cluster("myid") for port in (source.port, target.port)}
        started = time.perf_counter()
        target_client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source.port])
        source_client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target.port])
        moved = 0
        while keys := source_client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 5):
            source_client.execute_command(
                "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys
            )
            moved += len(keys)
            time.sleep(MIGRATE_PAUSE_S)
        for client in (source_client, target_client):
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target.port])
        migrate_s = time.perf_counter() - started
        stop.set()
        thread.join()
        after = lsh.search(queries, k=10, rerank=False)[1]
        return {
            "keys_moved": moved,
            "migrate_s": round(migrate_s, 2),
            **counts,
            "answers_after_equal_before": bool(np.array_equal(after, expected)),
            "verify_ok_after": lsh.verify().ok,
        }
    finally:
        cluster.stop()


def main() -> int:
    result = {
        "machine": machine(),
        "failover": [failover(0), failover(1)],
        "migration_while_reading": migration(),
    }
    path = write_results("cluster-faults.json", result)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
