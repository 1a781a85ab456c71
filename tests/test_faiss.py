"""LSHRS.from_faiss: the coarse quantizer of a trained FAISS IVF index as buckets.

Runs only when faiss is installed (``pip install 'lshrs[faiss]'``).
"""

from __future__ import annotations

import numpy as np
import pytest

from lshrs import LSHRS
from lshrs.schemes.kmeans import KMeansHasher
from tests.learned_helpers import demo

faiss = pytest.importorskip("faiss")


def unit(rows):
    return np.ascontiguousarray(rows / np.linalg.norm(rows, axis=1, keepdims=True))


def trained(kind: str, metric: int):
    _, vectors, _ = demo()
    quantizer = (
        faiss.IndexFlatIP(384) if metric == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(384)
    )
    if kind == "flat":
        index = faiss.IndexIVFFlat(quantizer, 384, 32, metric)
    else:
        index = faiss.IndexIVFPQ(quantizer, 384, 32, 8, 6, metric)
    index.cp.niter = 5
    index.train(unit(vectors))
    index.nprobe = 4
    return index, quantizer


@pytest.mark.parametrize("kind", ["flat", "pq"])
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_signatures_are_the_faiss_list_numbers(kind, metric):
    _, vectors, _ = demo()
    code = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    index, quantizer = trained(kind, code)
    hasher = KMeansHasher.from_faiss(index)
    _, lists = quantizer.search(unit(vectors), 1)
    assert hasher.metric == metric
    assert hasher.nprobe == 4
    assert np.array_equal(hasher.labels(vectors)[:, 0], lists[:, 0])


def test_probes_are_the_lists_faiss_would_scan():
    _, _, queries = demo()
    index, quantizer = trained("flat", faiss.METRIC_L2)
    hasher = KMeansHasher.from_faiss(index, nprobe=6)
    _, lists = quantizer.search(unit(queries[:20]), 6)
    for query, expected in zip(queries[:20], lists, strict=True):
        probed = [int.from_bytes(code[2:], "big") for code in hasher.probe_codes(query)]
        assert probed == expected.tolist()


def test_lshrs_from_faiss_finds_what_faiss_finds(redis_url, prefix):
    ids, vectors, queries = demo()
    index, _ = trained("flat", faiss.METRIC_L2)
    index.add_with_ids(unit(vectors), ids)
    lsh = LSHRS.from_faiss(
        index,
        redis_url=redis_url,
        redis_prefix=prefix,
        vector_fetch_fn=lambda wanted: vectors[np.searchsorted(ids, wanted)],
        rerank_candidates=5000,
    )
    lsh.index(ids, vectors)
    _, expected = index.search(unit(queries[:10]), 5)
    for query, row in zip(queries[:10], expected, strict=True):
        assert [i for i, _ in lsh.query(query, topk=5, topp=1.0)] == row.tolist()
    lsh.close()


def test_an_untrained_or_non_ivf_index_is_rejected():
    untrained = faiss.IndexIVFFlat(faiss.IndexFlatL2(8), 8, 4)
    with pytest.raises(ValueError, match="not trained"):
        KMeansHasher.from_faiss(untrained)
    with pytest.raises(ValueError, match="expected a FAISS IVF index"):
        KMeansHasher.from_faiss(faiss.IndexFlatL2(8))
