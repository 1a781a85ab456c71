"""Exact cosine similarity for reranking, vectorised."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lshrs.validation import as_vectors


def l2_norm(vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Scale vectors to unit length.

    Args:
        vectors: shape ``(dim,)`` or ``(n, dim)``.

    Returns:
        float32 array of the same shape; all-zero vectors stay zero.

    Example:
        >>> l2_norm([3.0, 4.0]).tolist()
        [0.6000000238418579, 0.800000011920929]
    """
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    normed: npt.NDArray[np.float32] = np.divide(
        array, norms, out=np.zeros_like(array), where=norms > 0
    )
    return normed


def cosine_similarity(query: npt.ArrayLike, candidates: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Cosine similarity of one query with each candidate.

    Args:
        query: shape ``(dim,)``.
        candidates: shape ``(n, dim)``.

    Returns:
        float32 array of shape ``(n,)``; 0 for an all-zero candidate.

    Raises:
        ValueError: if the dimensions differ.

    Example:
        >>> cosine_similarity([1.0, 0.0], [[2.0, 0.0], [0.0, 5.0]]).tolist()
        [1.0, 0.0]
    """
    q = l2_norm(query)
    c = l2_norm(candidates)
    if q.ndim != 1 or c.ndim != 2 or c.shape[1] != q.shape[0]:
        raise ValueError(
            f"expected query (dim,) and candidates (n, dim), got {q.shape} and {c.shape}"
        )
    return c @ q


def rerank_cosines(
    query: npt.NDArray[np.float32], candidates: npt.ArrayLike, name: str = "candidates"
) -> npt.NDArray[np.float32]:
    """Cosine similarity of a validated query with candidates that are checked here.

    The rerank hot path: one pass for the squared norms and one matrix-vector
    product, without a normalised copy of the candidates. The norms double as the
    validity check: a NaN/inf or all-zero candidate row is a ValueError naming the row
    (as :func:`lshrs.validation.as_vectors` words it).

    Args:
        query: float32 ``(dim,)``, finite and not all zero.
        candidates: ``(n, dim)`` numbers, e.g. what a ``vector_fetch_fn`` returned.
        name: what the candidates are called in error messages.

    Returns:
        float32 array of shape ``(n,)``.

    Raises:
        ValueError: for a bad candidate row or shape.

    Example:
        >>> rerank_cosines(np.array([1.0, 0.0], dtype=np.float32), [[2.0, 0.0], [3.0, 4.0]])
        array([1. , 0.6], dtype=float32)
    """
    raw = np.asarray(candidates)
    numeric = np.issubdtype(raw.dtype, np.floating) or np.issubdtype(raw.dtype, np.integer)
    if raw.ndim != 2 or raw.shape[1] != query.shape[0] or not numeric or raw.dtype == bool:
        raw = as_vectors(raw, query.shape[0], name)  # raises, naming what is wrong
    with np.errstate(over="ignore"):  # values beyond float32 become inf, reported below
        array = np.ascontiguousarray(raw, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        squares = np.einsum("ij,ij->i", array, array)
    if not (np.isfinite(squares).all() and squares.all()):
        # Raises for NaN/inf and zero rows; what passes has squares beyond float32.
        array = as_vectors(array, query.shape[0], name)
        squares = np.einsum("ij,ij->i", array, array, dtype=np.float64)
    unit = query / np.linalg.norm(query)
    sims: npt.NDArray[np.float32] = ((array @ unit) / np.sqrt(squares)).astype(np.float32)
    return sims


def top_k_cosine(
    query: npt.ArrayLike, candidates: npt.ArrayLike, k: int
) -> list[tuple[int, float]]:
    """The ``k`` candidates most similar to the query.

    Args:
        query: shape ``(dim,)``.
        candidates: shape ``(n, dim)``.
        k: how many to return (fewer if there are fewer candidates).

    Returns:
        ``(row, similarity)`` pairs, most similar first; ties go to the lower row.

    Example:
        >>> best = top_k_cosine([1.0, 0.0], [[0.0, 1.0], [1.0, 0.1], [1.0, 0.0]], k=2)
        >>> [(row, round(similarity, 4)) for row, similarity in best]
        [(2, 1.0), (1, 0.995)]
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    sims = cosine_similarity(query, candidates)
    order = np.lexsort((np.arange(sims.size), -sims))[:k]
    return [(int(row), float(sims[row])) for row in order]


def best(
    scores: npt.NDArray[np.number], ids: npt.NDArray[np.int64], limit: int
) -> npt.NDArray[np.intp]:
    """Positions of the ``limit`` highest scores, best first, ties by smaller id, also
    among scores equal to the ``limit``-th (every one of those is kept, then ordered).

    Example:
        >>> best(np.array([1.0, 2.0, 1.0, 1.0]), np.array([5, 8, 3, 9]), 2)
        array([1, 2])
    """
    if limit <= 0:
        return np.empty(0, dtype=np.intp)
    if limit < scores.size:
        cut = np.partition(scores, scores.size - limit)[scores.size - limit]
        part = np.flatnonzero(scores >= cut)
    else:
        part = np.arange(scores.size)
    ranked: npt.NDArray[np.intp] = part[np.lexsort((ids[part], -scores[part]))][:limit]
    return ranked
