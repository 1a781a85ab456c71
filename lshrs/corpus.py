"""A configuration chosen for the corpus: bucket size, probes and rerank depth.

:func:`lshrs.tuning.get_optimal_config` separates pairs above and below a
similarity threshold and ignores how many vectors share a bucket. At 6.4M vectors
its 8-bit bands would hold 25,000 ids per bucket; every query would read hundreds
of thousands of ids. :func:`corpus_config` instead sizes ``rows_per_band`` from the
expected corpus size, so that an average bucket holds about
:data:`TARGET_BUCKET_SIZE` ids at any scale, and recovers recall with many bands,
multi-probe queries and a rerank depth proportional to the corpus.

The defaults were measured on real sentence embeddings (debian-minilm, 59,504 x
384, all-MiniLM-L6-v2): with a centred hasher they reach recall@10 0.92 while
reranking 4% of the corpus (``docs/benchmarks.md`` has the run and its command).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.hashing import LSHHasher
from lshrs.validation import as_vectors

TARGET_BUCKET_SIZE = 64
"""Ids a query should read per band: ``rows_per_band = log2(size / 64)`` for evenly
spread vectors, more rows where a sample shows the corpus is clustered."""
MAX_PAIR_SAMPLE = 2000
"""Sample vectors whose pairwise angles estimate the bucket reads (~2M pairs)."""
MIN_ROWS, MAX_ROWS = 4, 32
MAX_EXTRA_ROWS = 4
"""Rows a sample may add to ``log2(size / 64)``: at most 16x the buckets (Redis keys)."""
DEFAULT_BANDS = 64
PROBES_PER_BAND = 3
"""Extra probes per band: each band's next three most likely buckets, on average."""
DEFAULT_RERANK_FRACTION = 0.04
DEFAULT_MAX_RERANK = 3000
MIN_RERANK = 100


@dataclass(frozen=True)
class CorpusConfig:
    """Bands, rows, probes and rerank depth for a corpus of a given size.

    Attributes:
        num_bands: bands (hash tables).
        rows_per_band: bits per band.
        extra_probes: buckets read per query beyond one per band.
        rerank_candidates: candidates a top-p query reranks by exact cosine.
    """

    num_bands: int
    rows_per_band: int
    extra_probes: int
    rerank_candidates: int

    def index_kwargs(self, sample: npt.ArrayLike, seed: int = 42) -> dict[str, Any]:
        """Keyword arguments for :class:`lshrs.LSHRS`: a hasher centred on the mean
        of ``sample``, ``extra_probes`` and ``rerank_candidates``.

        Args:
            sample: float ``(n, dim)``: the corpus or a random sample of it (a few
                thousand vectors estimate the mean well).
            seed: seed of the random hyperplanes.

        Returns:
            ``{"hasher": LSHHasher, "extra_probes": int, "rerank_candidates": int}``.

        Raises:
            ValueError: for an invalid sample (empty, NaN, zero vectors, ...).

        Example:
            >>> config = corpus_config(50_000)
            >>> sample = np.random.default_rng(0).standard_normal((100, 8))
            >>> kwargs = config.index_kwargs(sample)
            >>> kwargs["hasher"].rows_per_band, kwargs["extra_probes"]
            (10, 192)
        """
        vectors = as_vectors(sample, np.asarray(sample).shape[-1], "sample")
        center = vectors.mean(axis=0, dtype=np.float64).astype(np.float32)
        hasher = LSHHasher(
            self.num_bands, self.rows_per_band, vectors.shape[1], seed, center=center
        )
        return {
            "hasher": hasher,
            "extra_probes": self.extra_probes,
            "rerank_candidates": self.rerank_candidates,
        }


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def bucket_reads(
    sample: npt.ArrayLike, expected_size: int, rows: range, seed: int = 0
) -> dict[int, float]:
    """Expected ids a query drawn like ``sample`` reads from one band's bucket.

    Two vectors share a band of ``r`` centred random hyperplanes with probability
    ``(1 - angle / pi) ** r``, so a query from the corpus's own distribution reads
    ``expected_size * mean((1 - angle / pi) ** r)`` ids per band, the mean taken over
    pairs of sample vectors (at most :data:`MAX_PAIR_SAMPLE` of them, centred on
    the sample mean as :meth:`CorpusConfig.index_kwargs` centres the hasher). For
    evenly spread vectors this is ``expected_size / 2**r``, the average bucket; for
    clustered vectors it is the size of the buckets queries actually land in, which
    is larger (1M clustered x 768 at 14 rows: 371 against an average bucket of 61).

    Args:
        sample: float ``(n, dim)``, ``n >= 2``: the corpus or a random sample of it.
        expected_size: how many vectors the index will hold.
        rows: the ``rows_per_band`` values to evaluate.
        seed: seed of the subsample when ``n > MAX_PAIR_SAMPLE``.

    Returns:
        ``{rows_per_band: expected ids read per band}``.

    Raises:
        ValueError: for an invalid sample (fewer than 2 vectors, NaN, zero vectors, ...).
    """
    array = np.asarray(sample)
    vectors = as_vectors(array, array.shape[-1] if array.ndim else 0, "sample")
    if vectors.shape[0] < 2:
        raise ValueError(f"sample must hold at least 2 vectors, got {vectors.shape[0]}")
    centred = vectors - vectors.mean(axis=0, dtype=np.float64).astype(np.float32)
    if vectors.shape[0] > MAX_PAIR_SAMPLE:
        pick = np.random.default_rng(seed).choice(vectors.shape[0], MAX_PAIR_SAMPLE, replace=False)
        centred = centred[pick]
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    unit = centred / np.where(norms > 0, norms, 1.0)
    upper = np.triu_indices(unit.shape[0], 1)
    cosines = np.clip((unit @ unit.T)[upper], -1.0, 1.0).astype(np.float64)
    # A vector equal to the sample mean has no direction: it collides with half of
    # every hyperplane's sides, like an orthogonal vector.
    cosines[(norms[upper[0], 0] == 0) | (norms[upper[1], 0] == 0)] = 0.0
    bit = 1.0 - np.arccos(cosines) / np.pi
    return {r: float(expected_size * np.mean(bit**r)) for r in rows}


