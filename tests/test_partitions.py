"""Partitioned indexes (docs/cluster.md): the same core behaviour on one Redis with 1
and 3 partitions and on a real Redis Cluster with 3, for every index kind; routing and
key names as documented; another number of partitions refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from lshrs import IVFPQ, LSHRS, KMeansHasher, RQHasher
from lshrs.partitions import partition_of, partition_prefix, partition_prefixes
from lshrs.protocol import ConfigMismatchError
from lshrs.replication import NotReplicatedError

DIM = 16
N = 1200
VECTORS = np.random.default_rng(7).standard_normal((N, DIM)).astype(np.float32)
IDS = np.arange(10_000, 10_000 + N, dtype=np.int64)


def fetch(ids: Any) -> Any:
    return VECTORS[np.asarray(ids) - 10_000]


def hyperplanes() -> dict[str, Any]:
    return {"num_bands": 8, "rows_per_band": 5}


def kmeans() -> dict[str, Any]:
    model = KMeansHasher.fit(VECTORS, nlist=16, nprobe=4, iterations=3, backend="numpy")
    return {"hasher": model}


def rq() -> dict[str, Any]:
    model = RQHasher.fit(VECTORS, (8, 8), depth=2, iterations=3, backend="numpy")
    return {"hasher": model}


def ivfpq() -> dict[str, Any]:
    model = IVFPQ.fit(VECTORS, nlist=16, m=4, nprobe=4, iterations=3, backend="numpy")
    return {"hasher": model}


KINDS: dict[str, Callable[[], dict[str, Any]]] = {
    "hyperplane": hyperplanes,
    "kmeans": kmeans,
    "rq": rq,
    "ivfpq": ivfpq,
}
SETUPS = ["redis-1", "redis-3", "cluster-3"]


@pytest.fixture(params=SETUPS)
def where(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Connection, prefix and number of partitions of one setup."""
    server, partitions = request.param.split("-")
    prefix = request.getfixturevalue("cluster_prefix" if server == "cluster" else "prefix")
    url = request.getfixturevalue("redis_cluster_url" if server == "cluster" else "redis_url")
    yield {"redis_url": url, "redis_prefix": prefix, "partitions": int(partitions)}


def open_index(where: dict[str, Any], kind: str, **extra: Any) -> LSHRS:
    return LSHRS(DIM, vector_fetch_fn=fetch, **where, **KINDS[kind](), **extra)


@pytest.mark.parametrize("kind", list(KINDS))
def test_index_query_delete_verify_clear(where: dict[str, Any], kind: str) -> None:
    lsh = open_index(where, kind)
    try:
        lsh.index(IDS, VECTORS)
        assert lsh.stats()["num_indexed"] == N
        assert lsh.stats()["partitions"] == where["partitions"]
        assert IDS[3] in lsh.query(VECTORS[3], topk=N)
        best = lsh.query(VECTORS[3], topk=3, topp=1.0)
        assert best[0][0] == IDS[3] and best[0][1] == pytest.approx(1.0, abs=1e-5)
        _, found = lsh.search(VECTORS[:5], k=1)
        assert found[:, 0].tolist() == IDS[:5].tolist()
        lsh.delete(IDS[:100].tolist())
        assert lsh.stats()["num_indexed"] == N - 100
        assert IDS[3] not in lsh.query(VECTORS[3], topk=N)
        assert lsh.verify().ok
        assert lsh.verify(check_vectors=True).ok
        lsh.clear()
        assert lsh.stats()["num_indexed"] == 0
        lsh.index(IDS[:10], VECTORS[:10])
        assert (
            LSHRS.from_redis(**{k: where[k] for k in ("redis_prefix", "redis_url")}).stats()[
                "num_indexed"
            ]
            == 10
        )
    finally:
        lsh.clear()
        lsh.close()


@pytest.mark.parametrize("kind", ["hyperplane", "ivfpq"])
def test_partitions_answer_as_one_index(redis_url: str, prefix: str, kind: str) -> None:
    """Every partition holds the same model, so the candidates and their scores are
    those of the unpartitioned index."""
    arguments = KINDS[kind]()
    one = LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix, **arguments)
    three = LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix + "-3", partitions=3, **arguments)
    try:
        for lsh in (one, three):
            lsh.index(IDS, VECTORS)
        queries = VECTORS[::97] + 0.1
        expected = one.search(queries, k=20, rerank=False)
        got = three.search(queries, k=20, rerank=False)
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_array_equal(got[0], expected[0])
        assert three.candidate_count(queries[0]) == one.candidate_count(queries[0])
    finally:
        one.clear()
        three.clear()


def test_routing_is_the_documented_function() -> None:
    ids = np.array([0, 1, 2, 3, 2**53 - 1], dtype=np.int64)
    expected = [((i * 0x9E3779B97F4A7C15) % 2**64 >> 32) % 5 for i in ids.tolist()]
    assert partition_of(ids, 5).tolist() == expected
    assert np.bincount(partition_of(np.arange(30_000), 3)).min() > 9_800


