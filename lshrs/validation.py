"""Input checks at the public boundary: convert once, fail before anything is written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

MAX_ID = 2**53 - 1
"""Largest id: ids travel as exact integers through Lua (doubles) and JSON."""


def _first(mask: Any) -> int:
    return int(np.flatnonzero(mask)[0])


def as_ids(indices: Any, name: str = "indices") -> npt.NDArray[np.int64]:
    """Convert ids to a 1-D int64 array.

    Raises:
        ValueError: if ids are not integers, out of ``[0, 2**53 - 1]``, repeated or empty.
    """
    if isinstance(indices, (int, np.integer)) and not isinstance(indices, bool):
        indices = [indices]
    array = np.asarray(indices)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of ints, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: nothing to do")
    if array.dtype == object:
        bad = [v for v in array.tolist() if isinstance(v, bool) or not isinstance(v, int)]
        if bad:
            raise ValueError(f"{name} must be integers, got {bad[0]!r} ({type(bad[0]).__name__})")
        if any(v < 0 or v > MAX_ID for v in array.tolist()):
            raise ValueError(f"{name} must be in [0, 2**53 - 1]; got values outside")
        array = array.astype(np.int64)
    elif array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{name} must be integers, got dtype {array.dtype} (e.g. {array.ravel()[0]!r}); "
            "convert with np.asarray(ids, dtype=np.int64) if they are whole numbers"
        )
    if np.issubdtype(array.dtype, np.unsignedinteger):
        too_big = array > MAX_ID
        if too_big.any():
            raise ValueError(f"{name} must be <= 2**53 - 1, got {array[_first(too_big)]}")
    ids = array.astype(np.int64)
    out_of_range = (ids < 0) | (ids > MAX_ID)
    if out_of_range.any():
        raise ValueError(
            f"{name} must be in [0, 2**53 - 1], got {ids[_first(out_of_range)]} "
            f"at position {_first(out_of_range)}"
        )
    return ids


def unique_ids(ids: npt.NDArray[np.int64], name: str = "indices") -> npt.NDArray[np.int64]:
    """Check that ids are distinct.

    Raises:
        ValueError: naming a repeated id.
    """
    uniq, counts = np.unique(ids, return_counts=True)
    if uniq.size != ids.size:
        dupes = uniq[counts > 1]
        raise ValueError(f"{name} must be distinct; {dupes.size} repeat, e.g. {dupes[:5].tolist()}")
    return ids


def as_vectors(vectors: Any, dim: int, name: str = "vectors") -> npt.NDArray[np.float32]:
    """Convert a batch of vectors to a C-contiguous float32 ``(n, dim)`` array.

    Raises:
        ValueError: wrong shape or dimension, empty, non-numeric, NaN/inf, or an
            all-zero vector (its cosine similarity is undefined).
    """
    array = np.asarray(vectors)
    if (
        array.dtype == object
        or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer))
        or array.dtype == bool
    ):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (n, {dim}), got {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: nothing to do")
    if array.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns (dim={dim}), got {array.shape[1]}")
    with np.errstate(over="ignore"):  # values beyond float32 become inf, reported below
        result = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(result).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"{name} row {_first(~finite)} contains NaN or inf (or a value beyond float32 range)"
        )
    zero = ~result.any(axis=1)
    if zero.any():
        raise ValueError(f"{name} row {_first(zero)} is all zeros: cosine similarity is undefined")
    return result


def as_vector(vector: Any, dim: int, name: str = "vector") -> npt.NDArray[np.float32]:
    """Convert one vector to float32 ``(dim,)``; accepts ``(dim,)`` or ``(1, dim)``.

    Raises:
        ValueError: as :func:`as_vectors`.
    """
    array = np.asarray(vector)
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape ({dim},), got {array.shape}")
    return as_vectors(array.reshape(1, -1), dim, name).reshape(dim)


def check_positive_int(value: Any, name: str, allow_none: bool = False) -> int | None:
    """Check a positive integer argument."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def same_length(ids: Sequence[int] | npt.NDArray[np.int64], vectors: npt.NDArray[Any]) -> None:
    """Check that ids and vectors pair up.

    Raises:
        ValueError: if their lengths differ.
    """
    if len(ids) != len(vectors):
        raise ValueError(
            f"got {len(ids)} indices but {len(vectors)} vectors; they must pair up one to one"
        )
