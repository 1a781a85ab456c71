"""The bucket scripts' wire format: ARGV of ``lua/insert.lua`` calls, built without
per-id loops, and the ranking of ``lua/gather.lua`` replies.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.similarity import best

MIN_GROUP_SIZE = 2
"""Average ids per bucket in one insert call from which grouping them pays."""


def encode_insert(
    fingerprint: str,
    ids: npt.NDArray[np.int64],
    signatures: npt.NDArray[np.uint8],
    min_group_size: float = MIN_GROUP_SIZE,
) -> list[Any]:
    """ARGV of one insert call (see ``lua/insert.lua``), built without per-id loops.

    Ids are sorted so that ids sharing a reverse-index hash are adjacent. When the
    call's ids share buckets (at least ``min_group_size`` per bucket on average,
    judged on band 0), the memberships are grouped by bucket so one SADD serves
    every id of a bucket; otherwise the call ends with ``"*"`` and the script
    derives each membership from the signatures, which saves three arguments per
    membership.

    Args:
        fingerprint: the index configuration's fingerprint.
        ids: int64, shape ``(n,)``, distinct.
        signatures: uint8, shape ``(n, num_bands, sig_bytes)``.
        min_group_size: average ids per bucket from which memberships are grouped;
            ``0`` always groups, ``inf`` never does.
    """
    n, num_bands, width = signatures.shape
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    signatures = np.ascontiguousarray(signatures[order])

    id_list = ids.astype(np.bytes_).tolist()
    blob = f"V{num_bands * width}"
    pairs: list[Any] = [None] * (2 * n)
    pairs[0::2] = id_list
    pairs[1::2] = signatures.reshape(n, num_bands * width).view(blob).ravel().tolist()
    first_band = np.unique(signatures[:, 0].view(f"V{width}").ravel()).size
    if n < min_group_size * first_band:
        return [fingerprint, n, *pairs, "*"]

    id_bytes = np.empty(n, dtype=object)
    id_bytes[:] = id_list
    codes = np.empty((n, num_bands, 2 + width), dtype=np.uint8)
    bands = np.arange(num_bands)
    codes[:, :, 0] = bands >> 8
    codes[:, :, 1] = bands & 0xFF
    codes[:, :, 2:] = signatures
    codes = codes.reshape(n * num_bands, 2 + width)
    if 2 + width <= 8:
        padded = np.zeros((codes.shape[0], 8), dtype=np.uint8)
        padded[:, 8 - codes.shape[1] :] = codes
        keys = padded.view(">u8").ravel()
        by_bucket = np.argsort(keys, kind="stable")
        sorted_keys = keys[by_bucket]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    else:
        _, inverse = np.unique(codes, axis=0, return_inverse=True)
        by_bucket = np.argsort(inverse.ravel(), kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(inverse.ravel()[by_bucket]) != 0])
    sizes = np.diff(np.r_[starts, by_bucket.size])
    groups = starts.size

    section = np.empty(2 * groups + by_bucket.size, dtype=object)
    headers = starts + 2 * np.arange(groups)
    is_member = np.ones(section.size, dtype=bool)
    is_member[headers] = False
    is_member[headers + 1] = False
    section[headers] = codes[by_bucket[starts]].view(f"V{2 + width}").ravel().tolist()
    section[headers + 1] = sizes.astype(np.bytes_).tolist()
    section[is_member] = id_bytes[by_bucket // num_bands]
    return [fingerprint, n, *pairs, groups, *section.tolist()]


def count_collisions(
    members: bytes | str, limit: int
) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Rank ids by how often they appear in ``lua/gather.lua``'s reply.

    Args:
        members: space-separated decimal ids, one occurrence per bucket holding
            the id (bytes, or str from a ``decode_responses`` client).
        limit: how many ids to return at most.

    Returns:
        ``(total, ids, counts)``: the number of distinct ids, and the best ``limit``
        of them (int64 arrays), most appearances first, ties by smaller id. Members
        that are not ids (written into a bucket by something else than lshrs; verify
        reports them) are skipped.

    Example:
        >>> count_collisions(b"5 7 7 9 5", 2)
        (3, array([5, 7]), array([2, 2]))
    """
    ids, counts = np.unique(_member_ids(members), return_counts=True)
    order = best(counts, ids, limit)
    return ids.size, ids[order], counts[order].astype(np.int64)


def _member_ids(members: bytes | str) -> npt.NDArray[np.int64]:
    """The ids of a gather reply: parsed in C, or token by token when a member is no id."""
    text = members.encode() if isinstance(members, str) else members
    tokens = text.count(b" ") + 1 if text else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ids = np.fromstring(text, dtype=np.int64, sep=" ")
    except ValueError:
        ids = np.empty(0, dtype=np.int64)
    if ids.size == tokens and (ids.size == 0 or (ids.min() >= 0 and ids.max() < 2**53)):
        return ids
    kept = [int(token) for token in text.split() if token.isdigit() and int(token) < 2**53]
    return np.array(kept, dtype=np.int64)
