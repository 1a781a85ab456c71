"""Training for the learned schemes: k-means (numpy/BLAS Lloyd iterations, faiss if
present), nearest-centroid search, training samples and count checks.

Used by :class:`lshrs.schemes.kmeans.KMeansHasher` (spherical k-means, one partition
per band), :class:`lshrs.schemes.rq.RQHasher` (plain k-means on residuals, one
codebook per level) and :class:`lshrs.schemes.ivfpq.IVFPQ` (coarse lists and PQ).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from lshrs.validation import as_vectors

ProgressFn = Callable[[int, int, float], None]
"""``progress(iteration, iterations, objective)``, called after every Lloyd iteration."""

ASSIGN_CHUNK = 2048
"""Rows per distance block: a ``(2048, k)`` float32 block, a few MB."""
BACKENDS = ("auto", "numpy", "faiss")
POINTS_PER_CENTROID = 256
"""Default training sample: 256 vectors per centroid, FAISS's default cap."""


def check_count(value: Any, name: str, low: int, high: int) -> int:
    """An integer argument in ``[low, high]``.

    Raises:
        ValueError: naming the argument, the range and the bad value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return int(value)


def training_sample(
    vectors: npt.ArrayLike, size: int, seed: int, name: str = "vectors"
) -> npt.NDArray[np.float32]:
    """At most ``size`` distinct random rows, float32 and normalised to unit length.

    Raises:
        ValueError: for a non-2-D, non-finite or all-zero-row input.
    """
    array = np.asarray(vectors)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (n, dim), got {array.shape}")
    if array.shape[0] > size:
        rows = np.sort(np.random.default_rng(seed).choice(array.shape[0], size, replace=False))
        array = array[rows]
    return normalized(as_vectors(array, array.shape[1], name))


def faiss_module() -> Any:
    """The faiss module, or None when it is not installed."""
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def normalized(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    result: npt.NDArray[np.float32] = (vectors / np.maximum(norms, 1e-30)).astype(np.float32)
    return result


def nearest(
    vectors: npt.NDArray[np.float32],
    centroids: npt.NDArray[np.float32],
    count: int = 1,
    inner_product: bool = False,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The ``count`` centroids nearest to each vector, nearest first.

    Args:
        vectors: float32 ``(n, dim)``.
        centroids: float32 ``(k, dim)``.
        count: neighbours per vector, ``1 <= count <= k``.
        inner_product: rank by ``x . c`` instead of by L2 distance.

    Returns:
        ``(labels, scores)``: int64 and float32 ``(n, count)``, higher score = nearer.
        For L2 the score is ``x . c - |c|^2 / 2`` (the squared distance is
        ``|x|^2 - 2 * score``); for inner product it is ``x . c``.
    """
    half_norms = (
        np.zeros(centroids.shape[0], dtype=np.float32)
        if inner_product
        else 0.5 * np.einsum("ij,ij->i", centroids, centroids)
    )
    labels = np.empty((vectors.shape[0], count), dtype=np.int64)
    scores = np.empty((vectors.shape[0], count), dtype=np.float32)
    for start in range(0, vectors.shape[0], ASSIGN_CHUNK):
        block = vectors[start : start + ASSIGN_CHUNK] @ centroids.T - half_norms
        if count == 1:
            top = block.argmax(axis=1)[:, None]
        else:
            part = np.argpartition(-block, count - 1, axis=1)[:, :count]
            order = np.argsort(-np.take_along_axis(block, part, axis=1), axis=1, kind="stable")
            top = np.take_along_axis(part, order, axis=1)
        labels[start : start + ASSIGN_CHUNK] = top
        scores[start : start + ASSIGN_CHUNK] = np.take_along_axis(block, top, axis=1)
    return labels, scores


def stderr_progress(label: str) -> ProgressFn | None:
    """A progress line rewritten on stderr, when stderr is a terminal; else None."""
    if not sys.stderr.isatty():
        return None

    def report(iteration: int, iterations: int, objective: float) -> None:
        end = "\n" if iteration == iterations else ""
        sys.stderr.write(f"\r{label}: iteration {iteration}/{iterations}, mse {objective:.5f}{end}")
        sys.stderr.flush()

    return report


