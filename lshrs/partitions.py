"""Which partition holds an id, and the prefix each partition's keys live under.

An index of ``S`` partitions is ``S`` complete indexes, each under its own Redis
Cluster hash tag, so a cluster spreads them over its masters. Both rules here are
public protocol (docs/lua-protocol.md): a client in another language computes the
same partition and the same key names.

- **Routing.** Id ``i`` belongs to partition
  ``((i * 0x9E3779B97F4A7C15) mod 2**64 >> 32) mod S`` (Fibonacci hashing: the high
  half of a 64-bit multiplicative hash), so consecutive ids spread evenly.
- **Key names.** Partition ``p`` of ``S`` lives under the prefix
  ``<prefix>:<p>:<k>``, root ``{<prefix>:<p>:<k>}:``, where ``k`` is the smallest
  integer ``>= 0`` whose hash slot (CRC16 of ``<prefix>:<p>:<k>`` mod 16384, as Redis
  Cluster computes it) lies in the ``p``-th of ``S`` equal slot ranges:
  ``slot * S // 16384 == p``. A cluster whose masters hold equal slot ranges in order
  (what ``redis-cli --cluster create`` assigns) then has partition ``p`` on master
  ``p * masters // S``: the partitions are spread as evenly as the slots.

With ``S = 1`` there is no partitioning: the index lives under ``{<prefix>}:``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

ROUTING_MULTIPLIER = 0x9E3779B97F4A7C15
"""2**64 divided by the golden ratio, odd: the multiplier of :func:`partition_of`."""
MAX_PARTITIONS = 1024
"""Partitions of one index at most: queries send one call to each."""


def check_partitions(partitions: object) -> int:
    """Check a number of partitions and return it.

    Raises:
        ValueError: unless an integer in ``[1, MAX_PARTITIONS]``.
    """
    if (
        isinstance(partitions, bool)
        or not isinstance(partitions, (int, np.integer))
        or not 1 <= partitions <= MAX_PARTITIONS
    ):
        raise ValueError(
            f"partitions must be an integer in [1, {MAX_PARTITIONS}], got {partitions!r}; "
            "use about as many as the cluster has masters (1 on a single Redis)"
        )
    return int(partitions)


def partition_of(ids: npt.NDArray[np.int64], partitions: int) -> npt.NDArray[np.int64]:
    """The partition of each id.

    Args:
        ids: int64 ``(n,)``, ids in ``[0, 2**53 - 1]``.
        partitions: ``S``, the index's number of partitions.

    Returns:
        int64 ``(n,)`` partition numbers in ``[0, S)``.

    Example:
        >>> partition_of(np.array([0, 1, 2, 3, 4, 5]), 3).tolist()
        [0, 0, 2, 0, 2, 2]
    """
    hashed = ids.astype(np.uint64) * np.uint64(ROUTING_MULTIPLIER)
    routed: npt.NDArray[np.int64] = ((hashed >> np.uint64(32)) % np.uint64(partitions)).astype(
        np.int64
    )
    return routed


def partition_prefix(prefix: str, partition: int, partitions: int) -> str:
    """The key prefix of one partition (without braces: :class:`lshrs.keys.KeySpace`
    adds the hash tag).

    Example:
        >>> [partition_prefix("lsh", p, 3) for p in range(3)]
        ['lsh:0:2', 'lsh:1:0', 'lsh:2:3']
    """
    suffix = 0
    while True:
        name = f"{prefix}:{partition}:{suffix}"
        if key_slot(name.encode()) * partitions // REDIS_CLUSTER_HASH_SLOTS == partition:
            return name
        suffix += 1


def partition_prefixes(prefix: str, partitions: int) -> list[str]:
    """The key prefixes of every partition, partition 0 first."""
    return [partition_prefix(prefix, p, partitions) for p in range(partitions)]
