"""LSHRS.verify(): finds every kind of inconsistency, names the ids, and repairs from
the reverse index."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from lshrs import LSHRS
from lshrs.keys import KeySpace
from lshrs.limits import VERIFY_UNITS_PER_CALL
from lshrs.protocol import ClearingError
from lshrs.verify import verify_index
from tests.fixtures.redis_server import delete_prefix
from tests.helpers import snapshot
from tests.properties.test_round_trips import private_server  # noqa: F401

DIM = 8
IDS = list(range(0, 600, 2))


def vectors(ids, seed=0):
    return np.random.default_rng(seed).standard_normal((len(ids), DIM)).astype(np.float32)


def build(url, prefix):
    lsh = LSHRS(dim=DIM, num_bands=4, rows_per_band=6, redis_url=url, redis_prefix=prefix)
    lsh.index(IDS, vectors(IDS))
    return lsh


@pytest.fixture
def lsh(redis_url, prefix):
    index = build(redis_url, prefix)
    yield index
    index.close()


def entry(client, prefix, index):
    """(bucket keys of an id, one per band) read from its reverse entry."""
    keys = KeySpace(prefix)
    sigs = client.hget(keys.reverse(index), str(index))
    return [
        keys.bucket(band.to_bytes(2, "big") + sigs[band : band + 1]) for band in range(len(sigs))
    ]


def test_a_fresh_index_is_consistent_on_every_redis_build(each_redis_url, prefix):
    lsh = build(each_redis_url, prefix)
    lsh.delete(IDS[:50])
    lsh.index(IDS[:10], vectors(IDS[:10], seed=1))
    report = lsh.verify()
    assert report.ok, report
    assert report.actual_count == report.stored_count == len(IDS) - 40
    lsh.clear()
    lsh.close()


def test_a_bucket_member_without_reverse_entry_is_reported_and_removed(lsh, redis_client, prefix):
    before = snapshot(redis_client, prefix)
    bucket = entry(redis_client, prefix, 2)[0]
    redis_client.sadd(bucket, 999)
    assert lsh.verify().members_without_entry == [999]
    assert lsh.verify(repair=True).repaired
    assert snapshot(redis_client, prefix) == before
    assert lsh.verify().ok


def test_a_bucket_lacking_an_indexed_id_is_reported_and_refilled(lsh, redis_client, prefix):
    before = snapshot(redis_client, prefix)
    redis_client.srem(entry(redis_client, prefix, 4)[2], 4)
    report = lsh.verify()
    assert report.entries_missing_member == [4]
    assert report.problem_ids() == [4]
    lsh.verify(repair=True)
    assert snapshot(redis_client, prefix) == before


def test_an_id_in_a_bucket_its_entry_does_not_name_is_reported_and_removed(
    lsh, redis_client, prefix
):
    before = snapshot(redis_client, prefix)
    own = entry(redis_client, prefix, 6)[1]
    other = next(
        key for index in IDS for key in [entry(redis_client, prefix, index)[1]] if key != own
    )
    redis_client.sadd(other, 6)
    assert lsh.verify().members_in_wrong_bucket == [6]
    lsh.verify(repair=True)
    assert snapshot(redis_client, prefix) == before


def test_a_wrong_count_is_reported_and_corrected(lsh, redis_client, prefix):
    redis_client.hset(KeySpace(prefix).config, "count", 7)
    report = lsh.verify(repair=True)
    assert (report.count_mismatch, report.stored_count, report.actual_count) == (
        True,
        7,
        len(IDS),
    )
    assert report.count_repaired
    assert lsh.stats()["num_indexed"] == len(IDS)


def test_a_count_that_is_not_a_number_is_reported_and_corrected(lsh, redis_client, prefix):
    redis_client.hset(KeySpace(prefix).config, "count", "lots")
    report = lsh.verify(repair=True)
    assert report.config_mismatch == ["count"]
    assert report.count_repaired
    assert lsh.verify().ok


def test_a_changed_configuration_is_reported_but_never_rewritten(lsh, redis_client, prefix):
    config = KeySpace(prefix).config
    redis_client.hset(config, "rows_per_band", 5)
    redis_client.set(KeySpace(prefix).model, b"not planes")
    assert lsh.verify(repair=True).config_mismatch == ["rows_per_band", "model"]
    assert redis_client.hget(config, "rows_per_band") == b"5"


def test_a_malformed_reverse_entry_is_dropped_with_its_memberships(lsh, redis_client, prefix):
    keys = KeySpace(prefix)
    buckets = entry(redis_client, prefix, 8)
    redis_client.hset(keys.reverse(8), "8", b"xy")
    report = lsh.verify(repair=True)
    assert report.malformed_entries == ["r0/8"]
    assert report.members_without_entry == [8]
    assert not any(redis_client.sismember(bucket, 8) for bucket in buckets)
    assert lsh.verify().ok
    assert lsh.stats()["num_indexed"] == len(IDS) - 1


def test_an_entry_filed_under_the_wrong_chunk_is_malformed(lsh, redis_client, prefix):
    keys = KeySpace(prefix)
    sigs = redis_client.hget(keys.reverse(10), "10")
    redis_client.hset(keys.reverse(500), "10", sigs)
    report = lsh.verify()
    assert report.malformed_entries == ["r3/10"]


def test_keys_lshrs_did_not_write_are_reported_and_left_alone(lsh, redis_client, prefix):
    stranger = KeySpace(prefix).root + b"somebody-elses"
    wrong_type = KeySpace(prefix).reverse(0) + b"0"
    redis_client.set(stranger, "x")
    redis_client.set(wrong_type, "y")
    report = lsh.verify(repair=True)
    assert report.unknown_keys == sorted([stranger.decode(), wrong_type.decode()])
    assert redis_client.mget(stranger, wrong_type) == [b"x", b"y"]


def test_a_foreign_key_at_a_bucket_is_reported_and_replaced_by_repair(lsh, redis_client, prefix):
    bucket = entry(redis_client, prefix, 14)[1]
    members = redis_client.smembers(bucket)
    redis_client.delete(bucket)
    redis_client.set(bucket, "x")
    report = lsh.verify()
    assert report.misplaced_keys == [bucket.decode(errors="backslashreplace")]
    assert 14 in report.entries_missing_member
    assert lsh.verify(repair=True).misplaced_keys == report.misplaced_keys
    assert redis_client.smembers(bucket) == members
    assert lsh.verify().ok


def test_a_foreign_key_at_a_reverse_index_hash_is_reported_and_removed_by_repair(
    lsh, redis_client, prefix
):
    chunk = KeySpace(prefix).reverse(130)
    lost = sorted(int(i) for i in redis_client.hkeys(chunk))
    redis_client.delete(chunk)
    redis_client.set(chunk, "x")
    report = lsh.verify(repair=True)
    assert report.misplaced_keys == [chunk.decode()]
    assert report.members_without_entry == lost
    assert redis_client.exists(chunk) == 0
    lsh.index(lost, vectors(IDS)[[IDS.index(i) for i in lost]])
    assert lsh.verify().ok


def test_a_bucket_of_a_band_the_index_lacks_is_removed_by_repair(lsh, redis_client, prefix):
    bucket = KeySpace(prefix).bucket(b"\x00\x09\x01")
    redis_client.sadd(bucket, 2)
    assert lsh.verify(repair=True).misplaced_keys == [bucket.decode()]
    assert redis_client.exists(bucket) == 0
    assert lsh.verify().ok


def test_repair_is_refused_while_a_clear_is_under_way(lsh, redis_client, prefix):
    redis_client.hset(KeySpace(prefix).config, "clearing", "1")
    assert lsh.verify().config_mismatch == ["clearing"]
    with pytest.raises(ClearingError):
        lsh.verify(repair=True)


def test_an_empty_or_cleared_index_is_consistent(lsh):
    lsh.clear()
    assert lsh.verify().ok


def test_buckets_without_a_configuration_are_reported(lsh, redis_client, prefix):
    redis_client.delete(KeySpace(prefix).config)
    assert lsh.verify().config_mismatch == ["cfg"]


def test_one_key_per_call_finds_the_same_problems(lsh, redis_client, prefix):
    redis_client.srem(entry(redis_client, prefix, 12)[3], 12)
    redis_client.sadd(entry(redis_client, prefix, 14)[0], 1001)
    args = (lsh.hasher.fingerprint, lsh.hasher.config_fields(), lsh.hasher.model_blob())
    small = verify_index(lsh.storage, *args, keys_per_call=1)
    large = verify_index(lsh.storage, *args, keys_per_call=100_000)
    assert small == large
    assert small.problem_ids() == [12, 1001]


def test_a_prefix_with_glob_characters_checks_only_its_own_keys(redis_url, redis_client):
    glob, plain = "verify-gl*b", "verify-glob"
    try:
        index = build(redis_url, glob)
        other = build(redis_url, plain)
        redis_client.sadd(entry(redis_client, plain, 2)[0], 999)
        report = index.verify(repair=True)
        assert report.ok
        assert report.actual_count == len(IDS)
        assert redis_client.sismember(entry(redis_client, plain, 2)[0], 999)
        assert other.verify().members_without_entry == [999]
    finally:
        delete_prefix(redis_client, glob)
        delete_prefix(redis_client, plain)


def test_bad_keys_per_call_is_a_value_error(lsh):
    with pytest.raises(ValueError, match="keys_per_call"):
        verify_index(lsh.storage, lsh.hasher.fingerprint, {}, keys_per_call=0)


def test_verify_works_with_decoded_responses(redis_url, prefix):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    lsh = LSHRS(
        dim=DIM,
        num_bands=4,
        rows_per_band=6,
        redis_prefix=prefix,
        redis_url=redis_url,
        decode_responses=True,
    )
    lsh.index(IDS, vectors(IDS))
    client.sadd(KeySpace(prefix).root.decode() + "stranger", "x")
    report = lsh.verify()
    assert report.unknown_keys == [KeySpace(prefix).root.decode() + "stranger"]
    assert report.actual_count == len(IDS)
    client.close()
    lsh.close()


def test_the_vector_store_and_semantic_ids_beside_the_index_are_known(redis_url, prefix):
    from lshrs.sources.redis import RedisVectorStore
    from tests.learned_helpers import demo, kmeans_hasher

    ids, data, _ = demo()
    ids, data = ids[:400], data[:400]
    lsh = LSHRS(dim=384, hasher=kmeans_hasher(), redis_url=redis_url, redis_prefix=prefix)
    lsh.index(ids, data)
    RedisVectorStore(lsh.storage, dim=384).put(ids, data)
    lsh.assign_semantic_ids(ids[:20], data[:20])
    report = lsh.verify()
    assert report.ok and report.unknown_keys == []


# -- bounded calls ---------------------------------------------------------------------


def script_work(url, action):
    """For each EVALSHA a client sent while ``action`` ran: the script's SHA and how
    many commands it ran, from MONITOR on a private server."""
    observer = redis.Redis.from_url(url)
    sentinel = redis.Redis.from_url(url)
    sentinel.ping()
    calls = []
    with observer.monitor() as monitor:
        action()
        sentinel.echo("lshrs-test-sentinel")
        for command in monitor.listen():
            words = command["command"].split()
            if "lshrs-test-sentinel" in words:
                return calls
            if command.get("client_type") == "lua":
                calls[-1][1] += 1
            elif words[0].upper() == "EVALSHA":
                calls.append([words[1], 0])
    raise AssertionError("monitor ended early")


def bounded(lsh, calls):
    """The calls of verify.lua and verify_part.lua in ``calls``, after checking that
    none ran more commands than a call's units allow."""
    scripts = lsh.storage.protocol.scripts.items()
    shas = {script.sha: name for name, script in scripts if name.startswith("verify")}
    ours = [(shas[sha], work) for sha, work in calls if sha in shas]
    assert max(work for _, work in ours) <= VERIFY_UNITS_PER_CALL
    return [name for name, _ in ours]


