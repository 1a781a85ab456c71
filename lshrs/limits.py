"""Work bounds: how much one script call may do inside Redis, how much one query may
read, and the largest configuration and query settings an index accepts.

Redis runs one script call at a time and serves nobody else meanwhile, so every call
lshrs sends is sized by the work it does there: memberships written or removed
(ids x bands), bucket members read, record bytes copied. This module is the one owner
of those sizes; ``lua/`` enforces the same per-call maxima, so a client in another
language cannot exceed them either (docs/reliability.md, "Bounded time in Redis").

A call that reaches its bound is followed by another call, sent after the reply:
Redis runs the calls that arrive in one read back to back, so pipelined calls would
hold it together.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

# -- per call ------------------------------------------------------------------------

MEMBERSHIPS_PER_CALL = 1024
"""Bucket memberships (ids x bands) one insert or delete call writes or removes at
most; a single id with more bands than this goes alone."""
READ_UNITS_PER_CALL = 16384
"""What one gather or query call reads at most, in units: 16 per bucket, plus one per
member read whole, plus two per member of a cut bucket (``lua/includes/buckets.lua``
holds the same)."""
CODES_PER_CALL = 8192
"""Bucket codes one gather or query call accepts at most (the scripts refuse more)."""
BUCKET_READ_LIMIT = 8192
"""Members a query reads from one bucket at most; a larger bucket is cut
(``lua/includes/buckets.lua`` holds the same)."""
VERIFY_UNITS_PER_CALL = 8192
"""What one verify or verify_part call of a bucket index checks at most, in units: 16
per key, plus one per bucket member or reverse entry read, plus one per membership
checked (``lua/includes/checks.lua`` holds the same). A larger bucket or reverse-index
hash is checked in slices, one call each."""
SCAN_BYTES_PER_CALL = 1 << 21
"""Record bytes one ``ivf_scan`` call returns at most (``lua/ivf_scan.lua`` refuses more)."""
IVF_RECORDS_PER_CALL = 250
"""Records one IVF-PQ insert call writes, or one verify call checks, at most."""
IVF_IDS_PER_DELETE = 256
"""Ids one IVF-PQ delete call removes at most."""
COMPACT_BYTES_PER_CALL = 1 << 20
"""Record bytes the compaction calls of the lists rewrite per call, about."""
COPY_BYTES_LIMIT = 1 << 21
"""Live bytes above which a list is never rewritten as a whole (shrink or compaction:
``lua/includes/lists.lua`` holds the same)."""

MAX_LIST_BYTES = 1 << 22
"""Record bytes one IVF-PQ list may hold (``lua/includes/lists.lua`` holds the same):
Redis copies a string when it outgrows its allocation, so a longer list would hold
Redis longer each time it grows."""

# -- per query -----------------------------------------------------------------------

MEMBERS_PER_QUERY = 1 << 18
"""Bucket members one query reads at most, over its gather calls."""
SCAN_BYTES_PER_QUERY = 1 << 24
"""Record bytes one IVF-PQ query reads at most, over its ``ivf_scan`` calls."""

# -- what an index and its queries may declare ---------------------------------------

MAX_DIM = 65536
MAX_BANDS = 1024
MAX_ROWS_PER_BAND = 64
MAX_EXTRA_PROBES = 4096
MAX_NPROBE = 4096
MAX_RERANK_CANDIDATES = 100_000
MAX_TOPK = 100_000
MAX_MODEL_BYTES = 1 << 25
"""Bytes of the model key (planes, centroids, codebooks): one SET when the index is
created, one GET when a client opens it."""


class ReadLimitWarning(UserWarning):
    """A query read fewer candidates than its buckets or lists hold, because of a
    bound of this module: its results come from the part it read."""


def cost_runs(costs: Any, budget: int) -> list[slice]:
    """Consecutive runs of items whose ``costs`` add up to at most ``budget``; an item
    costing more than ``budget`` forms a run alone.

    Example:
        >>> cost_runs([3, 3, 3, 9, 1], 6)
        [slice(0, 2, None), slice(2, 3, None), slice(3, 4, None), slice(4, 5, None)]
    """
    runs: list[slice] = []
    start, total = 0, 0
    for position, cost in enumerate(np.asarray(costs, dtype=np.int64).tolist()):
        if position > start and total + cost > budget:
            runs.append(slice(start, position))
            start, total = position, 0
        total += cost
    if len(costs):
        runs.append(slice(start, len(costs)))
    return runs


def ids_per_call(num_bands: int, memberships: int = MEMBERSHIPS_PER_CALL) -> int:
    """Ids of one insert or delete call of a bucket index: ``memberships // num_bands``,
    at least one.

    Example:
        >>> ids_per_call(16), ids_per_call(4096), ids_per_call(1024, memberships=1000)
        (64, 1, 1)
    """
    return max(1, memberships // num_bands)


def check_limit(value: Any, name: str, high: int, fix: str, low: int = 0) -> int:
    """An integer setting in ``[low, high]``.

    Raises:
        ValueError: naming the setting, the range, the value and ``fix``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer in [{low}, {high:,}], got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high:,}], got {value:,}; {fix}")
    return int(value)


def warn_cut(what: str, fix: str) -> None:
    """Warn with :class:`ReadLimitWarning` that a query read only part of ``what``."""
    warnings.warn(f"{what}; {fix}", ReadLimitWarning, stacklevel=4)


def check_query_settings(extra_probes: Any, rerank_candidates: Any) -> tuple[int, int]:
    """``extra_probes`` in ``[0, MAX_EXTRA_PROBES]`` and ``rerank_candidates`` in
    ``[1, MAX_RERANK_CANDIDATES]``.

    Raises:
        ValueError: naming the setting, its range, the value and the fix.
    """
    probes = check_limit(
        extra_probes,
        "extra_probes",
        MAX_EXTRA_PROBES,
        "each probe reads one more bucket; pass a smaller extra_probes",
    )
    candidates = check_limit(
        rerank_candidates,
        "rerank_candidates",
        MAX_RERANK_CANDIDATES,
        "each candidate's vector is fetched for the rerank; pass a smaller rerank_candidates",
        low=1,
    )
    return probes, candidates


def check_scheme(scheme: Any) -> None:
    """The shape of an index a scheme declares: ``dim``, ``num_bands``,
    ``rows_per_band``, ``nprobe`` and the bytes of its model, within this module's
    maxima.

    Raises:
        ValueError: naming the first setting out of range and the fix.
    """
    check_limit(scheme.dim, "dim", MAX_DIM, "reduce the vectors' dimension first", low=1)
    check_limit(
        scheme.num_bands,
        "num_bands",
        MAX_BANDS,
        "every id costs one bucket membership per band; use fewer bands",
        low=1,
    )
    rows = getattr(scheme, "rows_per_band", None)
    if rows is not None:
        check_limit(rows, "rows_per_band", MAX_ROWS_PER_BAND, "use at most 64 bits per band", low=1)
    nprobe = getattr(scheme, "nprobe", None)
    if nprobe is not None:
        check_limit(
            nprobe, "nprobe", MAX_NPROBE, "each probe reads one more list; use a smaller nprobe", 1
        )
    size = len(scheme.model_blob())
    if size > MAX_MODEL_BYTES:
        raise ValueError(
            f"the model of {scheme.fingerprint!r} takes {size:,} bytes; an index's model "
            f"key holds at most {MAX_MODEL_BYTES:,} (written and read in one command): "
            "use fewer lists, bands or rows, or a smaller dimension"
        )
