"""Warn when the index is put in a Redis that may evict its keys.

An evicting Redis (``maxmemory-policy allkeys-*``) deletes arbitrary keys when full:
a bucket or a reverse-index hash of the index can vanish, silently losing ids or
leaving the index inconsistent. ``volatile-*`` policies only evict keys with a TTL,
and lshrs never sets one, so they behave like ``noeviction`` for the index.
"""

from __future__ import annotations

import warnings

import redis

from lshrs.cluster import Client

EVICTING_POLICIES = frozenset({"allkeys-lru", "allkeys-lfu", "allkeys-random"})


class EvictionPolicyWarning(UserWarning):
    """The Redis holding the index may evict its keys (see :func:`check_eviction_policy`)."""


def check_eviction_policy(client: Client) -> str | None:
    """Read the server's ``maxmemory_policy`` and warn if it may evict index keys.

    The policy is read from ``INFO memory`` (allowed on managed services that rename
    CONFIG); when even INFO is denied (an ACL without ``+info``) the check is skipped.

    Args:
        client: a connected client.

    Returns:
        The policy name, or None when the server would not tell.

    Warns:
        EvictionPolicyWarning: for ``allkeys-lru``, ``allkeys-lfu`` or ``allkeys-random``.

    Example:
        >>> check_eviction_policy(redis.Redis.from_url(redis_url))  # doctest: +SKIP
        'noeviction'
    """
    try:
        info = client.info("memory")
    except redis.ResponseError:
        return None
    policy = info.get("maxmemory_policy")
    if policy is None:
        return None
    policy = policy.decode() if isinstance(policy, bytes) else str(policy)
    if policy in EVICTING_POLICIES:
        warnings.warn(
            f"Redis maxmemory-policy is {policy}: when memory is full Redis deletes "
            "arbitrary keys, including this index's buckets and reverse entries, which "
            "loses ids silently. Keep the index in a Redis with maxmemory-policy "
            "noeviction (or a volatile-* policy, which never evicts lshrs keys: they "
            "have no TTL), and check it with LSHRS.verify().",
            EvictionPolicyWarning,
            stacklevel=3,
        )
    return policy
