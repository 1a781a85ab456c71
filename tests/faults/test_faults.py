"""Faults: crashes, dropped connections, flushed scripts, a full Redis. Each leaves an
index that verify() finds consistent, and re-running the interrupted call converges to
the state of a clean build."""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from lshrs import LSHRS, RedisStorage
from lshrs.eviction import EvictionPolicyWarning
from tests.fixtures.redis_server import RedisProcess, server_binaries
from tests.helpers import buckets

BINARIES = sorted(server_binaries())
DIM = 16


def data(n, seed=0):
    ids = np.arange(n, dtype=np.int64) * 3 + 1
    return ids, np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def open_index(url, prefix="idx", retries=0, bands=16):
    """An index whose client fails fast (no reconnect retries) unless told otherwise."""
    retry = Retry(NoBackoff(), retries)
    storage = RedisStorage(url=url, prefix=prefix, retry=retry, socket_timeout=30)
    return LSHRS(dim=DIM, num_bands=bands, rows_per_band=8, storage=storage)


def clean_build(prefix, ids, vectors, bands=16):
    """Bucket contents of the same data indexed without faults, on a fresh server."""
    server = RedisProcess(server_binaries()[BINARIES[0]]).start()
    try:
        with open_index(server.url, prefix, bands=bands) as lsh:
            lsh.index(ids, vectors)
        client = redis.Redis.from_url(server.url)
        state = buckets(client, prefix)
        client.close()
        return state
    finally:
        server.stop()


def wait_for_count(url, prefix, at_least, timeout=120.0):
    client = redis.Redis.from_url(url)
    key = "{" + prefix + "}:cfg"
    deadline = time.monotonic() + timeout
    try:
        while int(client.hget(key, "count") or 0) < at_least:
            assert time.monotonic() < deadline, "indexing made no progress"
            time.sleep(0.01)
    finally:
        client.close()


def index_in_thread(lsh, ids, vectors):
    """Run lsh.index in a thread; returns the thread and a list that gets its error."""
    errors: list[BaseException] = []

    def run():
        try:
            lsh.index(ids, vectors)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def wait_for_paused_write(admin, timeout=30.0):
    """Wait until a client's call is held (flag ``b``) by CLIENT PAUSE."""
    deadline = time.monotonic() + timeout
    while not any("b" in client["flags"] for client in admin.client_list()):
        assert time.monotonic() < deadline, "the writer never sent its next call"
        time.sleep(0.01)


@pytest.fixture(params=BINARIES)
def binary(request):
    return server_binaries()[request.param]


@pytest.mark.slow
def test_sigkill_during_ingest_with_aof_then_rerun_equals_a_clean_build():
    ids, vectors = data(200_000)
    binary = server_binaries()["redis-server" if "redis-server" in BINARIES else BINARIES[0]]
    aof = ["--appendonly", "yes", "--appendfsync", "always"]
    server = RedisProcess(binary, aof).start()
    try:
        lsh = open_index(server.url, bands=8)
        thread, errors = index_in_thread(lsh, ids, vectors)
        wait_for_count(server.url, "idx", 60_000)
        server.kill()
        thread.join()
        assert errors and isinstance(errors[0], redis.ConnectionError)

        server = RedisProcess(binary, aof, port=server.port, workdir=server.workdir).start()
        survived = lsh.storage.count()
        assert 60_000 <= survived < ids.size
        assert lsh.verify().ok
        lsh.index(ids, vectors)
        report = lsh.verify()
        assert report.ok, report
        assert report.actual_count == ids.size
        client = redis.Redis.from_url(server.url)
        assert buckets(client, "idx") == clean_build("idx", ids, vectors, bands=8)
        client.close()
        lsh.close()
    finally:
        server.stop()


