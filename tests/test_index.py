import json

import numpy as np
import pytest
import redis

from lshrs import LSHRS, LSHHasher, RedisStorage
from lshrs.keys import KeySpace
from tests.fixtures.redis_server import free_port
from tests.helpers import buckets, snapshot

DIM = 16


@pytest.fixture
def vectors():
    return np.random.default_rng(0).standard_normal((200, DIM)).astype(np.float32)


@pytest.fixture
def lsh(redis_url, prefix, vectors):
    index = LSHRS(
        dim=DIM,
        num_bands=8,
        rows_per_band=4,
        redis_url=redis_url,
        redis_prefix=prefix,
        vector_fetch_fn=lambda ids: vectors[np.asarray(ids)],
    )
    yield index
    index.close()


def test_documented_defaults(redis_url, prefix):
    lsh = LSHRS(dim=8, redis_url=redis_url, redis_prefix=prefix)
    stats = lsh.stats()
    assert (stats["num_perm"], stats["num_bands"], stats["rows_per_band"]) == (128, 16, 8)
    assert stats["similarity_threshold"] == 0.5 and stats["seed"] == 42
    assert stats["buffer_size"] == 10000 and stats["redis_prefix"] == prefix


def test_bands_derive_from_num_perm_when_one_is_given(redis_url, prefix):
    by_bands = LSHRS(dim=4, num_perm=64, num_bands=8, redis_url=redis_url, redis_prefix=prefix)
    assert by_bands.rows_per_band == 8
    by_bands.clear()
    by_rows = LSHRS(dim=4, num_perm=64, rows_per_band=16, redis_url=redis_url, redis_prefix=prefix)
    assert by_rows.num_bands == 4


def test_indexed_vectors_are_found_by_their_own_query(lsh, vectors):
    lsh.index(list(range(200)), vectors)
    for i in (0, 17, 199):
        assert lsh.get_top_k(vectors[i], topk=1) == [i]
    assert lsh.stats()["num_indexed"] == 200


