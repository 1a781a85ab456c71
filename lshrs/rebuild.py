"""Retraining a learned index: measure drift, rebuild under a new prefix, switch an alias.

Learned buckets are fixed at training time; vectors inserted later go to the nearest
trained bucket. When the data drifts, buckets grow uneven and a query's candidates
grow with them. Retrain then, build the new index beside the old one, and move
readers over by pointing an alias at the new prefix (docs/learned-buckets.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import redis

from lshrs.index import LSHRS
from lshrs.keys import alias_key, validate_prefix
from lshrs.schemes import SignatureScheme
from lshrs.storage import RedisStorage
from lshrs.validation import as_ids, as_vectors, unique_ids


def imbalance_factor(hasher: SignatureScheme, vectors: npt.ArrayLike) -> float:
    """How uneven the buckets of ``vectors`` are: ``k * sum(size^2) / (sum size)^2``
    over the ``k`` non-empty buckets, averaged over bands (FAISS's imbalance factor).

    1.0 means equal buckets; the expected number of candidates per probed bucket
    grows in proportion. Compare a sample of recent vectors with the training sample:
    a clear rise means the partition no longer fits the data.

    Args:
        hasher: any signature scheme.
        vectors: float ``(n, dim)``.

    Returns:
        The imbalance factor, >= 1.0.

    Example:
        >>> imbalance_factor(KMeansHasher.fit(sample, nlist=8), sample)  # doctest: +SKIP
        1.31
    """
    signatures = hasher.hash_batch(as_vectors(vectors, hasher.dim))
    factors = []
    for band in range(signatures.shape[1]):
        _, sizes = np.unique(signatures[:, band], axis=0, return_counts=True)
        factors.append(sizes.size * float((sizes**2).sum()) / float(sizes.sum()) ** 2)
    return float(np.mean(factors))


def rebuild(
    source: LSHRS,
    hasher: SignatureScheme,
    new_prefix: str,
    indices: Sequence[int] | npt.ArrayLike,
) -> LSHRS:
    """Build a new index with ``hasher`` under ``new_prefix`` on the source's Redis.

    Vectors are fetched with the source's ``vector_fetch_fn``, ``buffer_size`` at a
    time. The source index is not touched; writes made to it meanwhile are not
    copied (send them to both, or pause them, until :func:`switch_alias`).

    Args:
        source: the index in service; gives the Redis client, fetch function and
            query settings.
        hasher: the retrained scheme, for the same ``dim``.
        new_prefix: an unused ``redis_prefix``.
        indices: the ids to index.

    Returns:
        The new index, filled.

    Raises:
        ValueError: for a used ``new_prefix``, bad ids, or another ``dim``.
        RuntimeError: if the source has no ``vector_fetch_fn``.
    """
    validate_prefix(new_prefix)
    if source.vector_fetch_fn is None:
        raise RuntimeError("rebuild fetches vectors: the source needs a vector_fetch_fn")
    storage = RedisStorage(prefix=new_prefix, client=source.storage.client)
    if storage.config():
        raise ValueError(f"redis_prefix {new_prefix!r} already holds an index; pick an unused one")
    target = LSHRS(
        dim=source.dim,
        hasher=hasher,
        storage=storage,
        vector_fetch_fn=source.vector_fetch_fn,
        buffer_size=source.buffer_size,
        extra_probes=source.extra_probes,
        rerank_candidates=source.rerank_candidates,
    )
    ids = unique_ids(as_ids(indices))
    for start in range(0, ids.size, source.buffer_size):
        target.index(ids[start : start + source.buffer_size])
    return target


def switch_alias(client: redis.Redis, alias: str, prefix: str) -> str | None:
    """Point ``alias`` at ``prefix`` in one command; returns the prefix it pointed at.

    Readers call :func:`resolve_alias` when they (re)open the index.
    """
    previous = client.set(alias_key(alias), validate_prefix(prefix), get=True)
    return _text(previous) if isinstance(previous, (bytes, str)) else None


def resolve_alias(client: redis.Redis, alias: str) -> str:
    """The prefix ``alias`` points at.

    Raises:
        RuntimeError: if the alias was never set.

    Example:
        >>> current = resolve_alias(client, "docs")  # doctest: +SKIP
        >>> lsh = LSHRS.load_from_disk(path, redis_prefix=current)  # doctest: +SKIP
    """
    value = client.get(alias_key(alias))
    if value is None:
        raise RuntimeError(f"alias {alias!r} is not set: call switch_alias(client, alias, prefix)")
    return _text(value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
