"""IVF-PQ: compressed inverted lists in Redis, on real Redis with the real demo embeddings."""

from __future__ import annotations

import struct
from functools import cache

import numpy as np
import pytest

from lshrs import LSHRS, corpus_config
from lshrs.keys import KeySpace
from lshrs.protocol import BadArgumentError, Protocol, WrongTypeError
from lshrs.schemes.ivfpq import IVFPQ
from lshrs.schemes.pq import ProductQuantizer
from lshrs.sources import array_fetcher
from tests.helpers import snapshot
from tests.learned_helpers import demo
from tests.properties.test_round_trips import client_commands, private_server  # noqa: F401


@cache
def model(metric: str = "ip") -> IVFPQ:
    """32 lists and 24-byte codes trained on the demo vectors (numpy, 6 iterations)."""
    _, vectors, _ = demo()
    trained = IVFPQ.fit(vectors, nlist=32, m=24, nprobe=8, iterations=6, backend="numpy")
    if metric == "ip":
        return trained
    return IVFPQ(trained.centroids, trained.pq, metric="l2", normalize=False, nprobe=8)


def unit(rows):
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def open_index(redis_url, prefix, ivf=None, **kwargs):
    ids, vectors, _ = demo()
    return LSHRS(
        384,
        hasher=ivf or model(),
        redis_url=redis_url,
        redis_prefix=prefix,
        vector_fetch_fn=array_fetcher(ids, vectors),
        **kwargs,
    )


@pytest.fixture
def lsh(redis_url, prefix):
    ids, vectors, _ = demo()
    index = open_index(redis_url, prefix, rerank_candidates=100)
    index.index(ids, vectors)
    yield index
    index.close()


def records_in_redis(client, prefix):
    """list number -> (ids, codes) of its live records, read straight from Redis."""
    keys = KeySpace(prefix)
    size = model().record_bytes
    out = {}
    for name, count in client.hgetall(keys.root + b"n").items():
        blob = client.getrange(keys.root + b"l" + name, 0, int(count) * size - 1)
        records = np.frombuffer(blob, dtype=np.uint8).reshape(-1, size)
        out[int(name)] = (records[:, :8].copy().view("<i8").ravel(), records[:, 8:])
    return out


# -- the model -------------------------------------------------------------------------


def test_a_vector_goes_to_its_nearest_list_with_the_code_of_its_residual():
    ivf = model()
    _, vectors, _ = demo()
    lists, codes = ivf.encode(vectors[:500])
    assert np.array_equal(lists, (unit(vectors[:500]) @ ivf.centroids.T).argmax(axis=1))
    residuals = unit(vectors[:500]) - ivf.centroids[lists]
    assert np.array_equal(codes, ivf.pq.encode(residuals))
    error = np.linalg.norm(residuals - ivf.pq.decode(codes), axis=1)
    assert error.mean() < 0.75 * np.linalg.norm(residuals, axis=1).mean()


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_scores_are_exact_for_the_decoded_vectors(metric):
    ivf = model(metric)
    _, vectors, queries = demo()
    lists, codes = ivf.encode(vectors[:300])
    query = ivf.prepare(queries[:1])[0]
    probed = np.unique(lists)
    blobs = [ivf.records(np.flatnonzero(lists == k), codes[lists == k]).tobytes() for k in probed]
    ids, scores = ivf.score(query, probed, blobs)
    decoded = ivf.centroids[lists[ids]] + ivf.pq.decode(codes[ids])
    expected = decoded @ query if metric == "ip" else -((decoded - query) ** 2).sum(axis=1)
    assert np.allclose(scores, expected, atol=1e-4)


def test_the_model_blob_round_trips_and_a_truncated_one_is_refused():
    ivf = model()
    again = IVFPQ.from_blob(ivf.model_blob(), nprobe=3)
    assert again.fingerprint == ivf.fingerprint and again.nprobe == 3
    assert np.array_equal(again.pq.codebooks, ivf.pq.codebooks)
    with pytest.raises(ValueError, match="truncated"):
        IVFPQ.from_blob(ivf.model_blob()[:-4])
    with pytest.raises(ValueError, match="LSHRSPQ1"):
        IVFPQ.from_blob(b"LSHRSKM1" + ivf.model_blob()[8:])
    assert IVFPQ.from_model(ivf.to_model()).fingerprint == ivf.fingerprint
    with pytest.raises(ValueError, match="IVF-PQ model"):
        IVFPQ.from_model({"blob": "not base64!"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"nlist": 8, "m": 5}, "divide"), ({"nlist": 6000}, "at least 6000")],
)
def test_training_refuses_impossible_settings(kwargs, message):
    _, vectors, _ = demo()
    with pytest.raises(ValueError, match=message):
        IVFPQ.fit(vectors, **kwargs)