def test_ingest_is_visible_to_another_client_at_once(lsh, redis_url, prefix, vectors):
    lsh.ingest(5, vectors[5])
    other = LSHRS(dim=DIM, num_bands=8, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    assert other.get_top_k(vectors[5], topk=3) == [5]


def test_top_k_orders_by_collision_count_then_id(lsh, redis_client, prefix, vectors):
    lsh.index(list(range(200)), vectors)
    query = vectors[3] + 0.5 * vectors[4]
    codes = lsh.hasher.probe_codes(query)
    state = buckets(redis_client, prefix)
    counts: dict[int, int] = {}
    for code in codes:
        for member in state.get(code, ()):
            counts[member] = counts.get(member, 0) + 1
    expected = sorted(counts, key=lambda i: (-counts[i], i))[:12]
    assert lsh.query(query, topk=12) == expected


def test_reindexing_the_same_vector_changes_nothing(lsh, redis_client, prefix, vectors):
    lsh.index(list(range(50)), vectors[:50])
    before = snapshot(redis_client, prefix)
    lsh.index([10, 11], vectors[10:12])
    lsh.ingest(12, vectors[12])
    assert snapshot(redis_client, prefix) == before


def test_reindexing_with_a_new_vector_moves_the_id(lsh, redis_client, prefix, vectors):
    lsh.index([1], vectors[:1])
    lsh.index([1], vectors[100:101])
    state = buckets(redis_client, prefix)
    own = {
        b.to_bytes(2, "big") + sig.tobytes()
        for b, sig in enumerate(lsh.hasher.hash_batch(vectors[100:101])[0])
    }
    assert set(state) == own
    assert all(members == {1} for members in state.values())
    assert lsh.stats()["num_indexed"] == 1


def test_delete_removes_every_trace_of_an_id(lsh, redis_client, prefix, vectors):
    lsh.index([1, 2], vectors[:2])
    before = snapshot(redis_client, prefix)
    lsh.index([3], vectors[2:3])
    lsh.delete(3)
    after = snapshot(redis_client, prefix)
    cfg_key = next(k for k in after if k.endswith(b":cfg"))
    assert {k: v for k, v in after.items() if k != cfg_key} == {
        k: v for k, v in before.items() if k != cfg_key
    }
    assert lsh.stats()["num_indexed"] == 2


def test_delete_accepts_a_list_and_ignores_unknown_ids(lsh, vectors):
    lsh.index(list(range(10)), vectors[:10])
    lsh.delete([2, 3, 1000])
    assert lsh.stats()["num_indexed"] == 8
    assert 2 not in lsh.get_top_k(vectors[2], topk=10)


def test_clear_removes_exactly_this_index(lsh, redis_client, redis_url, prefix, vectors):
    neighbour = LSHRS(
        dim=DIM, num_bands=2, rows_per_band=2, redis_url=redis_url, redis_prefix=prefix + "2"
    )
    neighbour.index([1], vectors[:1])
    redis_client.set(f"{prefix}:plain", b"x")
    lsh.index(list(range(20)), vectors[:20])
    lsh.clear()
    assert snapshot(redis_client, prefix) == {}
    assert redis_client.get(f"{prefix}:plain") == b"x"
    assert neighbour.stats()["num_indexed"] == 1
    neighbour.clear()
    redis_client.delete(f"{prefix}:plain")


def test_index_still_works_after_clear(lsh, vectors):
    lsh.index([1], vectors[:1])
    lsh.clear()
    lsh.index([2], vectors[1:2])
    assert lsh.get_top_k(vectors[1], topk=1) == [2]


def test_top_p_reranks_by_exact_cosine(lsh, vectors):
    lsh.index(list(range(200)), vectors)
    query = vectors[7] + 0.1
    candidates = lsh.query(query, topk=1000)
    result = lsh.query(query, topk=1000, topp=0.5)
    assert len(result) == int(np.ceil(0.5 * len(candidates)))
    sims = {
        i: float(vectors[i] @ query / np.linalg.norm(vectors[i]) / np.linalg.norm(query))
        for i in candidates
    }
    expected = sorted(candidates, key=lambda i: (-sims[i], i))[: len(result)]
    assert [i for i, _ in result] == expected
    for i, score in result:
        assert score == pytest.approx(sims[i], abs=1e-5)


def test_top_p_is_capped_by_topk_and_get_above_p_is_not(lsh, vectors):
    lsh.index(list(range(200)), vectors)
    assert len(lsh.query(vectors[0], topk=3, topp=1.0)) == 3
    assert len(lsh.get_above_p(vectors[0], p=1.0)) == len(lsh.query(vectors[0], topk=500))


def test_rerank_candidates_bounds_what_top_p_fetches(redis_url, prefix, vectors):
    fetched = []

    def fetch(ids):
        fetched.append(len(ids))
        return vectors[np.asarray(ids)]

    lsh = LSHRS(
        dim=DIM,
        num_bands=2,
        rows_per_band=1,
        redis_url=redis_url,
        redis_prefix=prefix,
        vector_fetch_fn=fetch,
        rerank_candidates=25,
    )
    lsh.index(list(range(200)), vectors)
    lsh.get_above_p(vectors[0], p=1.0)
    assert fetched == [25]


def test_top_p_without_fetch_function_is_a_runtime_error(redis_url, prefix, vectors):
    lsh = LSHRS(dim=DIM, redis_url=redis_url, redis_prefix=prefix)
    with pytest.raises(RuntimeError, match="vector_fetch_fn"):
        lsh.query(vectors[0], topp=0.5)
    with pytest.raises(RuntimeError, match="vector_fetch_fn"):
        lsh.index([1, 2])


def test_index_without_vectors_fetches_them(lsh, vectors):
    lsh.index([4, 5, 6])
    assert lsh.get_top_k(vectors[5], topk=1) == [5]


def test_fetch_function_returning_the_wrong_shape_is_reported(redis_url, prefix, vectors):
    lsh = LSHRS(
        dim=DIM,
        redis_url=redis_url,
        redis_prefix=prefix,
        vector_fetch_fn=lambda ids: vectors[: len(ids) - 1],
    )
    lsh.index([1, 2, 3], vectors[:3])
    with pytest.raises(ValueError, match="vector_fetch_fn returned shape"):
        lsh.get_above_p(vectors[1], p=1.0)


def test_multiprobe_reads_more_buckets_and_finds_more(redis_url, prefix):
    data = np.random.default_rng(3).standard_normal((500, DIM)).astype(np.float32)
    plain = LSHRS(dim=DIM, num_bands=4, rows_per_band=10, redis_url=redis_url, redis_prefix=prefix)
    plain.index(list(range(500)), data)
    probing = LSHRS(
        dim=DIM,
        num_bands=4,
        rows_per_band=10,
        redis_url=redis_url,
        redis_prefix=prefix,
        extra_probes=40,
    )
    query = data[0] + 0.8 * data[1]
    few, many = plain.query(query, topk=500), probing.query(query, topk=500)
    assert set(few) < set(many)


def test_attaching_with_another_configuration_fails_clearly(lsh, redis_url, prefix, vectors):
    lsh.index([1], vectors[:1])
    with pytest.raises(ValueError, match=r"was built as .*bands=8 rows=4.* but this client is"):
        LSHRS(dim=DIM, num_bands=8, rows_per_band=5, redis_url=redis_url, redis_prefix=prefix)
    with pytest.raises(ValueError, match="dim=16"):
        LSHRS(dim=DIM + 1, num_bands=8, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    assert lsh.stats()["num_indexed"] == 1


def test_a_stale_client_cannot_write_into_a_rebuilt_index(lsh, redis_url, prefix, vectors):
    lsh.clear()
    LSHRS(dim=DIM, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    with pytest.raises(ValueError, match="was built as"):
        lsh.index([1], vectors[:1])


def test_config_is_stored_for_other_clients(lsh, redis_client, prefix):
    config = {
        k.decode(): v.decode() for k, v in redis_client.hgetall("{" + prefix + "}:cfg").items()
    }
    assert config["dim"] == str(DIM) and config["num_bands"] == "8"
    assert config["rows_per_band"] == "4" and config["sig_bytes"] == "1"
    planes = np.frombuffer(redis_client.get("{" + prefix + "}:model"), dtype="<f4")
    np.testing.assert_array_equal(planes.reshape(32, DIM), lsh.hasher.planes)


def test_save_and_load_reproduce_the_index(lsh, tmp_path, redis_url, vectors):
    lsh.index(list(range(50)), vectors[:50])
    path = tmp_path / "model.lsh"
    lsh.save_to_disk(path)
    saved = json.loads(path.read_text())
    assert "planes" not in saved and "redis_password" not in saved
    again = LSHRS.load_from_disk(path, redis_url=redis_url)
    np.testing.assert_array_equal(again.hasher.planes, lsh.hasher.planes)
    assert again.get_top_k(vectors[9], topk=5) == lsh.get_top_k(vectors[9], topk=5)


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not an lshrs model"):
        LSHRS.load_from_disk(path)


def test_redis_errors_propagate_unchanged():
    with pytest.raises(redis.ConnectionError):
        LSHRS(dim=4, redis_port=free_port(), redis_prefix="nowhere")


def test_decode_responses_does_not_change_results(redis_url, prefix, vectors):
    lsh = LSHRS(
        dim=DIM,
        num_bands=8,
        rows_per_band=4,
        redis_url=redis_url,
        redis_prefix=prefix,
        decode_responses=True,
    )
    lsh.index(list(range(30)), vectors[:30])
    assert lsh.get_top_k(vectors[4], topk=1) == [4]
    assert lsh.stats()["num_indexed"] == 30


def test_a_prepared_storage_can_be_passed_in(redis_url, prefix, vectors):
    storage = RedisStorage(url=redis_url, prefix=prefix)
    lsh = LSHRS(dim=DIM, storage=storage)
    lsh.index([3], vectors[3:4])
    assert lsh.redis_prefix == prefix and lsh.get_top_k(vectors[3], topk=1) == [3]


def test_large_batches_span_several_pipelined_flushes(redis_url, prefix):
    data = np.random.default_rng(9).standard_normal((5000, DIM)).astype(np.float32)
    lsh = LSHRS(
        dim=DIM,
        num_bands=4,
        rows_per_band=8,
        redis_url=redis_url,
        redis_prefix=prefix,
        buffer_size=1500,
    )
    lsh.index(np.arange(5000), data)
    assert lsh.stats()["num_indexed"] == 5000
    assert lsh.get_top_k(data[4321], topk=1) == [4321]


def test_stats_of_a_learned_scheme_have_no_bit_count(redis_url, prefix, vectors):
    from lshrs import KMeansHasher

    hasher = KMeansHasher.fit(vectors, nlist=4, iterations=2, backend="numpy")
    stats = LSHRS(dim=DIM, hasher=hasher, redis_url=redis_url, redis_prefix=prefix).stats()
    assert stats["num_perm"] is None and stats["rows_per_band"] is None
    assert stats["scheme"] == "kmeans"


def test_a_vector_on_the_planes_is_found_by_its_own_query(redis_url, prefix, vectors):
    center = np.zeros(DIM, dtype=np.float32)
    center[3] = 4.0  # one power-of-two coordinate: the centre projects exactly to zero
    hasher = LSHHasher(num_bands=8, rows_per_band=4, dim=DIM, seed=42, center=center)
    lsh = LSHRS(dim=DIM, hasher=hasher, extra_probes=0, redis_url=redis_url, redis_prefix=prefix)
    lsh.index([*range(50), 1000], np.vstack([vectors[:50], center]))

    assert lsh.get_top_k(center, topk=1) == [1000]
    lsh.close()


def test_ids_given_out_of_order_keep_their_own_vectors(lsh, redis_client, prefix, vectors):
    ids = [5, 1, 3]
    lsh.index(ids, vectors[[50, 60, 70]])

    for id_, row in zip(ids, (50, 60, 70), strict=True):
        stored = redis_client.hget(KeySpace(prefix).reverse(id_), str(id_))
        assert stored == lsh.hasher.hash_batch(vectors[row : row + 1]).tobytes()
        assert lsh.get_top_k(vectors[row], topk=1) == [id_]
