"""RQ-KMeans buckets (code prefixes) on real Redis with the real demo embeddings."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from lshrs import LSHRS, RQHasher
from lshrs.keys import KeySpace
from tests.helpers import buckets
from tests.learned_helpers import demo, indexed, rq_hasher


def unit(rows):
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def greedy_codes(books, vectors):
    residual = unit(vectors)
    codes = []
    for book in books:
        distances = ((residual[:, None, :] - book[None]) ** 2).sum(-1)
        code = distances.argmin(axis=1)
        codes.append(code)
        residual = residual - book[code]
    return np.stack(codes, axis=1)


@pytest.fixture
def lsh(redis_url, prefix):
    index = indexed(rq_hasher(), redis_url, prefix)
    yield index
    index.close()


def test_codes_are_greedy_residual_quantization():
    hasher = rq_hasher()
    _, vectors, _ = demo()
    assert np.array_equal(
        hasher.encode(vectors[:300]), greedy_codes(hasher.codebooks, vectors[:300])
    )


def test_a_signature_is_the_code_prefix_at_depth_big_endian():
    hasher = rq_hasher()
    _, vectors, _ = demo()
    codes = hasher.encode(vectors)
    signatures = hasher.hash_batch(vectors)
    assert signatures.shape == (5000, 1, 4)
    assert np.array_equal(signatures[:, 0, 1], codes[:, 0])
    assert np.array_equal(signatures[:, 0, 3], codes[:, 1])
    assert not signatures[:, 0, [0, 2]].any()


def test_code_paths_join_every_level():
    hasher = rq_hasher()
    _, vectors, _ = demo()
    codes = hasher.encode(vectors[:3])
    assert hasher.code_paths(vectors[:3]) == ["-".join(map(str, row)) for row in codes.tolist()]


def test_buckets_in_redis_are_the_prefixes(lsh, redis_client, prefix):
    ids, vectors, _ = demo()
    codes = lsh.hasher.encode(vectors)[:, :2]
    expected = {}
    for first, second in {tuple(row) for row in codes.tolist()}:
        members = ids[(codes[:, 0] == first) & (codes[:, 1] == second)]
        expected[bytes([0, 0, 0, first, 0, second])] = frozenset(members.tolist())
    assert buckets(redis_client, prefix) == expected


def test_a_wide_beam_probes_the_nearest_prefixes_own_first():
    hasher = RQHasher(rq_hasher().codebooks, depth=2, beam=16)
    _, _, queries = demo()
    query = unit(queries[5])
    first, second = hasher.codebooks[0], hasher.codebooks[1]
    reconstructions = first[:, None, :] + second[None, :, :]
    distances = ((query - reconstructions) ** 2).sum(-1).ravel()
    nearest = [divmod(int(flat), 16) for flat in np.argsort(distances, kind="stable")]
    codes = hasher.probe_codes(queries[5])
    probed = [(code[3], code[5]) for code in codes]
    own = tuple(hasher.encode(queries[5:6])[0, :2].tolist())
    assert probed[0] == own
    assert probed[1:] == [pair for pair in nearest if pair != own][: len(probed) - 1]
    assert len(codes) == 16


def test_extra_probes_widen_the_beam():
    hasher = rq_hasher()
    _, _, queries = demo()
    assert len(hasher.probe_codes(queries[0], extra_probes=6)) == hasher.beam + 6


def test_candidates_are_the_probed_prefixes(lsh):
    ids, vectors, queries = demo()
    codes = lsh.hasher.probe_codes(queries[7])
    prefixes = lsh.hasher.encode(vectors)[:, :2]
    wanted = {(code[3], code[5]) for code in codes}
    inside = np.array([tuple(row) in wanted for row in prefixes.tolist()])
    total, found, _ = lsh.storage.query(codes, 5000)
    assert total == inside.sum()
    assert set(found.tolist()) == set(ids[inside].tolist())


def test_save_and_load_reproduce_the_signatures(lsh, tmp_path, redis_url):
    _, vectors, _ = demo()
    lsh.save_to_disk(tmp_path / "model.lsh")
    again = LSHRS.load_from_disk(tmp_path / "model.lsh", redis_url=redis_url)
    assert isinstance(again.hasher, RQHasher)
    assert (again.hasher.fingerprint, again.hasher.beam) == (lsh.hasher.fingerprint, 4)
    assert np.array_equal(again.hasher.hash_batch(vectors), lsh.hasher.hash_batch(vectors))
    again.close()


def test_the_redis_model_blob_alone_reproduces_the_codes(lsh, redis_client, prefix):
    """Decoded as a non-Python client would: header, sizes, float32-le codebooks."""
    _, vectors, _ = demo()
    blob = redis_client.get(KeySpace(prefix).model)
    magic, levels, dim, depth = struct.unpack_from("<8sIII", blob)
    assert (magic, levels, dim, depth) == (b"LSHRSRQ1", 3, 384, 2)
    sizes = struct.unpack_from(f"<{levels}I", blob, 20)
    offset, books = 20 + 4 * levels, []
    for size in sizes:
        books.append(np.frombuffer(blob, "<f4", size * dim, offset).reshape(size, dim))
        offset += 4 * size * dim
    assert offset == len(blob)
    assert np.array_equal(greedy_codes(books, vectors[:200]), lsh.hasher.encode(vectors[:200]))
    assert RQHasher.from_blob(blob).fingerprint == lsh.hasher.fingerprint


def test_another_depth_cannot_attach_to_the_index(lsh, redis_url, prefix):
    deeper = RQHasher(rq_hasher().codebooks, depth=3)
    with pytest.raises(ValueError, match="was built as 'lshrs/1 rq"):
        LSHRS(dim=384, hasher=deeper, redis_url=redis_url, redis_prefix=prefix)


def test_the_beam_is_not_part_of_the_fingerprint():
    assert RQHasher(rq_hasher().codebooks, depth=2, beam=9).fingerprint == rq_hasher().fingerprint


def test_rerank_finds_an_indexed_vector_first(lsh):
    ids, vectors, _ = demo()
    assert lsh.query(vectors[123], topk=1, topp=1.0)[0][0] == ids[123]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"codebook_sizes": ()}, "at least one level"),
        ({"codebook_sizes": (8, 0)}, "codebook size must be between 1"),
        ({"codebook_sizes": (8, 70000)}, "codebook size must be between 1 and 65536"),
        ({"codebook_sizes": (8, 8), "depth": 3}, "depth must be between 1 and 2"),
        ({"codebook_sizes": (8000,), "depth": 1}, "at least 8000 training vectors"),
        ({"codebook_sizes": (8,), "depth": 1, "beam": 0}, "beam must be between 1"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    _, vectors, _ = demo()
    with pytest.raises(ValueError, match=message):
        RQHasher.fit(vectors, **{"backend": "numpy", "iterations": 1, **kwargs})


def test_bad_codebooks_and_blobs_are_rejected():
    with pytest.raises(ValueError, match="non-empty list"):
        RQHasher([], depth=1)
    with pytest.raises(ValueError, match="differ in dim"):
        RQHasher([np.ones((2, 3)), np.ones((2, 4))], depth=1)
    with pytest.raises(ValueError, match="magic LSHRSRQ1"):
        RQHasher.from_blob(b"LSHRSKM1" + bytes(40))
    with pytest.raises(ValueError, match="truncated"):
        RQHasher.from_blob(rq_hasher().model_blob()[:-4])
