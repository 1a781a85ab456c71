"""The index against a plain in-memory model of its buckets, over random sequences of
index / ingest / delete / query: answers and bucket contents must be identical."""

from __future__ import annotations

import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lshrs import LSHRS, LSHHasher
from tests.helpers import buckets

DIM = 6
POOL = np.random.default_rng(42).standard_normal((12, DIM)).astype(np.float32)
ids_strategy = st.integers(min_value=0, max_value=40)
vector_strategy = st.integers(min_value=0, max_value=len(POOL) - 1)


class BucketModel:
    """What the index should hold: bucket code -> ids, and id -> its codes."""

    def __init__(self, hasher: LSHHasher) -> None:
        self.hasher = hasher
        self.buckets: dict[bytes, set[int]] = {}
        self.codes_of: dict[int, list[bytes]] = {}

    def codes(self, vector: np.ndarray) -> list[bytes]:
        sigs = self.hasher.hash_batch(vector[None])[0]
        return [band.to_bytes(2, "big") + sig.tobytes() for band, sig in enumerate(sigs)]

    def put(self, index: int, vector: np.ndarray) -> None:
        self.remove(index)
        self.codes_of[index] = self.codes(vector)
        for code in self.codes_of[index]:
            self.buckets.setdefault(code, set()).add(index)

    def remove(self, index: int) -> None:
        for code in self.codes_of.pop(index, []):
            self.buckets[code].discard(index)
            if not self.buckets[code]:
                del self.buckets[code]

    def query(self, codes: list[bytes], topk: int) -> list[int]:
        counts: dict[int, int] = {}
        for code in codes:
            for index in self.buckets.get(code, ()):
                counts[index] = counts.get(index, 0) + 1
        return sorted(counts, key=lambda i: (-counts[i], i))[:topk]


@pytest.mark.parametrize("extra_probes", [0, 6])
def test_index_behaves_like_the_model(redis_url, prefix, extra_probes):
    client = redis.Redis.from_url(redis_url)

    class IndexMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.lsh = LSHRS(
                dim=DIM,
                num_bands=3,
                rows_per_band=2,
                redis_url=redis_url,
                redis_prefix=prefix,
                extra_probes=extra_probes,
            )
            self.lsh.clear()
            self.model = BucketModel(self.lsh.hasher)

        @rule(pairs=st.dictionaries(ids_strategy, vector_strategy, min_size=1, max_size=8))
        def index(self, pairs):
            ids = list(pairs)
            self.lsh.index(ids, POOL[[pairs[i] for i in ids]])
            for i in ids:
                self.model.put(i, POOL[pairs[i]])

        @rule(index=ids_strategy, vector=vector_strategy)
        def ingest(self, index, vector):
            self.lsh.ingest(index, POOL[vector])
            self.model.put(index, POOL[vector])

        @rule(ids=st.lists(ids_strategy, min_size=1, max_size=5))
        def delete(self, ids):
            self.lsh.delete(ids)
            for i in ids:
                self.model.remove(i)

        @rule(vector=vector_strategy, noise=st.floats(-1, 1), topk=st.integers(1, 50))
        def query(self, vector, noise, topk):
            query = POOL[vector] + np.float32(noise)
            if not np.any(query):
                return
            codes = self.lsh.hasher.probe_codes(query, extra_probes)
            assert self.lsh.query(query, topk=topk) == self.model.query(codes, topk)

        @invariant()
        def same_buckets_and_count(self):
            assert buckets(client, prefix) == {
                code: frozenset(ids) for code, ids in self.model.buckets.items()
            }
            assert self.lsh.stats()["num_indexed"] == len(self.model.codes_of)

        def teardown(self) -> None:
            self.lsh.clear()
            self.lsh.close()

    IndexMachine.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    IndexMachine.TestCase().runTest()
    client.close()
