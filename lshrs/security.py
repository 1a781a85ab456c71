"""The least privilege lshrs needs in Redis: an ACL rule for one index.

lshrs runs its scripts either as functions of the lshrs Redis Functions library
(FCALL / FCALL_RO; Redis 7+ and Valkey, once an administrator has installed the library
with ``lshrs install``) or with EVALSHA, loading them with SCRIPT LOAD (Redis 6.2, or no
library). Beside that it sends a few commands on its own keys, and INFO (to warn about
an evicting ``maxmemory-policy``; optional). redis-py's connection handshake also sends
optional ``CLIENT SETINFO`` / ``CLIENT MAINT_NOTIFICATIONS`` commands; it ignores their
refusal. The scripts run, under the caller's ACL user, the commands in
:data:`SCRIPT_COMMANDS` on keys under the index's root only. See docs/security.md.
"""

from __future__ import annotations

import redis

from lshrs.functions import has_functions, is_installed
from lshrs.keys import KeySpace

FUNCTION_COMMANDS = ("fcall", "fcall_ro")
"""How lshrs calls the installed library."""
EVALSHA_COMMANDS = ("evalsha", "script|load", "script|exists")
"""How lshrs calls its scripts without the library: as good as EVAL (any Lua)."""
CLIENT_COMMANDS = (
    "get",
    "hget",
    "hgetall",
    "hkeys",
    "hmget",
    "scan",
    "smembers",
    "mget",
    "mset",
    "unlink",
)
"""Commands lshrs sends itself besides calling scripts (``mget``/``mset``/``unlink``:
the Redis vector store)."""
SCRIPT_COMMANDS = (
    "del",
    "getrange",
    "hdel",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hlen",
    "hmget",
    "hscan",
    "hset",
    "hsetnx",
    "sadd",
    "scan",
    "scard",
    "set",
    "setrange",
    "sismember",
    "smembers",
    "srem",
    "sscan",
    "strlen",
    "type",
    "unlink",
)
"""Commands the scripts in ``lua/`` call (ACLs apply inside scripts and functions too)."""


def acl_rules(
    prefix: str, *, allow_info: bool = True, server: redis.Redis | None = None
) -> list[str]:
    """``ACL SETUSER`` rules that let a user run lshrs on one index and nothing else.

    The tightest set depends on the server, which ``server`` (an administrator's
    connection to it) tells:

    - Redis 7+ or Valkey with this version's library installed (``lshrs install``):
      ``+fcall +fcall_ro`` and no right to run Lua of the user's own;
    - Redis 7+ or Valkey without it: the EVALSHA rights, plus ``+fcall +fcall_ro`` so
      that the client's first call, which tries the library, is not refused (it
      grants nothing EVALSHA does not);
    - Redis 6.2, or no ``server``: the EVALSHA rights (``+evalsha +script|load
      +script|exists``), which allow any Lua.

    The key pattern escapes glob characters of the prefix, so ``prefix="a*"`` does
    not grant the keys of an index named ``ab``.

    Args:
        prefix: the index's ``redis_prefix``.
        allow_info: add ``+info`` so lshrs can warn about an evicting Redis.
        server: the Redis the user is for; its user needs ``+function|list`` (and
            ``+info``) there.

    Returns:
        Rules to append to ``ACL SETUSER <name> on >password``.

    Raises:
        ValueError: for an invalid prefix.

    Example:
        >>> " ".join(acl_rules("lsh"))
        'resetkeys ~{lsh}:* resetchannels -@all +del +evalsha +get +getrange +hdel +hexists +hget +hgetall +hincrby +hkeys +hlen +hmget +hscan +hset +hsetnx +info +mget +mset +sadd +scan +scard +script|exists +script|load +set +setrange +sismember +smembers +srem +sscan +strlen +type +unlink'
        >>> rules = acl_rules("lsh", server=redis.Redis.from_url(redis_url))
        >>> "+evalsha" in rules or ("+fcall" in rules and "+script|load" not in rules)
        True
    """  # noqa: E501
    commands = {*CLIENT_COMMANDS, *SCRIPT_COMMANDS}
    if allow_info:
        commands.add("info")
    if server is not None and is_installed(server):
        commands.update(FUNCTION_COMMANDS)
    else:
        commands.update(EVALSHA_COMMANDS)
        if server is not None and has_functions(server):
            commands.update(FUNCTION_COMMANDS)
    pattern = KeySpace(prefix).pattern.decode()
    return [
        "resetkeys",
        f"~{pattern}",
        "resetchannels",
        "-@all",
        *(f"+{c}" for c in sorted(commands)),
    ]
