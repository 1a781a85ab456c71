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
"""Ids an average bucket should hold: ``rows_per_band = log2(size / 64)``."""
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


def corpus_config(
    expected_size: int,
    num_bands: int = DEFAULT_BANDS,
    rerank_fraction: float = DEFAULT_RERANK_FRACTION,
    max_rerank: int = DEFAULT_MAX_RERANK,
) -> CorpusConfig:
    """The configuration for a corpus of about ``expected_size`` vectors.

    ``rows_per_band = round(log2(expected_size / TARGET_BUCKET_SIZE))`` (4 to 32),
    so buckets stay near 64 ids however large the corpus grows; ``extra_probes =
    3 * num_bands`` (each band's next three most likely buckets, on average);
    ``rerank_candidates = rerank_fraction * expected_size`` within
    ``[100, max_rerank]``.

    ``num_bands`` is the memory/recall budget: each band costs one set membership
    (about 5 bytes of Redis) and four bucket reads per query. 64 bands reach
    recall@10 0.92 on debian-minilm; 16 bands take 135 bytes of Redis per vector
    at 1M x 768 (with ``set-max-intset-entries 8192``, see docs/benchmarks.md).

    Args:
        expected_size: how many vectors the index will hold.
        num_bands: bands (hash tables).
        rerank_fraction: share of the corpus a top-p query reranks, in ``(0, 1]``.
        max_rerank: upper bound of ``rerank_candidates`` (fetch cost per query).

    Returns:
        A :class:`CorpusConfig`.

    Raises:
        ValueError: if an argument is out of range.

    Example:
        >>> corpus_config(59_504)
        CorpusConfig(num_bands=64, rows_per_band=10, extra_probes=192, rerank_candidates=2381)
        >>> corpus_config(6_400_000, num_bands=16).rows_per_band
        17
    """
    size = _check_int(expected_size, "expected_size", 1)
    bands = _check_int(num_bands, "num_bands", 1)
    cap = _check_int(max_rerank, "max_rerank", 1)
    if isinstance(rerank_fraction, bool) or not 0.0 < rerank_fraction <= 1.0:
        raise ValueError(f"rerank_fraction must be in (0, 1], got {rerank_fraction!r}")
    rows = min(32, max(4, round(math.log2(max(size, 1) / TARGET_BUCKET_SIZE))))
    rerank = min(cap, max(MIN_RERANK, math.ceil(rerank_fraction * size)))
    return CorpusConfig(
        num_bands=bands,
        rows_per_band=rows,
        extra_probes=PROBES_PER_BAND * bands,
        rerank_candidates=rerank,
    )
