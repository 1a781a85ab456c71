"""Modules that moved keep working from their old import paths for this release."""

from __future__ import annotations

import importlib

import pytest

MOVED = {
    "lshrs.hashing": ("LSHHasher", "lshrs.schemes.hyperplane"),
    "lshrs.ivf": ("KMeansHasher", "lshrs.schemes.kmeans"),
    "lshrs.rq": ("RQHasher", "lshrs.schemes.rq"),
    "lshrs.ivfpq": ("IVFPQ", "lshrs.schemes.ivfpq"),
    "lshrs.pq": ("ProductQuantizer", "lshrs.schemes.pq"),
    "lshrs.kmeans": ("train_kmeans", "lshrs.schemes.training"),
    "lshrs.codec": ("digest", "lshrs.schemes.codec"),
    "lshrs.tuning": ("get_optimal_config", "lshrs.config.bands"),
    "lshrs.corpus": ("corpus_config", "lshrs.config.corpus"),
    "lshrs.fetchers": ("array_fetcher", "lshrs.sources.arrays"),
    "lshrs.vector_store": ("RedisVectorStore", "lshrs.sources.redis"),
    "lshrs.loaders": ("iter_parquet_vectors", "lshrs.sources.parquet"),
    "lshrs.loaders.parquet": ("parquet_row_count", "lshrs.sources.parquet"),
    "lshrs.loaders.postgres": ("iter_postgres_vectors", "lshrs.sources.postgres"),
    "lshrs.storage": ("BucketOperation", "lshrs.legacy"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_moved_name_is_the_same_object_at_its_old_path(old):
    name, new = MOVED[old]
    moved = getattr(importlib.import_module(new), name)
    assert getattr(importlib.import_module(old), name) is moved
