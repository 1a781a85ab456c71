"""Shared by the learned-scheme tests: the real demo embeddings, small trainings."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq

from lshrs import LSHRS
from lshrs.schemes import SignatureScheme
from lshrs.schemes.kmeans import KMeansHasher
from lshrs.schemes.rq import RQHasher

DATA = Path(__file__).resolve().parents[1] / "data"


@cache
def demo() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``(ids, vectors, queries)`` of the bundled demo data (5,000 and 200 rows, 384-d)."""
    table = pq.read_table(DATA / "debian-demo.parquet", columns=["id", "vector"])
    vectors = table.column("vector").combine_chunks().flatten().to_numpy()
    queries = np.load(DATA / "debian-demo-queries.npy")
    return (
        table.column("id").to_numpy().astype(np.int64),
        vectors.reshape(table.num_rows, -1).astype(np.float32),
        queries.astype(np.float32),
    )


def indexed(hasher: SignatureScheme, redis_url: str, prefix: str) -> LSHRS:
    """An index of the demo vectors under ``hasher``, reranking from memory."""
    ids, vectors, _ = demo()
    index = LSHRS(
        dim=384,
        hasher=hasher,
        redis_url=redis_url,
        redis_prefix=prefix,
        vector_fetch_fn=lambda wanted: vectors[np.searchsorted(ids, wanted)],
        rerank_candidates=5000,
    )
    index.index(ids, vectors)
    return index


@cache
def kmeans_hasher(num_bands: int = 1, seed: int = 0) -> KMeansHasher:
    """32 lists per band trained on the demo vectors (numpy backend, 5 iterations)."""
    _, vectors, _ = demo()
    return KMeansHasher.fit(
        vectors, nlist=32, num_bands=num_bands, nprobe=3, iterations=5, seed=seed, backend="numpy"
    )


@cache
def rq_hasher() -> RQHasher:
    """Three levels of 16 centroids, buckets at depth 2, trained on the demo vectors."""
    _, vectors, _ = demo()
    return RQHasher.fit(
        vectors, codebook_sizes=(16, 16, 16), depth=2, beam=4, iterations=5, backend="numpy"
    )
