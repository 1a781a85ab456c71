import numpy as np
import pytest

from lshrs import HashSignatures, LSHHasher
from lshrs.schemes.hyperplane import plane_bits


def test_planes_are_regenerated_exactly_from_dim_and_seed():
    a = LSHHasher(num_bands=8, rows_per_band=12, dim=384, seed=7)
    b = LSHHasher(num_bands=8, rows_per_band=12, dim=384, seed=7)
    np.testing.assert_array_equal(a.planes, b.planes)
    assert not np.array_equal(a.planes, LSHHasher(8, 12, 384, seed=8).planes)


def test_planes_come_from_numpys_frozen_legacy_stream():
    # RandomState's stream is frozen by NumPy's compatibility policy; pin it so a
    # change of generator (which would orphan every saved index) cannot slip in.
    planes = LSHHasher(num_bands=1, rows_per_band=2, dim=3, seed=42).planes
    expected = np.random.RandomState(42).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(planes, expected)
    assert planes[0, 0] == pytest.approx(0.4967141530)


def test_hash_batch_packs_sign_bits_per_band_most_significant_first():
    hasher = LSHHasher(num_bands=3, rows_per_band=10, dim=16, seed=1)
    vectors = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
    signatures = hasher.hash_batch(vectors)
    assert signatures.shape == (5, 3, 2) and signatures.dtype == np.uint8
    bits = (vectors @ hasher.planes.T > 0).reshape(5, 3, 10)
    for row in range(5):
        for band in range(3):
            value = int.from_bytes(signatures[row, band].tobytes(), "big") >> 6
            expected = int("".join("1" if b else "0" for b in bits[row, band]), 2)
            assert value == expected


def test_hash_vector_matches_the_batch_path():
    hasher = LSHHasher(num_bands=4, rows_per_band=8, dim=6, seed=3)
    vector = np.arange(1, 7, dtype=np.float32)
    signatures = hasher.hash_vector(vector)
    assert isinstance(signatures, HashSignatures)
    assert signatures.bands == [b.tobytes() for b in hasher.hash_batch(vector[None])[0]]


def test_bit_collision_rate_follows_the_angle():
    rng = np.random.default_rng(5)
    hasher = LSHHasher(num_bands=64, rows_per_band=64, dim=32, seed=11)
    x = rng.standard_normal(32)
    y = rng.standard_normal(32)
    y = 0.6 * x / np.linalg.norm(x) + 0.8 * y / np.linalg.norm(y)
    cosine = x @ y / np.linalg.norm(x) / np.linalg.norm(y)
    bx = hasher.project(x[None].astype(np.float32)) > 0
    by = hasher.project(y[None].astype(np.float32)) > 0
    agree = (bx == by).mean()
    assert agree == pytest.approx(1 - np.arccos(cosine) / np.pi, abs=0.03)


def test_probe_codes_start_with_the_own_bucket_of_every_band():
    hasher = LSHHasher(num_bands=5, rows_per_band=6, dim=8, seed=2)
    vector = np.random.default_rng(1).standard_normal(8).astype(np.float32)
    own = hasher.hash_batch(vector[None])[0]
    codes = hasher.probe_codes(vector, extra_probes=7)
    assert len(codes) == 12 and len(set(codes)) == 12
    for band in range(5):
        assert codes[band] == band.to_bytes(2, "big") + own[band].tobytes()


def test_first_extra_probe_flips_the_least_confident_bit():
    hasher = LSHHasher(num_bands=3, rows_per_band=8, dim=10, seed=4)
    vector = np.random.default_rng(2).standard_normal(10).astype(np.float32)
    projection = hasher.project(vector[None])[0]
    weakest = int(np.argmin(np.abs(projection)))
    band, bit = divmod(weakest, 8)
    bits = projection.reshape(3, 8) > 0
    bits[band, bit] = ~bits[band, bit]
    expected = band.to_bytes(2, "big") + np.packbits(bits[band]).tobytes()
    assert hasher.probe_codes(vector, extra_probes=1)[3] == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_bands": 0}, "num_bands"),
        ({"rows_per_band": 65}, "rows_per_band"),
        ({"dim": 0}, "dim"),
        ({"seed": -1}, "seed"),
        ({"num_bands": 2.5}, "num_bands"),
    ],
)
def test_bad_hasher_arguments_are_rejected(kwargs, message):
    args = {"num_bands": 2, "rows_per_band": 4, "dim": 3, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        LSHHasher(**args)


def test_the_sign_rule_sets_a_bit_for_positive_projections_only():
    projection = np.array([-2.0, -0.0, 0.0, 1e-38, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(plane_bits(projection), [False, False, False, True, True])


def on_every_plane():
    """A hasher and a vector at its centre: every projection is exactly zero (one
    nonzero coordinate, a power of two, so every product and sum is exact)."""
    center = np.zeros(8, dtype=np.float32)
    center[3] = 4.0
    hasher = LSHHasher(num_bands=6, rows_per_band=5, dim=8, seed=9, center=center)
    return hasher, center.copy()


def test_a_vector_on_the_planes_projects_to_exactly_zero():
    hasher, vector = on_every_plane()
    assert not hasher.project(vector[None]).any()
    batch = np.vstack([np.ones(8, dtype=np.float32), vector])
    assert not hasher.project(batch)[1].any()


def test_hashing_and_probing_agree_on_a_vector_on_the_planes():
    hasher, vector = on_every_plane()
    own = hasher.hash_batch(vector[None])[0]
    assert not own.any()  # a zero projection is bit 0
    codes = hasher.probe_codes(vector, extra_probes=4)
    assert codes[:6] == [band.to_bytes(2, "big") + own[band].tobytes() for band in range(6)]
    first_flip = np.packbits([True, False, False, False, False]).tobytes()
    assert codes[6] == (0).to_bytes(2, "big") + first_flip  # ties: band 0, lowest bit
