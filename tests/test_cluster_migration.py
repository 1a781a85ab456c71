"""Moving a partition's slot to another master while the index is read and written
(docs/cluster.md): calls to the migrating partition wait for the move to end, so
every read equals the answer before the move, no write lands on the importing node
(the move never fails with BUSYKEY), and every acknowledged write is there after it.

Two indexes share the slot of their partition 0: one is read (its answers stay fixed),
the other written, so the move carries both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from lshrs import IVFPQ, LSHRS, RedisStorage
from lshrs.cluster import PartitionMigratingError
from lshrs.partitions import partition_of, partition_prefix
from tests.fixtures.redis_cluster import LocalCluster

DIM = 16
VECTORS = np.random.default_rng(3).standard_normal((4000, DIM)).astype(np.float32)
MODEL = IVFPQ.fit(VECTORS, nlist=8, m=4, nprobe=8, iterations=3, backend="numpy")
READ, WRITTEN = "moving", "written"
KEYS_PER_MIGRATE = 1
MIGRATE_PAUSE_S = 0.04
"""A move that takes a few seconds, so reads and writes meet it."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A cluster of these tests' own: they move or hold its slots."""
    cluster = LocalCluster(replicas=0).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def root_of(prefix: str) -> bytes:
    return ("{" + partition_prefix(prefix, 0, 3) + "}:").encode()


def prefix_sharing_slot(slot: int) -> str:
    """An index prefix whose partition 0 (of 3) lives in ``slot``."""
    number = 0
    while key_slot(root_of(f"{WRITTEN}-{number}")) != slot:
        number += 1
    return f"{WRITTEN}-{number}"


def open_index(cluster: LocalCluster, prefix: str, migration_wait: float = 60) -> LSHRS:
    client = RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
    storage = RedisStorage(prefix=prefix, client=client)
    return LSHRS(
        DIM,
        hasher=MODEL,
        storage=storage,
        partitions=3,
        migration_wait=migration_wait,
        vector_fetch_fn=lambda ids: VECTORS[np.asarray(ids)],
    )


def move_slot(
    cluster: LocalCluster, slot: int, migrating: threading.Event
) -> tuple[int, float, float]:
    """Move ``slot`` to another master a key at a time, as ``redis-cli --cluster
    reshard`` does; returns the port of its new master, and when the slot started and
    stopped migrating (``time.monotonic``)."""
    source = cluster.node_of(root_of(READ))
    masters = [n for n in cluster.live() if cluster.role_of(n) == "master"]
    target = next(n for n in masters if n.port != source.port)
    clients = {n.port: redis.Redis(port=n.port) for n in masters}
    ids = {port: client.cluster("myid") for port, client in clients.items()}
    clients[target.port].execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source.port])
    clients[source.port].execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target.port])
    started = time.monotonic()
    migrating.set()
    while keys := clients[source.port].execute_command(
        "CLUSTER", "GETKEYSINSLOT", slot, KEYS_PER_MIGRATE
    ):
        clients[source.port].execute_command(
            "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys
        )
        time.sleep(MIGRATE_PAUSE_S)
    for client in clients.values():
        client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target.port])
    return target.port, started, time.monotonic()


def test_reads_and_writes_wait_out_a_partitions_migration(cluster: LocalCluster) -> None:
    slot = key_slot(root_of(READ))
    written_prefix = prefix_sharing_slot(slot)
    read = open_index(cluster, READ)
    read.index(np.arange(2000), VECTORS[:2000])
    written = open_index(cluster, written_prefix)
    written.index(np.arange(1000), VECTORS[:1000])
    queries = VECTORS[:20]
    expected = read.search(queries, k=10, rerank=False)[1]

    migrating, stop = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {"reads": [], "differing": 0, "errors": [], "attached": None}
    indexed, deleted = set(range(1000)), set()

    def reader() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                got = read.search(queries, k=10, rerank=False)[1]
            except Exception as error:
                outcome["errors"].append(error)
                return
            outcome["reads"].append((started, time.monotonic()))
            outcome["differing"] += int(not np.array_equal(got, expected))

    def writer() -> None:
        migrating.wait()
        try:
            # Attaching a client writes (init): it too waits for the move.
            outcome["attached"] = time.monotonic()
            attached = open_index(cluster, written_prefix)
            for start in range(1000, 4000, 100):
                if stop.is_set():
                    return
                batch = np.arange(start, start + 100)
                attached.index(batch, VECTORS[batch])
                indexed.update(batch.tolist())
                gone = np.arange(start - 1000, start - 1000 + 20)
                attached.delete(gone)
                deleted.update(gone.tolist())
        except Exception as error:
            outcome["errors"].append(error)

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    try:
        new_master, move_started, move_ended = move_slot(cluster, slot, migrating)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert outcome["errors"] == []
    assert any(start < move_ended and end > move_started for start, end in outcome["reads"])
    assert move_started <= outcome["attached"] < move_ended
    assert outcome["differing"] == 0
    assert cluster.node_of(root_of(READ)).port == new_master
    assert np.array_equal(read.search(queries, k=10, rerank=False)[1], expected)
    assert read.verify().ok
    assert written.verify().ok
    present = indexed - deleted
    ids = np.array(sorted(indexed), dtype=np.int64)
    _, found = written.search(VECTORS[ids], k=1)
    assert {int(i) for i, want in zip(found[:, 0], ids, strict=True) if i == want} == present
    assert set(partition_of(np.array(sorted(deleted)), 3).tolist()) >= {0}


def test_a_migration_longer_than_migration_wait_raises_and_writes_nothing(
    cluster: LocalCluster,
) -> None:
    prefix = "stuck"
    lsh = open_index(cluster, prefix, migration_wait=0.5)
    lsh.index(np.arange(300), VECTORS[:300])
    root = root_of(prefix)
    slot = key_slot(root)
    source = cluster.node_of(root)
    target = next(
        n for n in cluster.live() if cluster.role_of(n) == "master" and n.port != source.port
    )
    source_client, target_client = redis.Redis(port=source.port), redis.Redis(port=target.port)
    target_client.execute_command(
        "CLUSTER", "SETSLOT", slot, "IMPORTING", source_client.cluster("myid")
    )
    source_client.execute_command(
        "CLUSTER", "SETSLOT", slot, "MIGRATING", target_client.cluster("myid")
    )
    try:
        routed = partition_of(np.arange(300, 400), 3)
        batch = np.arange(300, 400)[routed == 0]
        started = time.monotonic()
        with pytest.raises(PartitionMigratingError, match=f"slot {slot}.*migration_wait"):
            lsh.index(batch, VECTORS[batch])
        assert 0.5 <= time.monotonic() - started < 5
        assert target_client.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
    finally:
        for client in (source_client, target_client):
            client.execute_command("CLUSTER", "SETSLOT", slot, "STABLE")
    assert lsh.stats()["num_indexed"] == 300
    assert lsh.verify().ok
