"""A configuration chosen for the corpus: the index kind, its size and its query depth.

Given a sample of the corpus, :func:`corpus_config` chooses compressed inverted
lists (IVF-PQ, :class:`lshrs.schemes.ivfpq.IVFPQ`): ``nlist`` from the corpus size, one code
byte per 8 dimensions, and, once :meth:`CorpusConfig.index_kwargs` has trained the
model on the sample, the number of lists a query reads, measured on the sample
itself (:func:`calibrate_nprobe`). Without a sample it sizes random hyperplanes, as
below.

:func:`lshrs.config.bands.get_optimal_config` separates pairs above and below a
similarity threshold and ignores how many vectors share a bucket, so at millions of
vectors its buckets grow huge. :func:`corpus_config` instead sizes ``rows_per_band``
from the expected corpus size, so that an average bucket holds about
:data:`TARGET_BUCKET_SIZE` ids at any scale, and recovers recall with many bands,
multi-probe queries and a rerank depth proportional to the corpus.

``docs/benchmarks.md`` has the measurements behind the defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.schemes.hyperplane import LSHHasher
from lshrs.schemes.ivfpq import IVFPQ, default_code_bytes
from lshrs.schemes.training import nearest, normalized
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
INDEXES = ("ivfpq", "hyperplane")
VECTORS_PER_LIST = 16
"""IVF-PQ: ``nlist`` is the power of two nearest ``expected_size / 16``; fine lists
put a query's neighbours in fewer records."""
MIN_LISTS = 16
MAX_CENTROID_FLOATS = 1 << 22
"""IVF-PQ: a query compares itself with every centroid, so ``nlist * dim`` stays
under 4M floats (16 MiB)."""
SAMPLE_PER_LIST = 32
"""IVF-PQ: sample vectors the coarse k-means needs per list."""
MIN_SAMPLE = 256
"""IVF-PQ: the codebooks need 256 vectors at least."""
DEFAULT_REFINE = 200
"""IVF-PQ: codes reranked by exact cosine per query."""
COARSE_MARGIN = 0.02
"""IVF-PQ: the share of true neighbours the probed lists must hold exceeds the recall
target by this much, for what codes and the rerank lose."""
CALIBRATION_QUERIES = 300
CALIBRATION_BASE = 50_000


