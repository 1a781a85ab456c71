"""Six processes on one index: four writers with overlapping id ranges, a deleter and
a querier. Afterwards the index is consistent and equals a sequential build."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np

from tests.faults import concurrency_workers as work
from tests.fixtures.redis_server import delete_prefix
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
