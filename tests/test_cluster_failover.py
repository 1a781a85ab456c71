"""Failover of a master of a real Redis Cluster under a partitioned index
(docs/cluster.md): what acknowledged writes survive, with and without WAIT.

The replica of the master holding partition 0 is paused (SIGSTOP) and its link cut,
so it stops receiving the master's stream, writes are sent, the master is killed and the replica
resumed, and it is promoted. Without ``wait_replicas`` the writes the master
acknowledged in that window are lost; with ``wait_replicas=1`` they are never
acknowledged (``NotReplicatedError``), so every acknowledged write survives.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import numpy as np
import pytest
import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from lshrs import IVFPQ, LSHRS, RedisStorage
from lshrs.partitions import partition_of, partition_prefixes
from lshrs.replication import NotReplicatedError
from tests.fixtures.redis_cluster import LocalCluster

DIM = 16
VECTORS = np.random.default_rng(11).standard_normal((3000, DIM)).astype(np.float32)
IDS = np.arange(3000, dtype=np.int64)
MODEL = IVFPQ.fit(VECTORS, nlist=8, m=4, nprobe=8, iterations=3, backend="numpy")


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A cluster of this test's own: the test kills one of its masters."""
    cluster = LocalCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def open_index(cluster: LocalCluster, wait_replicas: int) -> LSHRS:
    client = RedisCluster(
        host="127.0.0.1",
        port=cluster.nodes[0].port,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 60),
        socket_timeout=5,
    )
    storage = RedisStorage(prefix="failover", client=client)
    return LSHRS(DIM, hasher=MODEL, storage=storage, partitions=3, wait_replicas=wait_replicas)


def replica_of(cluster: LocalCluster, master_port: int) -> int:
    for node in cluster.live():
        client = redis.Redis(port=node.port)
        try:
            info = client.info("replication")
            if info["role"] == "slave" and int(info["master_port"]) == master_port:
                return node.port
        finally:
            client.close()
    raise RuntimeError(f"no replica of {master_port}")


def fail_over_partition_0(cluster: LocalCluster, lsh: LSHRS, wait_replicas: int) -> set[int]:
    """Index ids, pause partition 0's replica, index more, kill its master, resume the
    replica; returns the ids whose writes were acknowledged."""
    routed = partition_of(IDS, 3)
    acknowledged: set[int] = set()
    lsh.index(IDS[:1500], VECTORS[:1500])
    acknowledged.update(IDS[:1500].tolist())
    master = cluster.node_of(("{" + partition_prefixes("failover", 3)[0] + "}:").encode())
    replica_port = replica_of(cluster, master.port)
    replica = next(node for node in cluster.nodes if node.port == replica_port)
    assert replica.process is not None
    replica.process.send_signal(signal.SIGSTOP)
    # Cut the link too: a paused replica still receives the stream into its socket.
    redis.Redis(port=master.port).client_kill_filter(_type="replica")
    try:
        for part in range(3):
            batch = np.flatnonzero((routed == part) & (IDS >= 1500))[:100]
            try:
                lsh.index(IDS[batch], VECTORS[batch])
            except NotReplicatedError:
                continue
            acknowledged.update(IDS[batch].tolist())
        master.kill()
    finally:
        replica.process.send_signal(signal.SIGCONT)
    cluster.wait_ok(timeout=60)
    return acknowledged


def present(lsh: LSHRS) -> set[int]:
    """The ids a query for their own vector finds (exact rerank over every list)."""
    lsh.vector_fetch_fn = lambda ids: VECTORS[np.asarray(ids)]
    _, found = lsh.search(VECTORS, k=1)
    return {int(i) for i, want in zip(found[:, 0], IDS, strict=True) if i == want}


def test_without_wait_the_writes_of_the_failed_masters_window_are_lost(
    cluster: LocalCluster,
) -> None:
    lsh = open_index(cluster, wait_replicas=0)
    acknowledged = fail_over_partition_0(cluster, lsh, wait_replicas=0)
    lost = acknowledged - present(lsh)
    routed = partition_of(np.array(sorted(lost), dtype=np.int64), 3)
    assert lost and set(routed.tolist()) == {0} and min(lost) >= 1500
    assert lsh.verify().ok


def test_with_wait_every_acknowledged_write_survives(cluster: LocalCluster) -> None:
    lsh = open_index(cluster, wait_replicas=1)
    acknowledged = fail_over_partition_0(cluster, lsh, wait_replicas=1)
    assert acknowledged - present(lsh) == set()
    assert len(acknowledged) > 1500
    assert lsh.verify().ok