def test_a_bucket_larger_than_a_call_is_verified_and_repaired_in_bounded_calls(
    private_server,  # noqa: F811
):
    size = 2 * VERIFY_UNITS_PER_CALL + 500
    lsh = LSHRS(
        dim=DIM, num_bands=2, rows_per_band=4, redis_url=private_server.url, redis_prefix="huge"
    )
    same = np.repeat(vectors([0]), size, axis=0)
    lsh.index(np.arange(size), same)
    lsh.index([size], -same[:1])  # every hyperplane bit flipped: other buckets
    client = lsh.storage.client
    huge = entry(client, "huge", 0)[0]
    assert client.scard(huge) == size
    client.sadd(huge, size, 10**9)
    found = []
    names = bounded(lsh, script_work(private_server.url, lambda: found.append(lsh.verify())))
    assert 3 <= names.count("verify_part") <= 6  # 16,886 members: 3 calls of 8,192 units
    report = found[0]
    assert report.members_without_entry == [10**9]
    assert report.members_in_wrong_bucket == [size]
    assert report.problem_ids() == [size, 10**9]
    bounded(lsh, script_work(private_server.url, lambda: found.append(lsh.verify(repair=True))))
    assert found[1].problem_ids() == [size, 10**9]
    assert client.scard(huge) == size
    assert lsh.verify().ok
    lsh.clear()