def test_partition_keys_lie_in_their_slot_range() -> None:
    for partitions in (2, 3, 7):
        for number, name in enumerate(partition_prefixes("docs", partitions)):
            assert name.startswith(f"docs:{number}:")
            assert key_slot(name.encode()) * partitions // 16384 == number
    assert partition_prefix("lsh", 1, 3) == "lsh:1:0"


def test_unpartitioned_layout_is_unchanged(
    redis_client: redis.Redis, redis_url: str, prefix: str
) -> None:
    lsh = LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix, **hyperplanes())
    lsh.index(IDS[:5], VECTORS[:5])
    keys = {bytes(key) for key in redis_client.scan_iter(match="*" + prefix + "*")}
    assert keys and all(key.startswith(b"{" + prefix.encode() + b"}:") for key in keys)
    assert b"partitions" not in redis_client.hgetall(b"{" + prefix.encode() + b"}:cfg")
    lsh.clear()


def test_partition_keys_stay_under_their_hash_tags(
    redis_client: redis.Redis, redis_url: str, prefix: str
) -> None:
    lsh = LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix, partitions=3, **hyperplanes())
    lsh.index(IDS, VECTORS)
    roots = [("{" + name + "}:").encode() for name in partition_prefixes(prefix, 3)]
    for number, root in enumerate(roots):
        routed = IDS[partition_of(IDS, 3) == number]
        assert int(redis_client.hget(root + b"cfg", "count") or 0) == routed.size
    directory = redis_client.hgetall(b"{" + prefix.encode() + b"}:cfg")
    assert directory[b"partitions"] == b"3"
    assert directory[b"fingerprint"].endswith(b" partitions=3")
    lsh.clear()
    assert not list(redis_client.scan_iter(match="*" + prefix + "*"))


@pytest.mark.parametrize(("created", "opened"), [(3, 2), (3, 1), (1, 3)])
def test_another_number_of_partitions_is_refused(
    redis_client: redis.Redis, redis_url: str, prefix: str, created: int, opened: int
) -> None:
    lsh = LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix, partitions=created, **hyperplanes())
    lsh.index(IDS[:50], VECTORS[:50])
    before = sorted(redis_client.scan_iter(match="*" + prefix + "*"))
    with pytest.raises(ConfigMismatchError, match=f"partitions={created}|built as"):
        LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix, partitions=opened, **hyperplanes())
    assert sorted(redis_client.scan_iter(match="*" + prefix + "*")) == before
    lsh.clear()


@pytest.mark.parametrize("partitions", [0, -1, 1025, 2.0, True])
def test_bad_partitions_are_refused(redis_url: str, prefix: str, partitions: Any) -> None:
    with pytest.raises(ValueError, match="partitions must be an integer"):
        LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix, partitions=partitions)


def test_the_model_file_keeps_the_partitions(redis_url: str, prefix: str, tmp_path: Any) -> None:
    lsh = LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix, partitions=3, **hyperplanes())
    lsh.index(IDS[:50], VECTORS[:50])
    lsh.save_to_disk(tmp_path / "model.lsh")
    again = LSHRS.load_from_disk(tmp_path / "model.lsh", redis_url=redis_url)
    assert again.partitions == 3 and again.stats()["num_indexed"] == 50
    lsh.clear()


def test_waiting_for_missing_replicas_raises(redis_url: str, prefix: str) -> None:
    lsh = LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix, **hyperplanes())
    with pytest.raises(NotReplicatedError, match="confirmed by 0 of the 1 replica"):
        LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix, wait_replicas=1, **hyperplanes())
    lsh.clear()


def test_cluster_writes_wait_for_their_replicas(
    redis_cluster_url: str, cluster_prefix: str
) -> None:
    lsh = LSHRS(
        DIM,
        redis_url=redis_cluster_url,
        redis_prefix=cluster_prefix,
        partitions=3,
        wait_replicas=1,
        **ivfpq(),
    )
    lsh.index(IDS, VECTORS)
    lsh.delete(IDS[:10].tolist())
    assert lsh.stats()["num_indexed"] == N - 10
    lsh.clear()


def test_cluster_partitions_sit_on_distinct_masters(
    redis_cluster_url: str, cluster_prefix: str
) -> None:
    client = RedisCluster.from_url(redis_cluster_url.replace("+cluster", "", 1))
    try:
        masters = {
            client.get_node_from_key(("{" + name + "}:").encode()).name
            for name in partition_prefixes(cluster_prefix, 3)
        }
        assert len(masters) == len(client.get_primaries()) == 3
    finally:
        client.close()


def test_a_cluster_url_with_a_database_is_refused(redis_cluster_url: str, prefix: str) -> None:
    with pytest.raises(ValueError, match="only database 0"):
        LSHRS(DIM, redis_url=redis_cluster_url + "/2", redis_prefix=prefix)


def test_semantic_ids_need_an_unpartitioned_index(redis_url: str, prefix: str) -> None:
    lsh = LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix, partitions=3, **kmeans())
    lsh.index(IDS[:10], VECTORS[:10])
    with pytest.raises(ValueError, match="unpartitioned index; this one has 3 partitions"):
        lsh.assign_semantic_ids(IDS[:2], VECTORS[:2])
    lsh.clear()
