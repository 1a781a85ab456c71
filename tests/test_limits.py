"""Work bounds (lshrs.limits): calls sized by their work in Redis, scripts that refuse
more, queries that read a bounded part of oversized buckets or lists and say so, and
configurations an index may not declare."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
import redis

from lshrs import IVFPQ, LSHRS, LSHHasher, limits
from lshrs.keys import KeySpace
from lshrs.limits import (
    BUCKET_READ_LIMIT,
    MAX_LIST_BYTES,
    MEMBERSHIPS_PER_CALL,
    ReadLimitWarning,
    cost_runs,
)
from lshrs.protocol import BadArgumentError, Protocol, script_source
from tests.properties.test_round_trips import client_commands, private_server  # noqa: F401


def vectors(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


# -- the sizing rule -------------------------------------------------------------------


def test_cost_runs_cut_where_the_budget_is_reached():
    assert cost_runs([3, 3, 3, 9, 1], 6) == [slice(0, 2), slice(2, 3), slice(3, 4), slice(4, 5)]


@pytest.mark.parametrize("num_bands", [4, 64])
def test_inserts_and_deletes_are_sized_by_memberships_not_ids(private_server, num_bands):  # noqa: F811
    lsh = LSHRS(
        dim=8,
        num_bands=num_bands,
        rows_per_band=4,
        redis_url=private_server.url,
        redis_prefix=f"sizing{num_bands}",
    )
    ids = np.arange(600)
    calls = -(-600 * num_bands // MEMBERSHIPS_PER_CALL)
    sent = client_commands(private_server.url, lambda: lsh.index(ids, vectors(600)))
    assert sent.count("EVALSHA") == calls
    sent = client_commands(private_server.url, lambda: lsh.delete(ids))
    assert sent == ["EVALSHA"] * calls
    lsh.clear()


def test_calls_of_the_widest_index_hold_one_id(private_server):  # noqa: F811
    lsh = LSHRS(
        dim=8, num_bands=1024, rows_per_band=1, redis_url=private_server.url, redis_prefix="wide"
    )
    sent = client_commands(private_server.url, lambda: lsh.index([1], vectors(1)))
    assert sent.count("EVALSHA") == 1  # 1,024 memberships fit one call
    sent = client_commands(private_server.url, lambda: lsh.index(np.arange(10), vectors(10)))
    assert sent.count("EVALSHA") == 10  # 1 id per call
    lsh.clear()


# -- scripts refuse calls above their bounds ---------------------------------------------


@pytest.fixture
def protocol(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield Protocol(client)
    client.close()


def test_insert_and_delete_refuse_more_than_their_memberships(protocol, prefix):
    root = KeySpace(prefix).root
    protocol.call("init", root, ["fp", "", "num_bands", 16, "sig_bytes", 1])
    pairs = [x for i in range(1025) for x in (i, bytes(16))]
    with pytest.raises(BadArgumentError, match="16384 memberships"):
        protocol.call("insert", root, ["fp", 1025, *pairs, "*"])
    with pytest.raises(BadArgumentError, match="16384 memberships"):
        protocol.call("delete", root, list(range(1025)))
    assert protocol.call("insert", root, ["fp", 1024, *pairs[:2048], "*"]) == 1024


def test_gather_and_query_refuse_too_many_codes_or_a_huge_limit(protocol, prefix):
    root = KeySpace(prefix).root
    protocol.call("init", root, ["fp", "", "num_bands", 2, "sig_bytes", 1])
    codes = [i.to_bytes(3, "big") for i in range(8193)]
    with pytest.raises(BadArgumentError, match="8192 codes"):
        protocol.call("gather", root, ["fp", *codes])
    with pytest.raises(BadArgumentError, match="8192 codes"):
        protocol.call("query", root, ["fp", 10, *codes])
    with pytest.raises(BadArgumentError, match="limit"):
        protocol.call("query", root, ["fp", 100_001, codes[0]])


# -- reads of oversized buckets ---------------------------------------------------------


def test_gather_cuts_a_huge_bucket_the_same_way_every_time(each_redis_url):
    client = redis.Redis.from_url(each_redis_url)
    protocol = Protocol(client)
    root = KeySpace("cut-test").root
    protocol.call("init", root, ["fp", "", "num_bands", 1, "sig_bytes", 1])
    huge, small = b"\x00\x00\x01", b"\x00\x00\x02"
    client.sadd(root + b"b" + huge, *range(20_000))
    client.sadd(root + b"b" + small, *range(10))
    try:
        members, read, cut = protocol.call("gather", root, ["fp", huge, small])
        assert (read, cut) == (1, [1])  # a cut bucket takes a whole call
        assert len(set(members.split())) == BUCKET_READ_LIMIT
        assert protocol.call("gather", root, ["fp", huge, small])[0] == members
        assert protocol.call("gather", root, ["fp", small, huge])[1:] == [1, []]
    finally:
        protocol.call("clear", root, [0, 1000])
        client.close()


def test_one_gather_call_stops_at_its_member_bound(protocol, redis_client, prefix):
    root = KeySpace(prefix).root
    protocol.call("init", root, ["fp", "", "num_bands", 1, "sig_bytes", 1])
    codes = [bytes([0, 0, band]) for band in range(4)]
    for code in codes:
        redis_client.sadd(root + b"b" + code, *range(5000))
    members, read, cut = protocol.call("gather", root, ["fp", *codes])
    assert (read, cut) == (3, [])  # a fourth bucket would pass 16,384 members
    assert len(members.split()) == 15_000


def test_a_query_over_huge_buckets_warns_and_ranks_what_it_read(redis_url, prefix):
    lsh = LSHRS(dim=8, num_bands=2, rows_per_band=1, redis_url=redis_url, redis_prefix=prefix)
    data = vectors(20_000)
    lsh.index(np.arange(20_000), data)
    with pytest.warns(ReadLimitWarning, match="2 bucket"):
        found = lsh.get_top_k(data[0], topk=5)
    assert len(found) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small = LSHRS(
            dim=8, num_bands=8, rows_per_band=8, redis_url=redis_url, redis_prefix=prefix + "-s"
        )
        small.index(np.arange(2000), data[:2000])
        assert small.get_top_k(data[0], topk=1) == [0]
        small.clear()


# -- IVF-PQ -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ivf_model():
    return IVFPQ.fit(vectors(4000, 16), nlist=4, m=4, nprobe=4, iterations=3, backend="numpy")


def test_ivf_scan_refuses_more_than_its_byte_bound(protocol, redis_url, prefix, ivf_model):
    LSHRS(16, hasher=ivf_model, redis_url=redis_url, redis_prefix=prefix)
    fingerprint = ivf_model.fingerprint
    root = KeySpace(prefix).root
    with pytest.raises(BadArgumentError, match="max_bytes"):
        protocol.call("ivf_scan", root, [fingerprint, (1 << 21) + 1, 0, 0])
    with pytest.raises(BadArgumentError, match="max_bytes"):
        protocol.call("ivf_scan", root, [fingerprint, 11, 0, 0])  # below one record
    record = ivf_model.records(np.array([1]), np.zeros((1, 4), np.uint8)).tobytes()
    with pytest.raises(BadArgumentError, match="4096 records"):
        protocol.call("ivf_insert", root, [fingerprint, 0, record * 4097])
    with pytest.raises(BadArgumentError, match="4096 ids"):
        protocol.call("ivf_delete", root, [fingerprint, *range(4097)])


def test_a_list_may_not_grow_past_its_byte_bound(
    protocol, redis_client, redis_url, prefix, ivf_model
):
    LSHRS(16, hasher=ivf_model, redis_url=redis_url, redis_prefix=prefix)
    root = KeySpace(prefix).root
    full = MAX_LIST_BYTES // ivf_model.record_bytes
    redis_client.setrange(root + b"l0", full * ivf_model.record_bytes - 1, b"\0")
    redis_client.hset(root + b"n", "0", full)
    record = ivf_model.records(np.array([1]), np.zeros((1, 4), np.uint8)).tobytes()
    with pytest.raises(BadArgumentError, match="list 0 would hold"):
        protocol.call("ivf_insert", root, [ivf_model.fingerprint, 0, record])
    assert protocol.call("ivf_insert", root, [ivf_model.fingerprint, 1, record]) == 1


def test_a_query_split_over_scan_calls_equals_one_call(
    private_server,  # noqa: F811
    ivf_model,
    monkeypatch,
):
    lsh = LSHRS(16, hasher=ivf_model, redis_url=private_server.url, redis_prefix="ivf-split")
    data = vectors(3000, 16, seed=1)
    lsh.index(np.arange(3000), data)
    whole = lsh.search(data[:40], k=10)
    monkeypatch.setattr("lshrs.lists.SCAN_BYTES_PER_CALL", 4096)
    monkeypatch.setattr("lshrs.lists.MIN_SCAN_BYTES", 1024)
    sent = client_commands(private_server.url, lambda: lsh.get_top_k(data[0], topk=10))
    assert sent.count("EVALSHA") == -(-3000 * ivf_model.record_bytes // 4096)
    split = lsh.search(data[:40], k=10)
    np.testing.assert_array_equal(split[1], whole[1])
    lsh.clear()


def test_a_query_reads_a_bounded_part_of_its_lists_and_warns(
    redis_url, prefix, ivf_model, monkeypatch
):
    lsh = LSHRS(16, hasher=ivf_model, redis_url=redis_url, redis_prefix=prefix)
    data = vectors(3000, 16, seed=2)
    lsh.index(np.arange(3000), data)
    monkeypatch.setattr("lshrs.lists.SCAN_BYTES_PER_QUERY", 100 * ivf_model.record_bytes)
    with pytest.warns(ReadLimitWarning, match="lists"):
        assert lsh.candidate_count(data[0]) == 100


def test_verify_checks_a_long_list_by_slot_ranges(protocol, redis_url, prefix):
    one_list = IVFPQ.fit(vectors(1000, 16), nlist=1, m=4, nprobe=1, iterations=2, backend="numpy")
    lsh = LSHRS(16, hasher=one_list, redis_url=redis_url, redis_prefix=prefix)
    lsh.index(np.arange(5000), vectors(5000, 16, seed=3))
    root = KeySpace(prefix).root
    with pytest.raises(BadArgumentError, match="by range"):
        protocol.call("ivf_verify", root, [one_list.fingerprint, 0, "lists", 0])
    lsh.storage.client.hdel(root + b"r0", "7")
    report = lsh.verify()
    assert report.members_without_entry == [7]
    assert lsh.verify(repair=True).members_without_entry == [7]
    assert lsh.verify().ok


# -- what an index may declare ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"extra_probes": 4097}, "extra_probes must be in \\[0, 4,096\\], got 4,097"),
        ({"rerank_candidates": 10**12}, "rerank_candidates must be in \\[1, 100,000\\]"),
        ({"num_bands": 2048, "rows_per_band": 1}, "num_bands must be between 1 and 1024"),
        ({"num_bands": 4, "rows_per_band": 65}, "rows_per_band must be between 1 and 64"),
    ],
)
def test_the_constructor_refuses_settings_beyond_the_limits(redis_url, prefix, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LSHRS(dim=8, redis_url=redis_url, redis_prefix=prefix, **kwargs)


def test_hyperplanes_larger_than_a_model_may_be_are_refused_before_they_are_drawn():
    with pytest.raises(ValueError, match="dim must be between 1 and 65536"):
        LSHHasher(16, 8, 1 << 20)
    with pytest.raises(ValueError, match="33,554,432"):
        LSHHasher(1024, 64, 256)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("extra_probes", 10**9), ("rerank_candidates", 10**12), ("num_bands", 65535), ("dim", 2**20)],
)
def test_a_model_file_declaring_absurd_settings_is_refused(
    redis_url, prefix, tmp_path, setting, value
):
    lsh = LSHRS(dim=8, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    path = tmp_path / "model.lsh"
    lsh.save_to_disk(path)
    model = json.loads(path.read_text())
    model[setting] = value
    path.write_text(json.dumps(model))
    with pytest.raises(ValueError, match=f"model.lsh is refused: {setting}"):
        LSHRS.load_from_disk(path, redis_url=redis_url)


def test_an_index_storing_absurd_query_settings_is_refused(redis_url, prefix, redis_client):
    LSHRS(dim=8, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    redis_client.hset(KeySpace(prefix).config, "extra_probes", 10**9)
    with pytest.raises(ValueError, match="extra_probes=1,000,000,000, above the limit 4,096"):
        LSHRS.from_redis(prefix, redis_url=redis_url)
    again = LSHRS.from_redis(prefix, redis_url=redis_url, extra_probes=3)
    assert again.extra_probes == 3


@pytest.mark.parametrize(
    ("script", "constant", "value"),
    [
        ("gather", "MAX_CODES", limits.CODES_PER_CALL),
        ("gather", "CALL_BUDGET", limits.READ_UNITS_PER_CALL),
        ("gather", "BUCKET_LIMIT", limits.BUCKET_READ_LIMIT),
        ("verify", "CALL_UNITS", limits.VERIFY_UNITS_PER_CALL),
        ("ivf_insert", "COPY_LIMIT", limits.COPY_BYTES_LIMIT),
        ("ivf_insert", "MAX_LIST_BYTES", limits.MAX_LIST_BYTES),
        ("ivf_scan", "MAX_BYTES", limits.SCAN_BYTES_PER_CALL),
        ("query", "MAX_LIMIT", limits.MAX_TOPK),
    ],
)
def test_the_scripts_hold_the_bounds_lshrs_limits_names(script, constant, value):
    """The client sizes its calls by lshrs.limits and the scripts refuse by their own
    constants: the two must be the same numbers."""
    found = re.search(rf"^local {constant} = (\d+)$", script_source(script), flags=re.M)
    assert found is not None, f"{script} has no constant {constant}"
    assert int(found[1]) == value