def train_kmeans(
    vectors: npt.NDArray[np.float32],
    clusters: int,
    *,
    spherical: bool,
    iterations: int = 20,
    seed: int = 0,
    backend: str = "auto",
    progress: ProgressFn | None = None,
) -> npt.NDArray[np.float32]:
    """Train k-means centroids with Lloyd's algorithm.

    Initial centroids are ``clusters`` distinct random rows (as FAISS does); each
    iteration assigns every row to its nearest centroid with one BLAS product per
    block of rows and recomputes the means with one sparse product. An empty cluster
    takes over half of the largest one (its centroid, slightly perturbed), so all
    ``clusters`` buckets are used.

    Args:
        vectors: float32 ``(n, dim)`` with ``n >= clusters``.
        clusters: number of centroids.
        spherical: normalise centroids to unit length after every step (cosine
            k-means, for unit-length inputs).
        iterations: Lloyd iterations.
        seed: seed of the initial choice and of empty-cluster splits.
        backend: ``"numpy"``, ``"faiss"`` (``faiss.Kmeans``; needs faiss installed) or
            ``"auto"`` (faiss when importable, else numpy).
        progress: called after each iteration of the numpy backend; see
            :data:`ProgressFn` (faiss reports nothing).

    Returns:
        float32 ``(clusters, dim)`` centroids.

    Raises:
        ValueError: for fewer rows than clusters, a bad count, or an unknown or
            unavailable backend.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> data = rng.standard_normal((500, 8)).astype(np.float32)
        >>> train_kmeans(data, 4, spherical=False, iterations=5, backend="numpy").shape
        (4, 8)
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if isinstance(clusters, bool) or not isinstance(clusters, (int, np.integer)) or clusters < 1:
        raise ValueError(f"the number of clusters must be a positive integer, got {clusters!r}")
    if vectors.shape[0] < clusters:
        raise ValueError(
            f"k-means with {clusters} clusters needs at least {clusters} training vectors, "
            f"got {vectors.shape[0]}; pass more vectors or fewer clusters"
        )
    faiss = faiss_module() if backend != "numpy" else None
    if backend == "faiss" and faiss is None:
        raise ValueError("backend='faiss' needs faiss: pip install 'lshrs[faiss]'")
    if faiss is not None:
        trainer = faiss.Kmeans(
            vectors.shape[1],
            int(clusters),
            niter=iterations,
            seed=seed,
            spherical=spherical,
            max_points_per_centroid=vectors.shape[0],
            min_points_per_centroid=1,
        )
        trainer.train(np.ascontiguousarray(vectors, dtype=np.float32))
        centroids: npt.NDArray[np.float32] = np.ascontiguousarray(
            trainer.centroids, dtype=np.float32
        )
        return centroids
    return _lloyd(vectors, int(clusters), spherical, iterations, seed, progress)


def _lloyd(
    vectors: npt.NDArray[np.float32],
    clusters: int,
    spherical: bool,
    iterations: int,
    seed: int,
    progress: ProgressFn | None,
) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    n = vectors.shape[0]
    centroids = vectors[rng.choice(n, clusters, replace=False)].copy()
    if spherical:
        centroids = normalized(centroids)
    squared_norms = float(np.einsum("ij,ij->", vectors, vectors))
    rows = np.arange(n)
    ones = np.ones(n, dtype=np.float32)
    for iteration in range(1, iterations + 1):
        labels, scores = nearest(vectors, centroids)
        labels = labels[:, 0]
        objective = (squared_norms - 2.0 * float(scores.sum(dtype=np.float64))) / n
        membership = sparse.csr_matrix((ones, (labels, rows)), shape=(clusters, n))
        sums = np.asarray(membership @ vectors, dtype=np.float32)
        sizes = np.bincount(labels, minlength=clusters).astype(np.float32)
        centroids = (sums / np.maximum(sizes, 1.0)[:, None]).astype(np.float32)
        _split_largest(centroids, sizes, rng)
        if spherical:
            centroids = normalized(centroids)
        if progress is not None:
            progress(iteration, iterations, objective)
    return np.ascontiguousarray(centroids, dtype=np.float32)


def _split_largest(
    centroids: npt.NDArray[np.float32],
    sizes: npt.NDArray[np.float32],
    rng: np.random.Generator,
) -> None:
    """Give each empty cluster a perturbed copy of the currently largest centroid."""
    for empty in np.flatnonzero(sizes == 0):
        largest = int(np.argmax(sizes))
        scale = 1e-3 * (float(np.abs(centroids[largest]).mean()) + 1e-12)
        noise = rng.standard_normal(centroids.shape[1], dtype=np.float32) * scale
        centroids[empty] = centroids[largest] + noise
        centroids[largest] = centroids[largest] - noise
        sizes[largest] /= 2
        sizes[empty] = sizes[largest]
