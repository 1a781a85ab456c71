"""Exact cosine similarity for reranking, vectorised."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


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
