"""Worker processes of tests/faults/test_concurrency.py (a module of its own so that
multiprocessing's spawn start method can import them)."""

from __future__ import annotations

import numpy as np

from lshrs import LSHRS

DIM = 16
WRITERS = 4
RANGE = 6_000
STEP = 3_000
UNION = range(0, STEP * (WRITERS - 1) + RANGE)
DOOMED = range(100_000, 103_000)
"""Ids indexed before the workers start and deleted by the deleter: disjoint from
the writers' ranges, so the final state does not depend on interleaving."""


def final_vectors(ids: np.ndarray) -> np.ndarray:
    """The vector each id ends with, whichever process writes it last."""
    return np.stack([np.random.default_rng(int(i)).standard_normal(DIM) for i in ids]).astype(
        np.float32
    )


def open_index(url: str, prefix: str) -> LSHRS:
    return LSHRS(dim=DIM, num_bands=8, rows_per_band=8, redis_url=url, redis_prefix=prefix)


def writer(url: str, prefix: str, number: int, phase_two, barrier) -> None:
    """Phase 1: index random versions of random slices of this writer's range (ids
    move between buckets); phase 2: index every id of the range with its final vector."""
    rng = np.random.default_rng(1000 + number)
    own = np.arange(number * STEP, number * STEP + RANGE)
    with open_index(url, prefix) as lsh:
        while not phase_two.is_set():
            ids = rng.choice(own, size=500, replace=False)
            lsh.index(ids, rng.standard_normal((ids.size, DIM)))
        barrier.wait(timeout=120)
        for start in range(0, own.size, 1_000):
            ids = own[start : start + 1_000]
            lsh.index(ids, final_vectors(ids))


def deleter(url: str, prefix: str, phase_two, barrier) -> None:
    """Phase 1: delete random ids the writers are writing; phase 2: delete DOOMED."""
    rng = np.random.default_rng(7)
    union = np.arange(UNION.start, UNION.stop)
    with open_index(url, prefix) as lsh:
        while not phase_two.is_set():
            lsh.delete(rng.choice(union, size=300, replace=False))
        barrier.wait(timeout=120)
        doomed = np.arange(DOOMED.start, DOOMED.stop)
        for start in range(0, doomed.size, 500):
            lsh.delete(doomed[start : start + 500])


def querier(url: str, prefix: str, done, results) -> None:
    """Query at full speed until told to stop; report (queries, foreign ids seen)."""
    rng = np.random.default_rng(11)
    queries = foreign = 0
    with open_index(url, prefix) as lsh:
        while not done.is_set():
            found = lsh.query(rng.standard_normal(DIM), topk=20)
            foreign += sum(
                1
                for i in found
                if not (i in UNION or i in DOOMED)  # type: ignore[operator]
            )
            queries += 1
    results.put((queries, foreign))