def test_a_product_quantizer_needs_256_training_vectors():
    with pytest.raises(ValueError, match="256"):
        ProductQuantizer.train(np.ones((100, 8), dtype=np.float32), m=2)


# -- the lists in Redis ----------------------------------------------------------------


def test_each_list_holds_exactly_its_ids_codes_and_the_reverse_index_names_their_slots(
    lsh, redis_client, prefix
):
    ids, vectors, _ = demo()
    lists, codes = model().encode(vectors)
    stored = records_in_redis(redis_client, prefix)
    assert sum(len(found) for found, _ in stored.values()) == ids.size
    root = KeySpace(prefix).root
    for number, (found, found_codes) in stored.items():
        assert set(found.tolist()) == set(ids[lists == number].tolist())
        rows = np.searchsorted(ids, found)
        assert np.array_equal(found_codes, codes[rows])
        for slot, index in enumerate(found[:5].tolist()):
            entry = redis_client.hget(root + b"r" + str(index // 128).encode(), str(index))
            assert struct.unpack("<II", entry) == (number, slot)
    assert lsh.stats()["num_indexed"] == ids.size


def test_after_a_write_the_lists_hold_no_spare_capacity(lsh, redis_client, prefix):
    root = KeySpace(prefix).root
    live = 0
    used = 0
    for name, count in redis_client.hgetall(root + b"n").items():
        live += int(count) * model().record_bytes
        used += redis_client.memory_usage(root + b"l" + name, samples=0)
    # Appending grows a Redis string greedily (up to 2x); compaction leaves the live
    # bytes plus the per-key overhead and allocator rounding.
    assert used < 1.15 * live + 100 * model().nlist


def test_deleting_moves_the_last_record_into_the_hole(lsh, redis_client, prefix):
    ids, _, _ = demo()
    before = records_in_redis(redis_client, prefix)
    number, (found, _) = next((k, v) for k, v in before.items() if len(v[0]) > 3)
    lsh.delete(int(found[0]))
    after = records_in_redis(redis_client, prefix)[number][0]
    assert after.tolist() == [found[-1], *found[1:-1]]
    assert lsh.stats()["num_indexed"] == ids.size - 1
    assert lsh.verify().ok


def test_deleting_every_record_of_a_list_removes_its_key(lsh, redis_client, prefix):
    stored = records_in_redis(redis_client, prefix)
    number, (found, _) = min(stored.items(), key=lambda item: len(item[1][0]))
    lsh.delete(found.tolist())
    root = KeySpace(prefix).root
    assert not redis_client.exists(root + b"l" + str(number).encode())
    assert redis_client.hget(root + b"n", str(number)) is None
    assert lsh.verify().ok


def test_reindexing_an_id_with_a_far_vector_moves_it_to_its_new_list(lsh, redis_client, prefix):
    ids, vectors, _ = demo()
    lists, _ = model().encode(vectors)
    moved = int(ids[0])
    target = int(np.flatnonzero(lists != lists[0])[0])
    lsh.index([moved], vectors[target : target + 1])
    stored = records_in_redis(redis_client, prefix)
    assert moved in stored[int(lists[target])][0].tolist()
    assert moved not in stored[int(lists[0])][0].tolist()
    assert lsh.stats()["num_indexed"] == ids.size
    assert lsh.verify().ok


def test_reindexing_the_same_vectors_changes_nothing(lsh, redis_client, prefix):
    ids, vectors, _ = demo()
    before = snapshot(redis_client, prefix)
    lsh.index(ids[:700], vectors[:700])
    assert snapshot(redis_client, prefix) == before


def test_an_insert_call_is_whole_or_nothing(lsh, redis_client, prefix):
    ivf = model()
    root = KeySpace(prefix).root
    record = ivf.records(np.array([999_999]), np.zeros((1, ivf.code_bytes), dtype=np.uint8))
    protocol = Protocol(redis_client)
    before = snapshot(redis_client, prefix)
    bad_calls = [
        [0, record.tobytes(), ivf.nlist, record.tobytes()],  # list out of range
        [0, record.tobytes() + record.tobytes()],  # the same id twice
        [0, record.tobytes()[:-1]],  # a partial record
        [0, record.tobytes(), 0, record.tobytes()],  # a list twice
    ]
    for args in bad_calls:
        with pytest.raises(BadArgumentError):
            protocol.call("ivf_insert", root, [ivf.fingerprint, *args])
    assert snapshot(redis_client, prefix) == before


def test_writes_that_would_meet_a_key_of_another_type_are_refused_whole(lsh, redis_client, prefix):
    ids, vectors, _ = demo()
    lists, _ = model().encode(vectors)
    root = KeySpace(prefix).root
    moved = int(ids[0])
    target = int(np.flatnonzero(lists != lists[0])[0])
    # the list the moved id leaves: its last record moves into the hole, and that
    # record's reverse-index hash is now a string
    leaving = records_in_redis(redis_client, prefix)[int(lists[0])][0]
    tail = int(leaving[-1]) if int(leaving[-1]) // 128 != moved // 128 else int(leaving[-2])
    redis_client.delete(root + b"r" + str(tail // 128).encode())
    redis_client.set(root + b"r" + str(tail // 128).encode(), b"x")
    before = snapshot(redis_client, prefix)
    with pytest.raises(WrongTypeError):
        lsh.index([moved], vectors[target : target + 1])
    with pytest.raises(WrongTypeError):
        lsh.delete([moved])
    assert snapshot(redis_client, prefix) == before


def test_verify_reports_keys_of_another_type_and_repair_removes_them(lsh, redis_client, prefix):
    ids, _, _ = demo()
    root = KeySpace(prefix).root
    chunk = root + b"r" + str(int(ids[0]) // 128).encode()
    lost = sorted(int(i) for i in redis_client.hkeys(chunk))
    redis_client.delete(chunk)
    redis_client.sadd(chunk, "x")
    report = lsh.verify()
    assert report.misplaced_keys == [chunk.decode()]
    assert report.members_without_entry == lost
    repaired = lsh.verify(repair=True)
    assert repaired.misplaced_keys == [chunk.decode()]
    assert lsh.verify().ok
    assert redis_client.type(chunk) == b"hash"


def test_an_id_outside_the_range_is_refused_inside_a_record(lsh, redis_client, prefix):
    ivf = model()
    record = ivf.records(np.array([2**53]), np.zeros((1, ivf.code_bytes), dtype=np.uint8))
    with pytest.raises(BadArgumentError, match="2\\^53"):
        Protocol(redis_client).call(
            "ivf_insert", KeySpace(prefix).root, [ivf.fingerprint, 0, record.tobytes()]
        )


# -- queries ---------------------------------------------------------------------------


def test_each_vector_finds_itself_first(lsh):
    ids, vectors, _ = demo()
    for row in range(0, 5000, 250):
        assert lsh.query(vectors[row], topk=1, topp=1.0)[0][0] == ids[row]


def test_top_k_ranks_the_probed_codes_by_approximate_score(lsh):
    ids, vectors, queries = demo()
    ivf = model()
    lists, codes = ivf.encode(vectors)
    query = ivf.prepare(queries[:1])[0]
    probed = ivf.probe(query)
    mask = np.isin(lists, probed)
    expected = ivf.centroids[lists[mask]] @ query + ivf.pq.decode(codes[mask]) @ query
    order = np.lexsort((ids[mask], -expected))[:10]
    assert lsh.get_top_k(queries[0], topk=10) == ids[mask][order].tolist()


def test_recall_at_10_on_held_out_queries(lsh):
    ids, vectors, queries = demo()
    exact = np.argsort(-(unit(queries) @ unit(vectors).T), axis=1)[:, :10]
    found = [[i for i, _ in lsh.query(q, topk=10, topp=1.0)] for q in queries]
    recall = np.mean(
        [len(set(f) & set(ids[t].tolist())) / 10 for f, t in zip(found, exact, strict=True)]
    )
    assert recall >= 0.9


def test_search_answers_a_batch_like_single_queries(lsh):
    _, _, queries = demo()
    scores, ids = lsh.search(queries[:20], k=10)
    assert scores.shape == ids.shape == (20, 10) and ids.dtype == np.int64
    for row, query in enumerate(queries[:20]):
        single = lsh.query(query, topk=10, topp=1.0)
        assert ids[row].tolist() == [i for i, _ in single]
        assert np.allclose(scores[row], [s for _, s in single], atol=1e-5)
    approx_scores, approx_ids = lsh.search(queries[:3], k=10, rerank=False)
    assert approx_ids[0].tolist() == lsh.get_top_k(queries[0], topk=10)
    assert np.all(np.diff(approx_scores, axis=1) <= 0)


def test_search_pads_rows_with_fewer_results(redis_url, prefix):
    ids, vectors, queries = demo()
    index = open_index(redis_url, prefix)
    index.index(ids[:3], vectors[:3])
    scores, found = index.search(queries[:2], k=5)
    assert (found[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    index.close()


def test_a_query_is_one_command(private_server):  # noqa: F811
    ids, vectors, queries = demo()
    index = open_index(private_server.url, "ivf-rt")
    index.index(ids, vectors)
    assert client_commands(private_server.url, lambda: index.get_top_k(queries[0])) == ["EVALSHA"]
    sent = client_commands(private_server.url, lambda: index.search(queries[:50], k=10))
    assert sent == ["EVALSHA"] * 50  # one pipeline: one round trip
    index.clear()


# -- opening, checking, importing ------------------------------------------------------


def test_from_redis_opens_the_index_without_a_model_file(lsh, redis_url, prefix):
    _, _, queries = demo()
    again = LSHRS.from_redis(prefix, redis_url=redis_url)
    assert again.hasher.fingerprint == lsh.hasher.fingerprint
    assert again.hasher.nprobe == lsh.hasher.nprobe
    assert again.get_top_k(queries[3], topk=10) == lsh.get_top_k(queries[3], topk=10)


def test_a_saved_model_reopens_the_index(lsh, redis_url, tmp_path):
    _, _, queries = demo()
    lsh.save_to_disk(tmp_path / "ivf.lsh")
    again = LSHRS.load_from_disk(tmp_path / "ivf.lsh", redis_url=redis_url)
    assert again.get_top_k(queries[1], topk=10) == lsh.get_top_k(queries[1], topk=10)


def test_verify_reports_and_repairs_broken_lists(lsh, redis_client, prefix):
    root = KeySpace(prefix).root
    stored = records_in_redis(redis_client, prefix)
    _number, (found, _) = next(iter(stored.items()))
    lost = int(found[0])
    redis_client.hdel(root + b"r" + str(lost // 128).encode(), str(lost))
    redis_client.hset(root + b"r0", "7", struct.pack("<II", 0, 10**6))  # a dangling entry
    redis_client.set(root + b"junk", b"x")
    report = lsh.verify()
    assert not report.ok
    assert report.members_without_entry == [lost]
    assert 7 in report.entries_missing_member
    assert report.unknown_keys == [(root + b"junk").decode()]
    repaired = lsh.verify(repair=True)
    assert repaired.members_without_entry == [lost]
    redis_client.delete(root + b"junk")
    after = lsh.verify()
    assert after.ok, after
    assert lsh.query(demo()[1][np.searchsorted(demo()[0], lost)], topk=1, topp=1.0)[0][0] == lost


def test_the_redis_vector_store_beside_the_lists_is_not_an_unknown_key(lsh):
    from lshrs.vector_store import RedisVectorStore

    ids, vectors, _ = demo()
    RedisVectorStore(lsh.storage, 384).put(ids[:50], vectors[:50])
    assert lsh.verify().ok


def test_faiss_ivfpq_loads_with_its_codes_and_answers_as_faiss(redis_url, prefix):
    faiss = pytest.importorskip("faiss")
    ids, vectors, queries = demo()
    index = faiss.IndexIVFPQ(faiss.IndexFlatL2(384), 384, 16, 24, 8)
    index.train(vectors)
    index.add_with_ids(vectors, ids + 1000)
    index.nprobe = 4
    lsh = LSHRS.from_faiss_ivfpq(index, redis_url=redis_url, redis_prefix=prefix)
    assert lsh.stats()["num_indexed"] == ids.size
    distances, expected = index.search(queries[:30], 10)
    scores, found = lsh.search(queries[:30], k=10, rerank=False)
    assert np.allclose(-scores, distances, rtol=1e-4, atol=1e-4)
    same = [set(a) == set(b) for a, b in zip(found.tolist(), expected.tolist(), strict=True)]
    assert all(same)
    lsh.close()


# -- the configuration lshrs picks -----------------------------------------------------


def test_with_a_sample_the_chosen_index_is_ivfpq_calibrated_on_it(redis_url, prefix):
    ids, vectors, _ = demo()
    config = corpus_config(len(ids), sample=vectors)
    assert (config.index, config.nlist, config.code_bytes) == ("ivfpq", 256, 48)
    kwargs = config.index_kwargs(vectors)
    assert isinstance(kwargs["hasher"], IVFPQ)
    assert 1 <= kwargs["hasher"].nprobe <= config.nlist
    assert kwargs["rerank_candidates"] == 200


def test_a_sample_too_small_to_train_is_refused_with_the_size_it_needs():
    _, vectors, _ = demo()
    config = corpus_config(1_000_000, sample=vectors)
    with pytest.raises(ValueError, match=f"at least {config.min_sample()} sample vectors"):
        config.index_kwargs(vectors)
