"""An index describes itself in Redis: query settings, and a self-check of its codes."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lshrs import LSHRS, KMeansHasher, LSHHasher
from lshrs.describe import check_codes, check_vector
from lshrs.keys import KeySpace
from tests.learned_helpers import demo

ROOT = Path(__file__).resolve().parents[1]
DIM = 8


def data(rows: int = 400) -> np.ndarray:
    return np.random.default_rng(3).standard_normal((rows, DIM)).astype(np.float32)


def test_query_settings_are_stored_and_opening_from_redis_uses_them(redis_url, prefix):
    hasher = KMeansHasher.fit(data(), nlist=8, nprobe=3, iterations=3, backend="numpy")
    LSHRS(
        DIM,
        hasher=hasher,
        redis_url=redis_url,
        redis_prefix=prefix,
        extra_probes=2,
        rerank_candidates=321,
    )
    again = LSHRS.from_redis(prefix, redis_url=redis_url)
    assert (again.extra_probes, again.rerank_candidates, again.hasher.nprobe) == (2, 321, 3)
    assert LSHRS.from_redis(prefix, redis_url=redis_url, extra_probes=5).extra_probes == 5


def test_other_query_settings_are_not_a_configuration_mismatch(redis_url, prefix):
    LSHRS(DIM, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    other = LSHRS(
        DIM,
        num_bands=4,
        rows_per_band=4,
        redis_url=redis_url,
        redis_prefix=prefix,
        extra_probes=9,
        rerank_candidates=50,
    )
    assert other.verify().ok


def test_the_self_check_is_stored_and_matches_the_scheme(redis_url, prefix, redis_client):
    hasher = LSHHasher(4, 6, DIM, seed=5, center=data().mean(axis=0))
    LSHRS(DIM, hasher=hasher, redis_url=redis_url, redis_prefix=prefix)
    cfg = redis_client.hgetall(KeySpace(prefix).config)
    vector = np.frombuffer(base64.b64decode(cfg[b"check_vector"]), dtype="<f4")
    assert np.array_equal(vector, check_vector(DIM))
    assert cfg[b"check_codes"].decode() == check_codes(hasher, vector.astype(np.float32))


def test_opening_refuses_a_model_that_computes_other_codes(redis_url, prefix, redis_client):
    LSHRS(DIM, num_bands=4, rows_per_band=6, redis_url=redis_url, redis_prefix=prefix)
    redis_client.hset(KeySpace(prefix).config, "check_codes", "00" * 4)
    with pytest.raises(ValueError, match="self-check"):
        LSHRS.from_redis(prefix, redis_url=redis_url)
    same = LSHRS(DIM, num_bands=4, rows_per_band=6, redis_url=redis_url, redis_prefix=prefix)
    assert same.verify().config_mismatch == ["check_codes"]


@pytest.mark.parametrize("kind", ["hyperplane", "ivfpq"])
def test_verify_finds_and_repairs_ids_a_wrong_client_wrote(kind, redis_url, prefix):
    from lshrs.schemes import IVFPQ

    ids, vectors, _ = demo()
    fetch = lambda wanted: vectors[np.searchsorted(ids, wanted)]  # noqa: E731
    if kind == "hyperplane":
        right = LSHHasher(8, 6, 384, seed=1)
        wrong = LSHHasher(8, 6, 384, seed=2)
    else:
        right = IVFPQ.fit(vectors, nlist=16, m=24, nprobe=4, iterations=3, backend="numpy")
        wrong = IVFPQ(right.centroids[::-1].copy(), right.pq, nprobe=4)
    lsh = LSHRS(384, hasher=right, redis_url=redis_url, redis_prefix=prefix, vector_fetch_fn=fetch)
    lsh.index(ids[:300], vectors[:300])
    # A client with another model, presenting this index's fingerprint.
    wrong_calls = lsh._kind.__class__(lsh.storage, wrong)
    if kind == "hyperplane":
        lsh.storage.insert_many(ids[:20], wrong.hash_batch(vectors[:20]))
    else:
        wrong.__dict__["_digest"] = right._digest  # same fingerprint, other centroids
        wrong_calls.insert(wrong_calls.insert_calls(ids[:20], vectors[:20]))
    assert lsh.verify().ok  # consistent, yet wrong
    report = lsh.verify(check_vectors=True)
    assert not report.ok
    assert set(report.wrong_codes) <= set(ids[:20].tolist()) and len(report.wrong_codes) >= 10
    lsh.verify(repair=True, check_vectors=True)
    assert lsh.verify(check_vectors=True).ok


def test_check_vectors_needs_vectors(redis_url, prefix):
    lsh = LSHRS(DIM, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    lsh.index([1], data(1))
    with pytest.raises(RuntimeError, match="vector_fetch_fn"):
        lsh.verify(check_vectors=True)


def test_a_verify_report_prints_whether_it_is_ok():
    from lshrs.verify import VerifyReport

    assert repr(VerifyReport()).startswith("VerifyReport(ok=True,")
    assert "ok=False" in str(VerifyReport(wrong_codes=[3]))


def test_the_conformance_vectors_are_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "conformance.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
