"""Small helpers shared by the tests: snapshots of an index's Redis state."""

from __future__ import annotations

import redis

from lshrs.keys import KeySpace


def snapshot(client: redis.Redis, prefix: str) -> dict[bytes, object]:
    """Every key of the index with its full content, for before/after comparisons."""
    return contents(client, KeySpace(prefix).pattern)


def contents(client: redis.Redis, match: bytes | None = None) -> dict[bytes, object]:
    """Every key matching ``match`` (None: every key of the server) with its content."""
    state: dict[bytes, object] = {}
    for key in client.scan_iter(match=match, count=1000):
        kind = client.type(key)
        if kind == b"set":
            state[key] = frozenset(client.smembers(key))
        elif kind == b"hash":
            state[key] = client.hgetall(key)
        else:
            state[key] = client.get(key)
    return state


def buckets(client: redis.Redis, prefix: str) -> dict[bytes, frozenset[int]]:
    """Bucket code -> ids, read straight from Redis."""
    root = KeySpace(prefix).root + b"b"
    return {
        key[len(root) :]: frozenset(int(m) for m in members)
        for key, members in snapshot(client, prefix).items()
        if key.startswith(root) and isinstance(members, frozenset)
    }