def corpus_config(
    expected_size: int,
    num_bands: int = DEFAULT_BANDS,
    rerank_fraction: float = DEFAULT_RERANK_FRACTION,
    max_rerank: int = DEFAULT_MAX_RERANK,
    *,
    sample: npt.ArrayLike | None = None,
) -> CorpusConfig:
    """The configuration for a corpus of about ``expected_size`` vectors.

    ``rows_per_band`` is chosen so that a query reads about
    :data:`TARGET_BUCKET_SIZE` (64) ids per band at any scale: without a sample,
    ``round(log2(expected_size / 64))``, right for evenly spread vectors; with a
    ``sample`` of the corpus, the rows whose measured reads (:func:`bucket_reads`)
    are nearest 64 on a log scale, which adds rows for clustered corpora (1M x 768
    clustered: 18 rows instead of 14, predicted reads per band 73 instead of 371)
    and keeps them for evenly spread ones (debian-minilm: 10 either way). A sample
    adds at most :data:`MAX_EXTRA_ROWS` (4) rows, and rows stay within 4 to 32: each
    row may double the buckets, and every bucket is a Redis key (~100 bytes).
    ``extra_probes = 3 * num_bands`` (each band's next three most likely buckets, on
    average); ``rerank_candidates = rerank_fraction * expected_size`` within
    ``[100, max_rerank]``.

    ``num_bands`` is the memory/recall budget: each band costs one set membership
    per vector and four bucket reads per query. 64 bands reach recall@10 0.92 on
    debian-minilm. More rows mean more, smaller buckets: faster queries, but more
    Redis keys (see docs/benchmarks.md for bytes per vector).

    Args:
        expected_size: how many vectors the index will hold.
        num_bands: bands (hash tables).
        rerank_fraction: share of the corpus a top-p query reranks, in ``(0, 1]``.
        max_rerank: upper bound of ``rerank_candidates`` (fetch cost per query).
        sample: optional float ``(n, dim)`` random sample of the corpus (a few
            thousand vectors; the same one can go to :meth:`CorpusConfig.index_kwargs`).

    Returns:
        A :class:`CorpusConfig`.

    Raises:
        ValueError: if an argument is out of range or the sample is invalid.

    Example:
        >>> corpus_config(59_504)
        CorpusConfig(num_bands=64, rows_per_band=10, extra_probes=192, rerank_candidates=2381)
        >>> corpus_config(6_400_000, num_bands=16).rows_per_band
        17
        >>> spread = np.random.default_rng(0).standard_normal((1000, 384))
        >>> corpus_config(1_000_000, sample=spread).rows_per_band
        14
    """
    size = _check_int(expected_size, "expected_size", 1)
    bands = _check_int(num_bands, "num_bands", 1)
    cap = _check_int(max_rerank, "max_rerank", 1)
    if isinstance(rerank_fraction, bool) or not 0.0 < rerank_fraction <= 1.0:
        raise ValueError(f"rerank_fraction must be in (0, 1], got {rerank_fraction!r}")
    spread_rows = min(MAX_ROWS, max(MIN_ROWS, round(math.log2(size / TARGET_BUCKET_SIZE))))
    rows = spread_rows
    if sample is not None:
        allowed = range(MIN_ROWS, min(MAX_ROWS, spread_rows + MAX_EXTRA_ROWS) + 1)
        reads = bucket_reads(sample, size, allowed)
        rows = min(reads, key=lambda r: abs(math.log(max(reads[r], 1e-300) / TARGET_BUCKET_SIZE)))
    rerank = min(cap, max(MIN_RERANK, math.ceil(rerank_fraction * size)))
    return CorpusConfig(
        num_bands=bands,
        rows_per_band=rows,
        extra_probes=PROBES_PER_BAND * bands,
        rerank_candidates=rerank,
    )
