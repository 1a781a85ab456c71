"""Retraining: imbalance as a drift signal, rebuild under a new prefix, alias switch-over."""

from __future__ import annotations

import numpy as np
import pytest

from lshrs import LSHRS, KMeansHasher
from lshrs.keys import alias_key
from lshrs.rebuild import imbalance_factor, rebuild, resolve_alias, switch_alias
from tests.fixtures.redis_server import delete_prefix
from tests.learned_helpers import demo, kmeans_hasher


@pytest.fixture
def source(redis_url, prefix):
    ids, vectors, _ = demo()
    lsh = LSHRS(
        dim=384,
        hasher=kmeans_hasher(),
        redis_url=redis_url,
        redis_prefix=prefix,
        vector_fetch_fn=lambda wanted: vectors[np.searchsorted(ids, wanted)],
        buffer_size=1500,
    )
    lsh.index(ids, vectors)
    yield lsh
    lsh.close()


@pytest.fixture
def new_prefix(redis_client, prefix):
    name = prefix + "-v2"
    yield name
    delete_prefix(redis_client, name)
    redis_client.delete(alias_key(prefix))


def test_a_partition_trained_elsewhere_is_more_imbalanced():
    _, vectors, _ = demo()
    fitted = kmeans_hasher()
    first_topic = vectors[fitted.labels(vectors)[:, 0] < 8]
    elsewhere = KMeansHasher.fit(first_topic, nlist=32, iterations=5, backend="numpy")
    assert imbalance_factor(elsewhere, vectors) > 1.3 * imbalance_factor(fitted, vectors)
    assert imbalance_factor(fitted, vectors) >= 1.0


def test_rebuild_fills_a_new_prefix_and_leaves_the_source_alone(source, new_prefix):
    ids, _, queries = demo()
    before = source.stats()["num_indexed"]
    retrained = kmeans_hasher(seed=1)
    target = rebuild(source, retrained, new_prefix, ids)
    assert target.stats()["num_indexed"] == ids.size == before
    assert target.hasher.fingerprint == retrained.fingerprint
    assert source.stats()["num_indexed"] == before
    assert target.query(queries[0], topk=3, topp=1.0)
    target.close()


def test_rebuild_refuses_a_prefix_in_use(source, prefix):
    with pytest.raises(ValueError, match="already holds an index"):
        rebuild(source, kmeans_hasher(seed=1), prefix, [1])


def test_readers_follow_the_alias(redis_client, prefix, new_prefix):
    with pytest.raises(RuntimeError, match="is not set"):
        resolve_alias(redis_client, prefix)
    assert switch_alias(redis_client, prefix, "index-v1") is None
    assert switch_alias(redis_client, prefix, new_prefix) == "index-v1"
    assert resolve_alias(redis_client, prefix) == new_prefix


def test_bad_aliases_are_rejected(redis_client):
    with pytest.raises(ValueError, match="alias must be a non-empty string"):
        switch_alias(redis_client, "a{b}", "x")
