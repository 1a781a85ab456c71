import numpy as np
import pytest

from lshrs import LSHRS
from lshrs.sources import MissingVectorsError
from lshrs.sources.redis import RedisVectorStore


@pytest.fixture
def lsh(redis_url, prefix):
    return LSHRS(dim=4, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)


def test_vectors_come_back_in_the_order_asked(lsh):
    store = RedisVectorStore(lsh.storage, dim=4)
    vectors = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    store.put(np.arange(10), vectors)
    np.testing.assert_array_equal(store([7, 2, 7]), vectors[[7, 2, 7]])


def test_float16_store_is_close_and_half_the_size(lsh):
    store = RedisVectorStore(lsh.storage, dim=4, dtype="float16")
    vectors = np.array([[0.1, -0.2, 0.3, 0.9]], dtype=np.float32)
    store.put([1], vectors)
    np.testing.assert_allclose(store([1]), vectors, atol=1e-3)
    assert lsh.storage.client.strlen(lsh.storage.keys.vectors(np.array([1]))[0]) == 8


def test_missing_ids_are_reported(lsh):
    store = RedisVectorStore(lsh.storage, dim=4)
    store.put([1], np.ones((1, 4)))
    with pytest.raises(MissingVectorsError, match=r"2 id\(s\) missing .*: 2, 3"):
        store([1, 2, 3])


def test_store_serves_top_p_queries_and_clears_with_the_index(lsh):
    store = RedisVectorStore(lsh.storage, dim=4)
    vectors = np.random.default_rng(1).standard_normal((30, 4)).astype(np.float32)
    store.put(np.arange(30), vectors)
    lsh.vector_fetch_fn = store
    lsh.index(np.arange(30))
    assert lsh.query(vectors[4], topk=1, topp=1.0)[0][0] == 4
    lsh.clear()
    with pytest.raises(MissingVectorsError):
        store([4])


def test_bad_vectors_are_rejected_before_writing(lsh):
    store = RedisVectorStore(lsh.storage, dim=4)
    with pytest.raises(ValueError, match="4 columns"):
        store.put([1], np.ones((1, 3)))
    assert store.delete([1]) == 0


def test_zero_tails_come_back_exactly(lsh):
    # Trailing zero bytes must survive the fixed-width copy of the MGET reply.
    store = RedisVectorStore(lsh.storage, dim=4)
    vectors = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1e-30, 0.0], [-0.0, 2.5, 0.0, 0.0]])
    store.put([1, 2, 3], vectors)
    fetched = store([3, 1, 2])
    assert fetched.dtype == np.float32 and fetched.flags.writeable
    assert fetched.tobytes() == vectors[[2, 0, 1]].astype(np.float32).tobytes()


def test_a_value_of_another_size_is_named(lsh):
    store = RedisVectorStore(lsh.storage, dim=4)
    store.put([1], np.ones((1, 4)))
    key = lsh.storage.keys.vectors(np.array([2]))[0]
    lsh.storage.client.set(key, np.ones(3, dtype="<f4").tobytes())  # another writer's dim
    with pytest.raises(ValueError, match="12 bytes for id 2, expected 16"):
        store([1, 2])
