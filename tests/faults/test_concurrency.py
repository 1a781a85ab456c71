"""Six processes on one index: four writers with overlapping id ranges, a deleter and
a querier. Afterwards the index is consistent and equals a sequential build."""

from __future__ import annotations

import multiprocessing
import threading
import time

import numpy as np
import redis

from lshrs.keys import KeySpace
from lshrs.protocol import ClearingError
from lshrs.storage import RedisStorage
from tests.faults import concurrency_workers as work
from tests.fixtures.redis_server import RedisProcess, delete_prefix, server_binaries
from tests.helpers import buckets

CHAOS_SECONDS = 4.0


def test_concurrent_writers_deleter_and_querier_end_in_the_sequential_state(
    redis_url, prefix, redis_client
):
    doomed = np.arange(work.DOOMED.start, work.DOOMED.stop)
    with work.open_index(redis_url, prefix) as lsh:
        lsh.index(doomed, work.final_vectors(doomed))

    spawn = multiprocessing.get_context("spawn")
    phase_two, done = spawn.Event(), spawn.Event()
    barrier = spawn.Barrier(work.WRITERS + 1)
    results = spawn.Queue()
    processes = [
        spawn.Process(target=work.writer, args=(redis_url, prefix, n, phase_two, barrier))
        for n in range(work.WRITERS)
    ]
    processes.append(
        spawn.Process(target=work.deleter, args=(redis_url, prefix, phase_two, barrier))
    )
    querier = spawn.Process(target=work.querier, args=(redis_url, prefix, done, results))
    for process in [*processes, querier]:
        process.start()
    time.sleep(CHAOS_SECONDS)
    phase_two.set()
    for process in processes:
        process.join(timeout=180)
    done.set()
    queries, foreign = results.get(timeout=60)
    querier.join(timeout=60)
    assert [p.exitcode for p in [*processes, querier]] == [0] * (work.WRITERS + 2)
    assert queries > 0
    assert foreign == 0

    with work.open_index(redis_url, prefix) as lsh:
        report = lsh.verify()
        assert report.ok, report
        assert report.actual_count == len(work.UNION)

    expected_prefix = prefix + "-sequential"
    try:
        union = np.arange(work.UNION.start, work.UNION.stop)
        with work.open_index(redis_url, expected_prefix) as lsh:
            lsh.index(union, work.final_vectors(union))
        assert buckets(redis_client, prefix) == buckets(redis_client, expected_prefix)
    finally:
        delete_prefix(redis_client, expected_prefix)


def test_a_clear_under_a_concurrent_writer_leaves_no_half_index():
    """The writer runs into the clear: it raises ClearingError, and the clear ends with
    no key of the index left (no entries without members, no cfg without its model)."""
    process = RedisProcess(next(iter(server_binaries().values()))).start()
    try:
        client = redis.Redis.from_url(process.url)
        client.eval("for i = 1, 300000 do redis.call('SET', 'other:' .. i, 'x') end", 0)
        writer_index = work.open_index(process.url, "cleared")
        data = np.random.default_rng(0).standard_normal((1000, work.DIM)).astype(np.float32)
        writer_index.index(np.arange(1000), data)
        started, outcome = threading.Event(), []

        def write_until_refused():
            try:
                for start in range(1000, 400_000, 1000):
                    writer_index.index(np.arange(start, start + 1000), data)
                    started.set()
            except Exception as error:  # the outcome the test asserts on
                outcome.append(error)
            started.set()

        writer = threading.Thread(target=write_until_refused)
        writer.start()
        started.wait(timeout=60)
        RedisStorage(url=process.url, prefix="cleared").clear()
        writer.join(timeout=120)
        assert len(outcome) == 1 and isinstance(outcome[0], ClearingError), outcome
        assert list(client.scan_iter(match=KeySpace("cleared").pattern, count=10_000)) == []
        assert client.dbsize() == 300000
        writer_index.close()
    finally:
        process.stop()