def test_killed_client_connection_is_an_error_and_a_rerun_converges(binary):
    ids, vectors = data(30_000)
    server = RedisProcess(binary).start()
    try:
        lsh = open_index(server.url)
        admin = redis.Redis.from_url(server.url)
        # The writer indexes a first part, then its next write is held by CLIENT PAUSE
        # while its connection is killed: the kill lands mid-call, however fast the
        # machine is.
        first_part_done, killed = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def run():
            try:
                lsh.index(ids[:5_000], vectors[:5_000])
                first_part_done.set()
                killed.wait(60)
                lsh.index(ids[5_000:], vectors[5_000:])
            except BaseException as error:
                errors.append(error)
            finally:
                first_part_done.set()

        thread = threading.Thread(target=run)
        thread.start()
        assert first_part_done.wait(120)
        admin.client_pause(20_000, all=False)
        killed.set()
        wait_for_paused_write(admin)
        admin.client_kill_filter(_type="normal", skipme=True)
        admin.client_unpause()
        thread.join()
        assert errors and isinstance(errors[0], redis.ConnectionError)
        assert lsh.verify().ok
        lsh.index(ids, vectors)
        assert lsh.verify().ok
        assert buckets(admin, "idx") == clean_build("idx", ids, vectors)
        admin.close()
        lsh.close()
    finally:
        server.stop()


def test_with_redis_py_retries_a_killed_connection_is_resent_and_ingest_completes(binary):
    ids, vectors = data(30_000)
    server = RedisProcess(binary).start()
    try:
        lsh = open_index(server.url, retries=3)
        admin = redis.Redis.from_url(server.url)
        thread, errors = index_in_thread(lsh, ids, vectors)
        wait_for_count(server.url, "idx", 5_000)
        killed = admin.client_kill_filter(_type="normal", skipme=True)
        thread.join()
        assert killed >= 1
        assert not errors
        assert lsh.verify().ok
        assert buckets(admin, "idx") == clean_build("idx", ids, vectors)
        admin.close()
        lsh.close()
    finally:
        server.stop()


def test_server_restart_without_persistence_mid_ingest_then_rerun_rebuilds(binary):
    ids, vectors = data(30_000)
    server = RedisProcess(binary).start()
    try:
        lsh = open_index(server.url)
        thread, errors = index_in_thread(lsh, ids, vectors)
        wait_for_count(server.url, "idx", 5_000)
        server.kill()
        thread.join()
        assert errors and isinstance(errors[0], redis.ConnectionError)
        server = RedisProcess(binary, port=server.port, workdir=server.workdir).start()
        lsh.index(ids, vectors)
        assert lsh.verify().ok
        assert lsh.storage.count() == ids.size
        lsh.close()
    finally:
        server.stop()


def test_flushed_scripts_are_reloaded_by_every_operation(binary):
    ids, vectors = data(3_000)
    server = RedisProcess(binary).start()
    admin = redis.Redis.from_url(server.url)
    try:
        with open_index(server.url) as lsh:
            lsh.index(ids[:2_000], vectors[:2_000])
            expected = lsh.query(vectors[0], topk=5)
            for operation in (
                lambda: lsh.query(vectors[0], topk=5),
                lambda: lsh.index(ids[2_000:], vectors[2_000:]),
                lambda: lsh.ingest(int(ids[0]), vectors[0]),
                lambda: lsh.delete(ids[2_500:]),
                lambda: lsh.verify(),
                lambda: lsh.clear(),
            ):
                admin.script_flush()
                operation()
            lsh.index(ids[:2_000], vectors[:2_000])
            assert lsh.query(vectors[0], topk=5) == expected
            assert lsh.verify().ok
            assert lsh.storage.count() == 2_000
    finally:
        admin.close()
        server.stop()


def test_a_restarted_server_keeps_the_index_and_scripts_are_reloaded(binary):
    ids, vectors = data(5_000)
    server = RedisProcess(binary, ["--appendonly", "yes"]).start()
    try:
        lsh = open_index(server.url, retries=3)
        lsh.index(ids, vectors)
        before = lsh.query(vectors[7], topk=10)
        server.process.terminate()
        server.process.wait()
        server = RedisProcess(
            binary, ["--appendonly", "yes"], port=server.port, workdir=server.workdir
        ).start()
        assert lsh.query(vectors[7], topk=10) == before
        lsh.delete(ids[:10])
        assert lsh.verify().ok
        assert lsh.storage.count() == ids.size - 10
        lsh.close()
    finally:
        server.stop()


