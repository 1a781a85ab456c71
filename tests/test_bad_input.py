"""Bad input is a ValueError naming the problem, raised before anything is written."""

import numpy as np
import pytest

from lshrs import LSHRS
from tests.helpers import snapshot

DIM = 8


@pytest.fixture
def lsh(redis_url, prefix):
    index = LSHRS(dim=DIM, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    index.index([100], np.ones((1, DIM)))
    return index


def good(n=3):
    return np.random.default_rng(0).standard_normal((n, DIM)).astype(np.float32)


BAD_BATCHES = [
    ([1, 2, 3], good()[:, :5], "must have 8 columns"),
    ([1, 2, 3], good()[0], "must have shape"),
    ([], np.empty((0, DIM)), "empty"),
    ([1, 2, 3], np.where(np.eye(3, DIM) > 0, np.nan, good()), "row 0 contains NaN"),
    ([1, 2, 3], np.vstack([good(2), np.full((1, DIM), np.inf)]), "row 2 contains NaN or inf"),
    ([1, 2, 3], np.vstack([good(2), np.zeros((1, DIM))]), "row 2 is all zeros"),
    ([1, 2], good(), "2 indices but 3 vectors"),
    ([1, 2, 2], good(), "must be distinct.*\\[2\\]"),
    ([1.0, 2.0, 3.0], good(), "must be integers, got dtype float64"),
    (["a", "b", "c"], good(), "must be integers"),
    ([1, -2, 3], good(), "\\[0, 2\\*\\*53 - 1\\], got -2"),
    ([1, 2**53, 3], good(), "got 9007199254740992"),
    ([1, 2**64, 3], good(), "must be"),
    ([True, False, True], good(), "must be integers"),
    ([1, 2, 3], good().astype(object), "numeric"),
    ([1, 2, 3], np.array([["x"] * DIM] * 3), "numeric"),
]


@pytest.mark.parametrize(("ids", "vectors", "message"), BAD_BATCHES)
def test_bad_batches_are_rejected_before_any_write(
    lsh, redis_client, prefix, ids, vectors, message
):
    before = snapshot(redis_client, prefix)
    with pytest.raises(ValueError, match=message):
        lsh.index(ids, vectors)
    assert snapshot(redis_client, prefix) == before


@pytest.mark.parametrize(
    ("index", "vector", "message"),
    [
        (1, np.ones(DIM + 1), "must have 8 columns"),
        (1, np.full(DIM, np.nan), "NaN"),
        (1, np.ones((2, DIM)), "must have shape"),
        (1.5, np.ones(DIM), "integers"),
        ("7", np.ones(DIM), "integers"),
        (-1, np.ones(DIM), "got -1"),
    ],
)
def test_bad_ingest_is_rejected_before_any_write(lsh, redis_client, prefix, index, vector, message):
    before = snapshot(redis_client, prefix)
    with pytest.raises(ValueError, match=message):
        lsh.ingest(index, vector)
    assert snapshot(redis_client, prefix) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vector": np.ones(3)}, "8 columns"),
        ({"vector": np.ones(DIM), "topk": 0}, "topk"),
        ({"vector": np.ones(DIM), "topk": None}, "topk"),
        ({"vector": np.ones(DIM), "topp": 1.5}, "topp"),
        ({"vector": np.ones(DIM), "topp": -0.1}, "topp"),
    ],
)
def test_bad_queries_are_rejected(lsh, kwargs, message):
    lsh.vector_fetch_fn = lambda ids: np.ones((len(ids), DIM))
    with pytest.raises(ValueError, match=message):
        lsh.query(**kwargs)


def test_bad_deletes_are_rejected_before_any_write(lsh, redis_client, prefix):
    before = snapshot(redis_client, prefix)
    for bad in ([100, 1.5], ["100"], [-1], []):
        with pytest.raises(ValueError):
            lsh.delete(bad)
    assert snapshot(redis_client, prefix) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 0}, "dim"),
        ({"dim": 8, "num_perm": 0}, "num_perm"),
        ({"dim": 8, "num_bands": 200}, "must not exceed num_perm"),
        ({"dim": 8, "similarity_threshold": 1.0}, "similarity_threshold"),
        ({"dim": 8, "buffer_size": 0}, "buffer_size"),
        ({"dim": 8, "redis_prefix": ""}, "redis_prefix"),
        ({"dim": 8, "redis_prefix": "a{b}"}, "must not contain"),
        ({"dim": 8, "extra_probes": -1}, "extra_probes"),
        ({"dim": 8, "rerank_candidates": 0}, "rerank_candidates"),
        ({"dim": 8, "vector_fetch_fn": 3}, "callable"),
    ],
)
def test_bad_constructor_arguments_are_rejected(redis_url, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LSHRS(redis_url=redis_url, **kwargs)


def test_prefixes_with_glob_characters_and_spaces_stay_separate(redis_url, redis_client):
    odd = LSHRS(
        dim=DIM, num_bands=2, rows_per_band=2, redis_url=redis_url, redis_prefix="t* [x]? \\ sp"
    )
    plain = LSHRS(dim=DIM, num_bands=2, rows_per_band=2, redis_url=redis_url, redis_prefix="t")
    odd.index([1], np.ones((1, DIM)))
    plain.index([2], np.ones((1, DIM)))
    odd.clear()
    assert snapshot(redis_client, "t* [x]? \\ sp") == {}
    assert plain.stats()["num_indexed"] == 1
    plain.clear()
