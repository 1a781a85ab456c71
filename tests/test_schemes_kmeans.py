"""k-means (IVF) buckets on real Redis with the real demo embeddings."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import redis

from lshrs import LSHRS, KMeansHasher
from lshrs.keys import KeySpace
from lshrs.schemes.training import train_kmeans
from tests.helpers import buckets
from tests.learned_helpers import demo, indexed, kmeans_hasher


def unit(rows):
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


@pytest.fixture
def lsh(redis_url, prefix):
    index = indexed(kmeans_hasher(), redis_url, prefix)
    yield index
    index.close()


def test_a_signature_is_the_nearest_centroid_number_big_endian():
    hasher = kmeans_hasher(num_bands=2)
    _, vectors, _ = demo()
    expected = np.stack([(unit(vectors) @ band.T).argmax(axis=1) for band in hasher.centroids], 1)
    signatures = hasher.hash_batch(vectors)
    assert signatures.shape == (5000, 2, 2)
    decoded = signatures[:, :, 0].astype(int) * 256 + signatures[:, :, 1]
    assert np.array_equal(decoded, expected)


def test_bands_are_independent_partitions():
    hasher = kmeans_hasher(num_bands=2)
    assert not np.allclose(hasher.centroids[0], hasher.centroids[1])


def test_trained_centroids_are_unit_length_and_all_lists_are_used():
    hasher = kmeans_hasher()
    _, vectors, _ = demo()
    assert np.allclose(np.linalg.norm(hasher.centroids[0], axis=1), 1.0, atol=1e-5)
    assert np.unique(hasher.labels(vectors)).size == hasher.nlist


def test_lloyd_iterations_lower_the_objective():
    _, vectors, _ = demo()
    objectives = []
    train_kmeans(
        unit(vectors),
        32,
        spherical=True,
        iterations=6,
        backend="numpy",
        progress=lambda i, n, mse: objectives.append(mse),
    )
    assert len(objectives) == 6
    assert objectives[-1] < objectives[0]


def test_buckets_in_redis_are_the_lists(lsh, redis_client, prefix):
    ids, vectors, _ = demo()
    labels = lsh.hasher.labels(vectors)[:, 0]
    stored = buckets(redis_client, prefix)
    expected = {
        b"\x00\x00" + int(label).to_bytes(2, "big"): frozenset(ids[labels == label].tolist())
        for label in np.unique(labels)
    }
    assert stored == expected


def test_a_query_probes_its_nprobe_nearest_lists_own_first():
    hasher = kmeans_hasher()
    _, _, queries = demo()
    codes = hasher.probe_codes(queries[0])
    order = np.argsort(-(hasher.centroids[0] @ unit(queries[0])))[: hasher.nprobe]
    assert codes == [b"\x00\x00" + int(label).to_bytes(2, "big") for label in order]


def test_extra_probes_add_the_next_nearest_lists():
    hasher = kmeans_hasher()
    _, _, queries = demo()
    codes = hasher.probe_codes(queries[1], extra_probes=4)
    order = np.argsort(-(hasher.centroids[0] @ unit(queries[1])))[: hasher.nprobe + 4]
    assert codes == [b"\x00\x00" + int(label).to_bytes(2, "big") for label in order]


def test_several_bands_probe_each_bands_own_list_first():
    hasher = kmeans_hasher(num_bands=2)
    _, _, queries = demo()
    codes = hasher.probe_codes(queries[2])
    own = hasher.hash_batch(queries[2:3])[0]
    assert codes[:2] == [b"\x00\x00" + own[0].tobytes(), b"\x00\x01" + own[1].tobytes()]
    assert len(set(codes)) == 2 * hasher.nprobe


def test_candidates_are_exactly_the_probed_lists(lsh):
    ids, vectors, queries = demo()
    labels = lsh.hasher.labels(vectors)[:, 0]
    codes = lsh.hasher.probe_codes(queries[3])
    probed = [int.from_bytes(code[2:], "big") for code in codes]
    total, found, _ = lsh.storage.query(codes, 5000)
    assert total == found.size
    assert set(found.tolist()) == set(ids[np.isin(labels, probed)].tolist())


def test_top_p_reranks_candidates_to_the_exact_neighbours_inside_them(lsh):
    ids, vectors, queries = demo()
    results = lsh.query(queries[4], topk=5, topp=1.0)
    sims = unit(vectors) @ unit(queries[4])
    _, found, _ = lsh.storage.query(lsh.hasher.probe_codes(queries[4]), 5000)
    inside = np.isin(ids, found)
    best = ids[inside][np.argsort(-sims[inside])[:5]]
    assert [i for i, _ in results] == best.tolist()


def test_nprobe_trades_candidates_for_recall(lsh):
    ids, vectors, queries = demo()
    truth = np.argsort(-(unit(queries[:50]) @ unit(vectors).T), axis=1)[:, :10]
    recall = {}
    for nprobe in (1, 8):
        lsh.hasher.nprobe = nprobe
        hits = 0
        for query, row in zip(queries[:50], truth, strict=True):
            found = {i for i, _ in lsh.query(query, topk=10, topp=1.0)}
            hits += len(found & set(ids[row].tolist()))
        recall[nprobe] = hits / 500
    assert recall[8] > recall[1]
    assert recall[8] >= 0.8


def test_save_and_load_reproduce_the_signatures(lsh, tmp_path, redis_url):
    _, vectors, _ = demo()
    lsh.save_to_disk(tmp_path / "model.lsh")
    again = LSHRS.load_from_disk(tmp_path / "model.lsh", redis_url=redis_url)
    assert isinstance(again.hasher, KMeansHasher)
    assert again.hasher.fingerprint == lsh.hasher.fingerprint
    assert again.hasher.nprobe == lsh.hasher.nprobe
    assert np.array_equal(again.hasher.hash_batch(vectors), lsh.hasher.hash_batch(vectors))
    again.close()


def test_the_redis_model_blob_alone_reproduces_the_signatures(lsh, redis_client, prefix):
    """Decoded as a non-Python client would: fixed header, then float32-le centroids."""
    _, vectors, _ = demo()
    blob = redis_client.get(KeySpace(prefix).model)
    magic, bands, nlist, dim, metric = struct.unpack_from("<8sIIII", blob)
    assert (magic, bands, nlist, dim, metric) == (b"LSHRSKM1", 1, 32, 384, 1)
    centroids = np.frombuffer(blob[24:], dtype="<f4").reshape(bands, nlist, dim)
    labels = (unit(vectors) @ centroids[0].T).argmax(axis=1)
    signatures = [int(label).to_bytes(2, "big") for label in labels]
    assert signatures == [row[0].tobytes() for row in lsh.hasher.hash_batch(vectors)]
    assert KMeansHasher.from_blob(blob).fingerprint == lsh.hasher.fingerprint


def test_config_records_the_scheme(lsh):
    config = lsh.storage.config()
    assert config["scheme"] == "kmeans"
    assert config["nlist"] == "32"
    assert config["sig_bytes"] == "2"
    assert config["fingerprint"] == lsh.hasher.fingerprint


def test_another_training_cannot_attach_to_the_index(lsh, redis_url, prefix):
    other = kmeans_hasher(seed=1)
    with pytest.raises(ValueError, match="was built as 'lshrs/1 kmeans"):
        LSHRS(dim=384, hasher=other, redis_url=redis_url, redis_prefix=prefix)


def test_hyperplanes_cannot_attach_to_a_kmeans_index(lsh, redis_url, prefix):
    with pytest.raises(ValueError, match="kmeans"):
        LSHRS(dim=384, num_bands=4, rows_per_band=8, redis_url=redis_url, redis_prefix=prefix)


def test_nprobe_is_not_part_of_the_fingerprint():
    hasher = kmeans_hasher()
    again = KMeansHasher(hasher.centroids, nprobe=7, metric=hasher.metric)
    assert again.fingerprint == hasher.fingerprint


def test_more_than_65536_lists_use_four_byte_signatures():
    centroids = np.eye(4, dtype=np.float32)
    hasher = KMeansHasher(np.tile(centroids, (16385, 1))[:65537])
    assert hasher.sig_bytes == 4
    assert hasher.hash_batch(np.eye(4, dtype=np.float32)[1:2]).shape == (1, 1, 4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nlist": 0}, "nlist must be between 1"),
        ({"nlist": 6000}, "at least 6000 training vectors"),
        ({"nlist": 8, "num_bands": 0}, "num_bands must be between 1"),
        ({"nlist": 8, "nprobe": 9}, "nprobe must be between 1 and 8"),
        ({"nlist": 8, "backend": "torch"}, "backend must be one of"),
        ({"nlist": 8, "iterations": 0}, "iterations must be between 1"),
    ],
)
def test_bad_training_arguments_are_rejected(kwargs, message):
    _, vectors, _ = demo()
    with pytest.raises(ValueError, match=message):
        KMeansHasher.fit(vectors[:5000], **{"backend": "numpy", **kwargs})


def test_bad_training_vectors_are_rejected():
    _, vectors, _ = demo()
    broken = vectors[:100].copy()
    broken[7, 3] = np.nan
    with pytest.raises(ValueError, match="row 7 contains NaN"):
        KMeansHasher.fit(broken, nlist=4, backend="numpy")
    with pytest.raises(ValueError, match=r"shape \(n, dim\)"):
        KMeansHasher.fit(vectors[0], nlist=4, backend="numpy")


def test_bad_centroids_and_blobs_are_rejected():
    with pytest.raises(ValueError, match="centroids must have shape"):
        KMeansHasher(np.ones(5))
    with pytest.raises(ValueError, match="NaN or inf"):
        KMeansHasher(np.full((2, 3), np.inf))
    with pytest.raises(ValueError, match="metric must be one of"):
        KMeansHasher(np.eye(3), metric="cosine")
    with pytest.raises(ValueError, match="magic LSHRSKM1"):
        KMeansHasher.from_blob(b"LSHRSRQ1" + bytes(40))
    with pytest.raises(ValueError, match="truncated"):
        KMeansHasher.from_blob(kmeans_hasher().model_blob()[:-4])


def test_a_hasher_for_another_dim_is_rejected(redis_url, prefix):
    with pytest.raises(ValueError, match="hasher is for dim=384"):
        LSHRS(dim=128, hasher=kmeans_hasher(), redis_url=redis_url, redis_prefix=prefix)


def test_redis_errors_propagate_unchanged():
    with pytest.raises(redis.ConnectionError):
        LSHRS(dim=384, hasher=kmeans_hasher(), redis_url="redis://127.0.0.1:1/0")


def test_a_query_with_many_probes_is_one_command():
    """Counted with MONITOR on a private server, as in test_round_trips."""
    from tests.fixtures.redis_server import RedisProcess, server_binaries
    from tests.properties.test_round_trips import client_commands

    binaries = server_binaries()
    if not binaries:
        pytest.skip("needs a redis-server binary to watch commands on a private server")
    server = RedisProcess(next(iter(binaries.values()))).start()
    try:
        ids, vectors, queries = demo()
        hasher = KMeansHasher(kmeans_hasher(num_bands=2).centroids, nprobe=8)
        lsh = LSHRS(dim=384, hasher=hasher, redis_url=server.url, redis_prefix="rt-kmeans")
        lsh.index(ids, vectors)
        sent = client_commands(server.url, lambda: lsh.query(queries[0], topk=10))
        assert sent == ["EVALSHA"]
        lsh.close()
    finally:
        server.stop()
