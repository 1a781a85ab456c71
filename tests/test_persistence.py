"""Opening an index again: from Redis alone (every scheme), and from a model file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lshrs import LSHRS, KMeansHasher, LSHHasher, RQHasher

DIM = 8


def sample(rows: int = 400) -> np.ndarray:
    return np.random.default_rng(3).standard_normal((rows, DIM)).astype(np.float32)


def schemes():
    data = sample()
    return {
        "hyperplane": LSHHasher(4, 6, DIM, seed=5),
        "centred hyperplane": LSHHasher(4, 6, DIM, seed=5, center=data.mean(axis=0)),
        "kmeans": KMeansHasher.fit(data, nlist=8, iterations=3, backend="numpy"),
        "rq": RQHasher.fit(data, codebook_sizes=(4, 4), depth=2, iterations=3, backend="numpy"),
    }


@pytest.mark.parametrize("name", list(schemes()))
def test_from_redis_opens_every_scheme_without_a_model_file(name, redis_url, prefix):
    hasher = schemes()[name]
    data = sample()
    lsh = LSHRS(DIM, hasher=hasher, redis_url=redis_url, redis_prefix=prefix)
    lsh.index(np.arange(len(data)), data)

    again = LSHRS.from_redis(prefix, redis_url=redis_url)

    assert again.hasher.scheme == hasher.scheme
    assert again.stats()["fingerprint"] == lsh.stats()["fingerprint"]
    assert again.stats()["num_indexed"] == len(data)
    assert 7 in again.get_top_k(data[7], topk=len(data))


def test_a_saved_model_holds_no_connection_settings(redis_url, prefix, tmp_path):
    lsh = LSHRS(DIM, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    lsh.save_to_disk(tmp_path / "model.lsh")

    saved = json.loads((tmp_path / "model.lsh").read_text())

    assert not {"redis_host", "redis_port", "redis_db", "redis_password"} & saved.keys()
    assert saved["redis_prefix"] == prefix


def test_a_model_file_with_connection_settings_still_loads(redis_url, prefix, tmp_path):
    lsh = LSHRS(DIM, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    lsh.save_to_disk(tmp_path / "model.lsh")
    old = json.loads((tmp_path / "model.lsh").read_text())
    old.update(redis_host="localhost", redis_port=6379, redis_db=0)
    (tmp_path / "old.lsh").write_text(json.dumps(old))

    again = LSHRS.load_from_disk(tmp_path / "old.lsh", redis_url=redis_url)

    assert again.stats()["fingerprint"] == lsh.stats()["fingerprint"]