@dataclass(frozen=True)
class CorpusConfig:
    """Bands, rows, probes and rerank depth for a corpus of a given size.

    Attributes:
        num_bands: bands (hash tables); 1 for IVF-PQ.
        rows_per_band: bits per band; None for IVF-PQ.
        extra_probes: buckets read per query beyond one per band; 0 for IVF-PQ.
        rerank_candidates: candidates a top-p query reranks by exact cosine.
        index: ``"ivfpq"`` or ``"hyperplane"``.
        nlist: IVF-PQ lists.
        code_bytes: IVF-PQ bytes per code; None until a sample gives the dimension.
        recall_target: IVF-PQ recall@10 the query depth is calibrated for.
    """

    num_bands: int
    rows_per_band: int | None
    extra_probes: int
    rerank_candidates: int
    index: str = "hyperplane"
    nlist: int | None = None
    code_bytes: int | None = None
    recall_target: float | None = None
    expected_size: int | None = None

    def min_sample(self) -> int:
        """Sample vectors :meth:`index_kwargs` needs to train an IVF-PQ model:
        ``32 * nlist``, or the whole corpus when smaller, and at least 256."""
        assert self.nlist is not None and self.expected_size is not None
        return max(MIN_SAMPLE, min(self.expected_size, SAMPLE_PER_LIST * self.nlist))

    def index_kwargs(self, sample: npt.ArrayLike, seed: int = 42) -> dict[str, Any]:
        """Keyword arguments for :class:`lshrs.LSHRS`.

        IVF-PQ: a model trained on ``sample`` (k-means lists, then residual
        codebooks; seconds for tens of thousands of vectors), its ``nprobe``
        calibrated on the sample for :attr:`recall_target`, and ``rerank_candidates``.
        Hyperplanes: a hasher centred on the mean of ``sample``, ``extra_probes`` and
        ``rerank_candidates``.

        Args:
            sample: float ``(n, dim)``: the corpus or a random sample of it. IVF-PQ
                needs at least :meth:`min_sample` vectors; hyperplanes a few
                thousand (to estimate the mean).
            seed: seed of the training, or of the random hyperplanes.

        Returns:
            ``{"hasher": IVFPQ, "rerank_candidates": int}`` or
            ``{"hasher": LSHHasher, "extra_probes": int, "rerank_candidates": int}``.

        Raises:
            ValueError: for an invalid sample (empty, NaN, zero vectors, ...), or one
                too small to train IVF-PQ.

        Example:
            >>> config = corpus_config(50_000)
            >>> sample = np.random.default_rng(0).standard_normal((100, 8))
            >>> kwargs = config.index_kwargs(sample)
            >>> kwargs["hasher"].rows_per_band, kwargs["extra_probes"]
            (10, 192)
        """
        vectors = as_vectors(sample, np.asarray(sample).shape[-1], "sample")
        if self.index == "ivfpq":
            return self._ivfpq_kwargs(vectors, seed)
        assert self.rows_per_band is not None
        center = vectors.mean(axis=0, dtype=np.float64).astype(np.float32)
        hasher = LSHHasher(
            self.num_bands, self.rows_per_band, vectors.shape[1], seed, center=center
        )
        return {
            "hasher": hasher,
            "extra_probes": self.extra_probes,
            "rerank_candidates": self.rerank_candidates,
        }

    def _ivfpq_kwargs(self, vectors: npt.NDArray[np.float32], seed: int) -> dict[str, Any]:
        assert self.nlist is not None and self.recall_target is not None
        dim = vectors.shape[1]
        needed = self.min_sample()
        if vectors.shape[0] < needed:
            raise ValueError(
                f"an IVF-PQ index of {self.nlist} lists for {self.expected_size} vectors is "
                f"trained on at least {needed} sample vectors ({SAMPLE_PER_LIST} per list, or "
                f"the whole corpus), got {vectors.shape[0]}: "
                "pass a larger random sample of the corpus, or corpus_config(..., "
                "index='hyperplane') for random hyperplanes, which need no training"
            )
        code_bytes = self.code_bytes or default_code_bytes(dim)
        model = IVFPQ.fit(vectors, self.nlist, code_bytes, seed=seed)
        model.nprobe = calibrate_nprobe(model, vectors, self.recall_target + COARSE_MARGIN, seed)
        return {"hasher": model, "rerank_candidates": self.rerank_candidates}


