"""Choosing bands and rows: collision probabilities and the FP/FN optimisation."""

from __future__ import annotations

import math
from functools import lru_cache

from scipy.integrate import quad


def _bit_collision(similarity: float) -> float:
    """Probability that one random hyperplane puts both vectors on the same side."""
    clipped = min(1.0, max(-1.0, similarity))
    return 1.0 - math.acos(clipped) / math.pi


def compute_collision_probability(similarity: float, num_bands: int, rows_per_band: int) -> float:
    """Probability that two vectors share a bucket in at least one band.

    For random hyperplanes a single bit collides with probability
    ``p = 1 - arccos(similarity) / pi``, so ``1 - (1 - p**rows_per_band)**num_bands``.

    Args:
        similarity: cosine similarity of the two vectors, in ``[-1, 1]``.
        num_bands: number of bands.
        rows_per_band: bits per band.

    Returns:
        A probability in ``[0, 1]``.

    Raises:
        ValueError: if an argument is out of range.

    Example:
        >>> round(compute_collision_probability(0.0, 16, 8), 6)
        0.060702
    """
    if not -1.0 <= similarity <= 1.0:
        raise ValueError(f"similarity must be a cosine similarity in [-1, 1], got {similarity}")
    if num_bands < 1 or rows_per_band < 1:
        raise ValueError(
            f"num_bands and rows_per_band must be >= 1, got {num_bands} and {rows_per_band}"
        )
    p = _bit_collision(similarity)
    return float(1.0 - (1.0 - p**rows_per_band) ** num_bands)


def false_positive_area(threshold: float, num_bands: int, rows_per_band: int) -> float:
    """Integral of the collision probability over similarities in ``[0, threshold]``."""
    area, _ = quad(
        lambda s: 1.0 - (1.0 - _bit_collision(s) ** rows_per_band) ** num_bands, 0.0, threshold
    )
    return float(area)


def false_negative_area(threshold: float, num_bands: int, rows_per_band: int) -> float:
    """Integral of the miss probability over similarities in ``[threshold, 1]``."""
    area, _ = quad(
        lambda s: (1.0 - _bit_collision(s) ** rows_per_band) ** num_bands, threshold, 1.0
    )
    return float(area)


@lru_cache(maxsize=64)
def get_optimal_config(
    num_perm: int,
    similarity_threshold: float = 0.5,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """Bands and rows that best separate pairs above and below a similarity threshold.

    Minimises ``false_positive_weight * FP + false_negative_weight * FN`` over every
    ``(num_bands, rows_per_band)`` with ``num_bands * rows_per_band <= num_perm``,
    where FP is the collision probability integrated over cosine similarities in
    ``[0, threshold]`` and FN the miss probability integrated over
    ``[threshold, 1]`` (the integrals, with the random-hyperplane collision
    curve). Ties go to fewer bits. The choice ignores corpus size: a large corpus
    needs more rows per band than this gives, or its buckets grow huge.

    Args:
        num_perm: total hash bits available.
        similarity_threshold: cosine similarity that separates neighbours from
            non-neighbours, in ``(0, 1)``.
        false_positive_weight: weight of the false-positive area.
        false_negative_weight: weight of the false-negative area.

    Returns:
        ``(num_bands, rows_per_band)``.

    Raises:
        ValueError: if an argument is out of range.

    Example:
        >>> get_optimal_config(128, 0.5)
        (16, 8)
    """
    if isinstance(num_perm, bool) or not isinstance(num_perm, int) or num_perm < 1:
        raise ValueError(f"num_perm must be a positive integer, got {num_perm!r}")
    if not 0.0 < similarity_threshold < 1.0:
        raise ValueError(
            f"similarity_threshold must be a cosine similarity in (0, 1), "
            f"got {similarity_threshold}"
        )
    if false_positive_weight < 0 or false_negative_weight < 0:
        raise ValueError("false_positive_weight and false_negative_weight must be >= 0")
    best: tuple[float, int, int, int] | None = None
    for num_bands in range(1, num_perm + 1):
        for rows_per_band in range(1, num_perm // num_bands + 1):
            error = false_positive_weight * false_positive_area(
                similarity_threshold, num_bands, rows_per_band
            ) + false_negative_weight * false_negative_area(
                similarity_threshold, num_bands, rows_per_band
            )
            candidate = (error, num_bands * rows_per_band, num_bands, rows_per_band)
            if best is None or candidate < best:
                best = candidate
    assert best is not None
    return best[2], best[3]
