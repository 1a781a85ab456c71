"""Semantic IDs: code paths made unique atomically in Redis, stable, released on delete."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import redis

from lshrs import LSHRS
from lshrs.keys import KeySpace
from tests.learned_helpers import demo, rq_hasher
from tests.test_lua_protocol import REDIS_CLI, Cli


@pytest.fixture
def lsh(redis_url, prefix):
    ids, vectors, _ = demo()
    index = LSHRS(
        dim=384,
        hasher=rq_hasher(),
        redis_url=redis_url,
        redis_prefix=prefix,
        vector_fetch_fn=lambda wanted: vectors[np.searchsorted(ids, wanted)],
    )
    index.index(ids, vectors)
    yield index
    index.close()


def shared_path_rows(count=3):
    """Rows of the demo data whose RQ paths are equal: the first path shared ``count`` times."""
    _, vectors, _ = demo()
    paths = np.array(rq_hasher().code_paths(vectors))
    values, counts = np.unique(paths, return_counts=True)
    path = values[np.flatnonzero(counts >= count)[0]]
    return str(path), np.flatnonzero(paths == path)[:count]


def test_the_first_id_on_a_path_gets_the_path_and_later_ones_a_counter(lsh):
    ids, vectors, _ = demo()
    path, rows = shared_path_rows()
    names = [lsh.assign_semantic_ids([ids[row]], vectors[row : row + 1])[0] for row in rows]
    assert names == [path, f"{path}-1", f"{path}-2"]


def test_every_id_gets_a_distinct_name_starting_with_its_path(lsh):
    ids, vectors, _ = demo()
    names = lsh.assign_semantic_ids(ids, vectors)
    paths = lsh.hasher.code_paths(vectors)
    assert len(set(names)) == ids.size
    assert all(
        name == path or name.startswith(path + "-") for name, path in zip(names, paths, strict=True)
    )
    assert sum(name != path for name, path in zip(names, paths, strict=True)) == ids.size - len(
        set(paths)
    )


def test_names_are_read_back_and_resolved(lsh):
    ids, vectors, _ = demo()
    (name,) = lsh.assign_semantic_ids([ids[10]], vectors[10:11])
    assert lsh.semantic_id(int(ids[10])) == name
    assert lsh.resolve_semantic_id(name) == ids[10]
    assert lsh.semantic_id(int(ids[11])) is None
    assert lsh.resolve_semantic_id("no-such-name") is None


def test_a_name_is_stable_even_after_reindexing_with_another_vector(lsh):
    ids, vectors, _ = demo()
    (name,) = lsh.assign_semantic_ids([ids[20]], vectors[20:21])
    lsh.index([ids[20]], vectors[4000:4001])
    assert lsh.assign_semantic_ids([ids[20]], vectors[4000:4001]) == [name]
    assert lsh.semantic_id(int(ids[20])) == name


def test_vectors_are_fetched_when_not_given(lsh):
    ids, vectors, _ = demo()
    fetched = lsh.assign_semantic_ids(ids[:50])
    paths = lsh.hasher.code_paths(vectors[:50])
    assert all(
        name.split("-")[:3] == path.split("-") for name, path in zip(fetched, paths, strict=True)
    )


def test_delete_releases_the_name_and_it_is_not_handed_out_again(lsh, redis_client, prefix):
    ids, vectors, _ = demo()
    path, rows = shared_path_rows(2)
    first, second = ids[rows]
    (name,) = lsh.assign_semantic_ids([first], vectors[rows[:1]])
    lsh.delete(int(first))
    assert lsh.semantic_id(int(first)) is None
    assert lsh.resolve_semantic_id(name) is None
    assert redis_client.hget(KeySpace(prefix).semantic(int(first)), str(first)) is None
    (other,) = lsh.assign_semantic_ids([second], vectors[rows[1:2]])
    assert other == f"{path}-1"


def test_only_indexed_ids_get_names_and_nothing_is_written_otherwise(lsh, redis_client, prefix):
    ids, vectors, _ = demo()
    with pytest.raises(ValueError, match="id 999999 is not indexed"):
        lsh.assign_semantic_ids([ids[0], 999999], vectors[:2])
    assert lsh.semantic_id(int(ids[0])) is None
    assert not redis_client.exists(KeySpace(prefix).semantic_names)


def test_concurrent_clients_never_share_a_name(lsh, redis_url, prefix):
    ids, vectors, _ = demo()
    clients = [
        LSHRS(dim=384, hasher=rq_hasher(), redis_url=redis_url, redis_prefix=prefix)
        for _ in range(2)
    ]
    halves = [slice(0, 2500), slice(2500, 5000)]
    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(
                lambda pair: [
                    name
                    for start in range(pair[1].start, pair[1].stop, 100)
                    for name in pair[0].assign_semantic_ids(
                        ids[start : start + 100], vectors[start : start + 100]
                    )
                ],
                zip(clients, halves, strict=True),
            )
        )
    names = results[0] + results[1]
    assert len(set(names)) == 5000
    for client in clients:
        client.close()


def test_hyperplane_indexes_have_no_semantic_ids(redis_url, prefix):
    lsh = LSHRS(dim=4, num_bands=2, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    lsh.index([1], np.ones((1, 4)))
    with pytest.raises(RuntimeError, match="need a learned scheme"):
        lsh.assign_semantic_ids([1], np.ones((1, 4)))


@pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli is not installed")
def test_the_script_protocol_from_redis_cli(each_redis_url):
    """semantic_id.lua and delete.lua's release, on every Redis build available here."""
    cli = Cli(each_redis_url)
    root = KeySpace("cli-sid").root
    try:
        cli.evalsha("init", root, "fp", "", "num_bands", 1, "sig_bytes", 1)
        cli.evalsha(
            "insert",
            root,
            "fp",
            3,
            5,
            b"\x01",
            6,
            b"\x01",
            7,
            b"\x02",
            2,
            b"\x00\x00\x01",
            2,
            5,
            6,
            b"\x00\x00\x02",
            1,
            7,
        )
        assert cli.evalsha("semantic_id", root, "fp", 5, "3-1", 6, "3-1") == ["3-1", "3-1-1"]
        assert cli.evalsha("semantic_id", root, "fp", 6, "9-9", 7, "3-1") == ["3-1-1", "3-1-2"]
        assert cli.evalsha("semantic_id", root, "fp", 8, "3-1")[0] == "LSHRS_NOT_INDEXED 8"
        assert cli.evalsha("semantic_id", root, "other", 5, "3-1")[0].startswith(
            "LSHRS_CONFIG_MISMATCH"
        )
        assert cli.evalsha("delete", root, 5) == ["1"]
        assert cli.evalsha("insert", root, "fp", 1, 5, b"\x01", 1, b"\x00\x00\x01", 1, 5) == ["1"]
        assert cli.evalsha("semantic_id", root, "fp", 5, "3-1") == ["3-1-3"]
    finally:
        client = redis.Redis.from_url(each_redis_url)
        for key in client.scan_iter(match=KeySpace("cli-sid").pattern):
            client.delete(key)
        client.close()