def calibrate_nprobe(
    model: IVFPQ, sample: npt.NDArray[np.float32], coverage: float, seed: int = 0
) -> int:
    """The fewest lists a query must read so that they hold ``coverage`` of its 10
    nearest neighbours, measured on the sample.

    :data:`CALIBRATION_QUERIES` sample vectors are held out as queries; their exact
    10 nearest neighbours among (at most :data:`CALIBRATION_BASE` of) the others are
    found by brute force, and each neighbour's list is ranked among the query's
    lists. A sample smaller than the corpus has looser neighbourhoods than the
    corpus, so the answer errs on the side of reading more lists.

    Args:
        model: a trained IVF-PQ model.
        sample: float32 ``(n, dim)``, ``n > 300``: vectors drawn like the corpus.
        coverage: share of the true neighbours the probed lists must hold, in (0, 1].
        seed: seed of the choice of queries.

    Returns:
        ``nprobe``, between 1 and ``model.nlist``.
    """
    rng = np.random.default_rng(seed)
    picked = rng.permutation(sample.shape[0])[: CALIBRATION_QUERIES + CALIBRATION_BASE]
    prepared = model.prepare(normalized(sample[picked]))
    queries, base = prepared[:CALIBRATION_QUERIES], prepared[CALIBRATION_QUERIES:]
    neighbours = np.argpartition(-(queries @ base.T), 9, axis=1)[:, :10]
    lists = nearest(base, model.centroids, inner_product=model.metric == "ip")[0][:, 0]
    order = nearest(queries, model.centroids, model.nlist, inner_product=model.metric == "ip")[0]
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(model.nlist)[None, :], axis=1)
    ranks = np.take_along_axis(rank, lists[neighbours], axis=1)
    return int(min(model.nlist, np.quantile(ranks, coverage, method="higher") + 1))


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
    index: str | None = None,
    recall_target: float = 0.95,
) -> CorpusConfig:
    """The configuration for a corpus of about ``expected_size`` vectors.

    **IVF-PQ** (``index="ivfpq"``, the default with a ``sample``): ``nlist`` is the
    power of two nearest ``expected_size / 16`` (at least 16, at most
    :data:`MAX_CENTROID_FLOATS` of centroids), one code byte per 8 dimensions, and
    :data:`DEFAULT_REFINE` codes reranked per query. :meth:`CorpusConfig.index_kwargs`
    trains on the sample and sets ``nprobe`` for ``recall_target`` (see
    :func:`calibrate_nprobe`); the sample needs :meth:`CorpusConfig.min_sample` rows.

    **Random hyperplanes** (``index="hyperplane"``, the default without a sample):
    ``rows_per_band`` makes a query read about :data:`TARGET_BUCKET_SIZE` ids per band:
    ``round(log2(expected_size / 64))``, or, with a ``sample``, the rows whose
    :func:`bucket_reads` come nearest (at most :data:`MAX_EXTRA_ROWS` more; 4 to 32).
    ``extra_probes = 3 * num_bands``; ``rerank_candidates = rerank_fraction *
    expected_size`` within ``[100, max_rerank]``. Each band costs one set membership
    per vector and four bucket reads per query.

    Args:
        expected_size: how many vectors the index will hold.
        num_bands: bands (hash tables).
        rerank_fraction: share of the corpus a top-p query reranks, in ``(0, 1]``.
        max_rerank: upper bound of ``rerank_candidates`` (fetch cost per query).
        sample: optional float ``(n, dim)`` random sample of the corpus (the same
            one goes to :meth:`CorpusConfig.index_kwargs`).
        index: ``"ivfpq"`` or ``"hyperplane"``; default IVF-PQ with a sample,
            hyperplanes without.
        recall_target: IVF-PQ: recall@10 the query depth is calibrated for, in
            ``(0, 0.98]``.

    Returns:
        A :class:`CorpusConfig`.

    Raises:
        ValueError: if an argument is out of range or the sample is invalid.

    Example:
        >>> config = corpus_config(59_504)
        >>> config.index, config.num_bands, config.rows_per_band, config.extra_probes
        ('hyperplane', 64, 10, 192)
        >>> config.rerank_candidates
        2381
        >>> corpus_config(6_400_000, num_bands=16).rows_per_band
        17
        >>> spread = np.random.default_rng(0).standard_normal((1000, 384))
        >>> corpus_config(1_000_000, sample=spread, index="hyperplane").rows_per_band
        14
        >>> config = corpus_config(59_504, sample=spread)
        >>> config.index, config.nlist, config.code_bytes, config.min_sample()
        ('ivfpq', 4096, 48, 59504)
    """
    size = _check_int(expected_size, "expected_size", 1)
    chosen = index if index is not None else ("ivfpq" if sample is not None else "hyperplane")
    if chosen not in INDEXES:
        raise ValueError(f"index must be one of {INDEXES}, got {index!r}")
    if chosen == "ivfpq":
        if isinstance(recall_target, bool) or not 0.0 < recall_target <= 1.0 - COARSE_MARGIN:
            raise ValueError(f"recall_target must be in (0, 0.98], got {recall_target!r}")
        dim = None
        if sample is not None:
            checked = as_vectors(sample, np.asarray(sample).shape[-1], "sample")
            if checked.shape[0] < 2:
                raise ValueError(f"sample must hold at least 2 vectors, got {checked.shape[0]}")
            dim = checked.shape[1]
        cap = 2 ** int(math.log2(MAX_CENTROID_FLOATS / (dim or 768)))
        nlist = min(cap, max(MIN_LISTS, 2 ** round(math.log2(size / VECTORS_PER_LIST))))
        return CorpusConfig(
            num_bands=1,
            rows_per_band=None,
            extra_probes=0,
            rerank_candidates=DEFAULT_REFINE,
            index="ivfpq",
            nlist=nlist,
            code_bytes=default_code_bytes(dim) if dim else None,
            recall_target=float(recall_target),
            expected_size=size,
        )
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
