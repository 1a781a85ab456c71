"""Checks every source shares: optional drivers, arguments, and rows (messages name the row)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def require(module: str, extra: str) -> None:
    """Raise a helpful ``ImportError`` when an optional dependency is missing.

    Args:
        module: Importable name of the dependency, e.g. ``"psycopg"``.
        extra: The lshrs extra that installs it, e.g. ``"postgres"``.

    Raises:
        ImportError: ``module`` cannot be imported; the message gives the pip command.
    """
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"this feature needs the optional dependency {module!r}, which is not installed; "
            f'install it with: pip install "lshrs[{extra}]"'
        ) from error


def check_batch_size(batch_size: int) -> None:
    """Raise ``ValueError`` unless ``batch_size`` is a positive integer."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")


def check_distinct_columns(index_column: str, vector_column: str) -> None:
    """Raise ``ValueError`` when the id and vector columns are the same column."""
    if index_column == vector_column:
        raise ValueError(
            f"index_column and vector_column are both {index_column!r}; "
            "pass the integer id column and the vector column"
        )


def first_other(sizes: npt.NDArray[np.int64], expected: int) -> int | None:
    """Position of the first of ``sizes`` that is not ``expected``, or None."""
    other = np.flatnonzero(sizes != expected)
    return int(other[0]) if other.size else None


def check_finite(
    vectors: npt.NDArray[np.float32],
    ids: Sequence[int] | npt.NDArray[np.int64],
    label: str,
) -> None:
    """Raise ``ValueError`` naming the first row whose vector holds NaN or infinity.

    Args:
        vectors: float32 ``(n, dim)``.
        ids: The ``n`` row ids, used in the message.
        label: What the vectors are, e.g. ``'column "vec" of table "public"."items"'``.

    Raises:
        ValueError: Some value is NaN or infinite, or was out of float32 range before the
            conversion to float32.
    """
    # A float64 row sum is finite exactly when every float32 term is: it cannot overflow.
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN, which is what we look for
        row_sums = vectors.sum(axis=1, dtype=np.float64)
    if np.isfinite(row_sums).all():
        return
    row = int(np.flatnonzero(~np.isfinite(row_sums))[0])
    position = int(np.flatnonzero(~np.isfinite(vectors[row]))[0])
    raise ValueError(
        f"{label}: the vector of row id={ids[row]} holds {vectors[row, position]} at "
        f"position {position}; vectors must be finite float32 values (NaN, infinity and "
        "values beyond float32 range are rejected)"
    )