def test_out_of_memory_reaches_the_caller_and_leaves_no_partial_id(binary):
    server = RedisProcess(binary, ["--maxmemory", "12mb", "--maxmemory-policy", "noeviction"])
    server.start()
    try:
        lsh = open_index(server.url)
        fill_until_out_of_memory(lsh)
        report = lsh.verify()
        assert report.ok, report
        assert report.actual_count == lsh.storage.count() > 0
        lsh.close()
    finally:
        server.stop()


def fill_until_out_of_memory(lsh):
    """Index batches of new ids until Redis refuses one; returns the batches indexed."""
    indexed = []
    with pytest.raises(redis.ResponseError, match="maxmemory"):
        for batch in range(100):
            ids, vectors = data(5_000, seed=batch)
            lsh.index(ids + batch * 100_000, vectors)
            indexed.append((ids + batch * 100_000, vectors))
    return indexed


def test_under_out_of_memory_a_move_that_has_started_writing_completes(binary):
    """Redis refuses only a script's first write that needs memory, and only when it
    started out of memory; once it has written, it runs to the end. A re-indexed id
    first leaves its old buckets (SREM, allowed out of memory), so the insert script
    must then be allowed to add it to its new ones, or the id would be half-moved."""
    server = RedisProcess(binary, ["--maxmemory", "12mb", "--maxmemory-policy", "noeviction"])
    server.start()
    try:
        lsh = open_index(server.url)
        ids, vectors = fill_until_out_of_memory(lsh)[0]
        # A call this size of new ids is refused: the server is out of memory when it
        # starts (its arguments count), so the move below starts out of memory too.
        moved = -vectors[:2_000]
        with pytest.raises(redis.ResponseError, match="maxmemory"):
            lsh.storage.insert(ids[:2_000] + 10**12, lsh.hasher.hash_batch(moved))
        lsh.storage.insert(ids[:2_000], lsh.hasher.hash_batch(moved))
        signatures = lsh.hasher.hash_batch(moved)
        for row in (0, 999, 1_999):
            for band in range(lsh.num_bands):
                bucket = lsh.storage.get_bucket(band, signatures[row, band].tobytes())
                assert int(ids[row]) in bucket
        assert lsh.verify().ok
        lsh.close()
    finally:
        server.stop()


def test_under_out_of_memory_deletes_free_memory_and_ingest_resumes(binary):
    server = RedisProcess(binary, ["--maxmemory", "12mb", "--maxmemory-policy", "noeviction"])
    server.start()
    try:
        lsh = open_index(server.url)
        indexed = fill_until_out_of_memory(lsh)
        lsh.delete(indexed[-1][0])
        assert lsh.verify().ok
        lsh.index(*data(100, seed=7))
        assert lsh.verify().ok
        lsh.close()
    finally:
        server.stop()


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_an_evicting_redis_is_warned_about(policy):
    server = RedisProcess(
        next(iter(server_binaries().values())),
        ["--maxmemory", "100mb", "--maxmemory-policy", policy],
    ).start()
    try:
        with pytest.warns(EvictionPolicyWarning, match=policy):
            open_index(server.url).close()
    finally:
        server.stop()


@pytest.mark.parametrize("policy", ["noeviction", "volatile-lru", "volatile-ttl"])
def test_a_non_evicting_policy_is_not_warned_about(policy):
    server = RedisProcess(
        next(iter(server_binaries().values())),
        ["--maxmemory", "100mb", "--maxmemory-policy", policy],
    ).start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", EvictionPolicyWarning)
            open_index(server.url).close()
    finally:
        server.stop()
