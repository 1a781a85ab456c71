"""Centred hyperplanes and the corpus-sized configuration."""

import numpy as np
import pytest

from lshrs import LSHRS, LSHHasher, corpus_config
from lshrs.config.corpus import MAX_EXTRA_ROWS, bucket_reads


def shifted_vectors(n: int = 400, dim: int = 16) -> np.ndarray:
    """Vectors sharing one strong common direction, as real embeddings do."""
    rng = np.random.default_rng(3)
    return (rng.standard_normal((n, dim)) + 6.0).astype(np.float32)


def test_centring_subtracts_the_center_before_the_sign():
    vectors = shifted_vectors()
    center = vectors.mean(axis=0)
    hasher = LSHHasher(4, 8, 16, seed=1, center=center)
    expected = (vectors - center) @ hasher.planes.T > 0
    np.testing.assert_array_equal(hasher.project(vectors) > 0, expected)


def test_centring_balances_buckets_of_shifted_vectors():
    vectors = shifted_vectors()
    plain = LSHHasher(1, 6, 16, seed=1).hash_batch(vectors)
    centred = LSHHasher(1, 6, 16, seed=1, center=vectors.mean(axis=0)).hash_batch(vectors)
    largest = [np.unique(s[:, 0, 0], return_counts=True)[1].max() for s in (plain, centred)]
    assert largest[1] < largest[0] / 2


def test_the_center_is_part_of_the_configuration():
    center = np.full(16, 0.5, dtype=np.float32)
    plain = LSHHasher(4, 8, 16, seed=1)
    centred = LSHHasher(4, 8, 16, seed=1, center=center)
    assert plain.fingerprint == "lshrs/1 hyperplane dim=16 bands=4 rows=8 seed=1"
    assert centred.fingerprint.startswith(plain.fingerprint + " center=")
    assert centred.fingerprint != LSHHasher(4, 8, 16, seed=1, center=center * 2).fingerprint
    assert centred.model_blob() == plain.model_blob() + center.astype("<f4").tobytes()
    assert "center" in centred.config_fields() and "center" not in plain.config_fields()


def test_a_center_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"center must be a finite vector of shape \(16,\)"):
        LSHHasher(4, 8, 16, center=np.zeros(15))


def test_a_centred_index_saves_and_loads_its_center(redis_url, prefix, tmp_path):
    vectors = shifted_vectors()
    kwargs = corpus_config(vectors.shape[0], num_bands=8).index_kwargs(vectors, seed=5)
    lsh = LSHRS(16, redis_url=redis_url, redis_prefix=prefix, **kwargs)
    lsh.index(np.arange(vectors.shape[0]), vectors)
    lsh.save_to_disk(tmp_path / "model.lsh")
    again = LSHRS.load_from_disk(tmp_path / "model.lsh", redis_url=redis_url)
    assert again.hasher.fingerprint == lsh.hasher.fingerprint
    assert again.get_top_k(vectors[7], topk=1) == [7]
    lsh.close()
    again.close()


def test_rows_grow_with_log2_of_the_expected_size():
    assert corpus_config(59_504).rows_per_band == 10
    assert corpus_config(1_000_000).rows_per_band == 14
    assert corpus_config(6_400_000).rows_per_band == 17
    assert corpus_config(10).rows_per_band == 4


def test_rerank_depth_follows_the_corpus_within_bounds():
    assert corpus_config(59_504).rerank_candidates == 2381
    assert corpus_config(1_000).rerank_candidates == 100
    assert corpus_config(10_000_000).rerank_candidates == 3000
    assert corpus_config(10_000_000, max_rerank=500).rerank_candidates == 500


def test_probes_default_to_three_per_band():
    config = corpus_config(100_000, num_bands=24)
    assert (config.num_bands, config.extra_probes) == (24, 72)


@pytest.mark.parametrize(
    "args",
    [{"expected_size": 0}, {"num_bands": 0}, {"rerank_fraction": 0.0}, {"max_rerank": True}],
)
def test_bad_arguments_are_refused(args):
    with pytest.raises(ValueError, match="must be"):
        corpus_config(**{"expected_size": 1000, **args})


def clustered_vectors(n: int, dim: int = 32, clusters: int = 8) -> np.ndarray:
    """Tight clusters of very different sizes around a common direction."""
    rng = np.random.default_rng(11)
    sizes = rng.multinomial(n, 2.0 ** -np.arange(1, clusters + 1) / (1 - 2.0**-clusters))
    centres = rng.standard_normal((clusters, dim)) * 3.0
    points = [c + rng.standard_normal((k, dim)) for c, k in zip(centres, sizes, strict=True)]
    return (np.concatenate(points) + 5.0).astype(np.float32)


def test_bucket_reads_predict_the_ids_a_query_reads_from_its_bucket():
    vectors = clustered_vectors(3000)
    center = vectors.mean(axis=0)
    hasher = LSHHasher(512, 6, vectors.shape[1], seed=2, center=center)
    signatures = hasher.hash_batch(vectors)[:, :, 0].astype(np.int64)
    # Measured: for each vector, the other vectors sharing its bucket, over 512 bands
    # (one band's count swings by 15% with its six hyperplanes).
    same = [np.unique(band, return_counts=True, return_inverse=True) for band in signatures.T]
    measured = np.mean([(counts[inverse] - 1).mean() for _, inverse, counts in same])
    predicted = bucket_reads(vectors, vectors.shape[0] - 1, range(6, 7))[6]
    assert predicted == pytest.approx(measured, rel=0.1)
    assert predicted > 2 * vectors.shape[0] / 2**6  # clustered: far above the average bucket


def test_a_spread_sample_keeps_the_rows_of_the_expected_size():
    spread = np.random.default_rng(0).standard_normal((1000, 384))
    for size in (59_504, 1_000_000, 6_400_000):
        assert corpus_config(size, sample=spread, index="hyperplane") == corpus_config(size)


def test_a_clustered_sample_adds_rows_within_the_bound():
    vectors = clustered_vectors(2000)
    spread_rows = corpus_config(1_000_000).rows_per_band
    rows = corpus_config(1_000_000, sample=vectors, index="hyperplane").rows_per_band
    assert spread_rows < rows <= spread_rows + MAX_EXTRA_ROWS
    reads = bucket_reads(vectors, 1_000_000, range(spread_rows, rows + 1))
    assert reads[rows] < reads[spread_rows] / 2


@pytest.mark.parametrize("sample", [np.ones((1, 8)), np.full((5, 8), np.nan), np.zeros((0, 8))])
def test_a_bad_sample_is_refused(sample):
    with pytest.raises(ValueError, match="sample"):
        corpus_config(1000, sample=sample)
