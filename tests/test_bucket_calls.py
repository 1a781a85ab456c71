"""Queries count collisions in the client from lua/gather.lua's reply (the result
must equal lua/query.lua's, which counts inside Redis); inserts use the grouped or
the "*" form of lua/insert.lua (both must write the same index)."""

import numpy as np
import pytest

from lshrs import LSHRS
from lshrs.keys import KeySpace
from lshrs.storage import count_collisions, encode_insert
from tests.helpers import snapshot


def test_counting_orders_by_count_then_smaller_id():
    total, ids, counts = count_collisions(b"9 4 12 12 4 4 7 12", 3)
    assert total == 4
    assert ids.tolist() == [4, 12, 7]
    assert counts.tolist() == [3, 3, 1]


def test_counting_with_limit_zero_gives_only_the_total():
    total, ids, counts = count_collisions("1 2 2", 0)
    assert (total, ids.size, counts.size) == (2, 0, 0)


def test_counting_no_members():
    total, ids, _ = count_collisions(b"", 5)
    assert (total, ids.size) == (0, 0)


@pytest.mark.parametrize("extra_probes,limit", [(0, 10), (12, 10), (12, 50), (40, 1000)])
def test_client_counting_equals_the_counting_script(redis_url, prefix, extra_probes, limit):
    rng = np.random.default_rng(extra_probes + limit)
    data = rng.standard_normal((600, 12)).astype(np.float32)
    lsh = LSHRS(12, num_bands=6, rows_per_band=3, redis_url=redis_url, redis_prefix=prefix)
    lsh.index(np.arange(600), data)
    storage = lsh.storage
    for query in data[:20]:
        codes = lsh.hasher.probe_codes(query, extra_probes)
        total, ids, counts = storage.query(codes, limit)
        expected = storage._run(storage.scripts.query, [storage.fingerprint, limit, *codes])
        assert total == expected[0]
        assert ids.tolist() == expected[1]
        assert counts.tolist() == expected[2]
    lsh.close()


def test_gather_checks_the_fingerprint(redis_url, prefix):
    lsh = LSHRS(4, num_bands=2, rows_per_band=2, redis_url=redis_url, redis_prefix=prefix)
    lsh.index([1], np.ones((1, 4)))
    with pytest.raises(ValueError, match="was built as"):
        lsh.storage._run(lsh.storage.scripts.gather, ["another fingerprint", b"\x00\x00\x00"])
    lsh.close()


def test_grouped_and_star_inserts_write_the_same_index(redis_url, prefix, redis_client):
    ids = np.arange(300, dtype=np.int64)
    sigs = np.random.default_rng(4).integers(0, 4, (300, 3, 1), dtype=np.uint8) << 6
    contents = []
    for form in ("grouped", "star"):
        name = f"{prefix}-{form}"
        lsh = LSHRS(4, num_bands=3, rows_per_band=2, redis_url=redis_url, redis_prefix=name)
        args = encode_insert(lsh.storage.fingerprint, ids, sigs)
        assert args[-1] != "*"  # four buckets per band: the encoder groups
        if form == "star":
            args = [*args[: 2 + 2 * ids.size], "*"]
        lsh.storage.scripts.insert(keys=[lsh.storage.keys.root], args=args)
        root = KeySpace(name).root
        contents.append(
            {key[len(root) :]: value for key, value in snapshot(redis_client, name).items()}
        )
        lsh.clear()
        lsh.close()
    assert contents[0] == contents[1]
    assert len(contents[0]) > 3 * 4


def test_calls_whose_ids_rarely_share_a_bucket_use_the_star_form():
    ids = np.arange(100, dtype=np.int64)
    sigs = np.random.default_rng(5).integers(0, 256, (100, 3, 2), dtype=np.uint8)
    args = encode_insert("fp", ids, sigs)
    assert args[-1] == "*" and len(args) == 2 + 2 * 100 + 1
