"""The least privilege lshrs needs in Redis: an ACL rule for one index.

lshrs sends only EVALSHA (its scripts), SCRIPT LOAD / SCRIPT EXISTS (redis-py reloads
scripts after a SCRIPT FLUSH or a restart), a few reads of its own keys, and INFO
(to warn about an evicting ``maxmemory-policy``; optional). redis-py's connection
handshake also sends optional ``CLIENT SETINFO`` / ``CLIENT MAINT_NOTIFICATIONS``
commands; it ignores their refusal. Its scripts run, under
the caller's ACL user, the commands in :data:`SCRIPT_COMMANDS` on keys under the
index's root only. See docs/security.md.
"""

from __future__ import annotations

from lshrs.keys import KeySpace

CLIENT_COMMANDS = (
    "evalsha",
    "script|load",
    "script|exists",
    "get",
    "hget",
    "hgetall",
    "smembers",
    "mget",
    "mset",
    "unlink",
)
"""Commands lshrs sends itself (``mget``/``mset``/``unlink``: the Redis vector store)."""
SCRIPT_COMMANDS = (
    "hdel",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hmget",
    "hset",
    "hsetnx",
    "sadd",
    "scan",
    "scard",
    "set",
    "sismember",
    "smembers",
    "srem",
    "type",
    "unlink",
)
"""Commands the scripts in ``lua/`` call (ACLs apply inside scripts too)."""


def acl_rules(prefix: str, *, allow_info: bool = True) -> list[str]:
    """``ACL SETUSER`` rules that let a user run lshrs on one index and nothing else.

    The key pattern escapes glob characters of the prefix, so ``prefix="a*"`` does
    not grant the keys of an index named ``ab``.

    Args:
        prefix: the index's ``redis_prefix``.
        allow_info: add ``+info`` so lshrs can warn about an evicting Redis.

    Returns:
        Rules to append to ``ACL SETUSER <name> on >password``.

    Raises:
        ValueError: for an invalid prefix.

    Example:
        >>> " ".join(acl_rules("lsh"))
        'resetkeys ~{lsh}:* resetchannels -@all +evalsha +get +hdel +hexists +hget +hgetall +hincrby +hmget +hset +hsetnx +info +mget +mset +sadd +scan +scard +script|exists +script|load +set +sismember +smembers +srem +type +unlink'
    """  # noqa: E501
    commands = {*CLIENT_COMMANDS, *SCRIPT_COMMANDS}
    if allow_info:
        commands.add("info")
    pattern = KeySpace(prefix).pattern.decode()
    return [
        "resetkeys",
        f"~{pattern}",
        "resetchannels",
        "-@all",
        *(f"+{c}" for c in sorted(commands)),
    ]