def test_a_reverse_index_hash_at_1024_bands_is_checked_in_bounded_calls(
    private_server,  # noqa: F811
):
    ids = list(range(20))
    lsh = LSHRS(
        dim=DIM, num_bands=1024, rows_per_band=1, redis_url=private_server.url, redis_prefix="wide"
    )
    lsh.index(ids, vectors(ids))
    client = lsh.storage.client
    chunk = KeySpace("wide").reverse(0)
    client.srem(entry(client, "wide", 5)[700], 5)
    client.hset(chunk, "007", b"x")
    found = []
    names = bounded(
        lsh, script_work(private_server.url, lambda: found.append(lsh.verify(repair=True)))
    )
    # per pass: 20 x 1,025 units in 3 calls (7 ids each), then the chunk's other ids
    assert names.count("verify_part") == 2 * 4
    report = found[0]
    assert report.entries_missing_member == [5]
    assert report.malformed_entries == ["r0/007"]
    assert report.actual_count == report.stored_count == len(ids)
    assert client.hlen(chunk) == len(ids)
    assert client.sismember(entry(client, "wide", 5)[700], 5)
    assert lsh.verify().ok
    lsh.clear()


def test_a_reverse_index_hash_with_more_fields_than_a_call_is_repaired_in_bounded_calls(
    private_server,  # noqa: F811
):
    lsh = build(private_server.url, "junk")
    client = lsh.storage.client
    chunk = KeySpace("junk").reverse(0)
    junk = [f"x{i}" for i in range(VERIFY_UNITS_PER_CALL + 1000)]
    client.hset(chunk, mapping=dict.fromkeys(junk, b"x"))
    found = []
    names = bounded(
        lsh, script_work(private_server.url, lambda: found.append(lsh.verify(repair=True)))
    )
    assert names.count("verify_part") >= 2
    assert found[0].malformed_entries == sorted(f"r0/{field}" for field in junk)
    assert found[0].actual_count == len(IDS)
    assert lsh.verify().ok
    lsh.clear()
