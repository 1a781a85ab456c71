"""The lshrs scripts as one Redis Functions library (Redis 7+, Valkey), and installing it.

With the library installed, an application's ACL user needs ``+fcall +fcall_ro`` and
no right to run Lua of its own (``EVAL``, ``SCRIPT LOAD``, ``FUNCTION LOAD``), which
would let it exhaust memory or block the server. :func:`library_code` builds the
library at load time from the same ``lua/`` sources the EVALSHA path loads; names and
flags are :mod:`lshrs.protocol`'s. See docs/security.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import redis

from lshrs.protocol import (
    FUNCTIONS_FORMAT,
    SCRIPT_NAMES,
    function_name,
    library_name,
    script_flags,
    script_source,
)

LIBRARY_PATTERN = re.compile(r"lshrs_[0-9a-f]{12}")
"""Names of lshrs libraries, of any version."""


@cache
def library_code() -> str:
    """The source of this version's library, as ``FUNCTION LOAD`` takes it.

    One ``redis.register_function`` per script of ``lua/``, named by
    :func:`lshrs.protocol.function_name`, with the script's header flags; its callback
    is the expanded script (:func:`lshrs.protocol.script_source`) verbatim, after a line
    that binds the ``KEYS`` and ``ARGV`` the script reads to the callback's arguments.

    Example:
        >>> library_code().splitlines()[0] == "#!lua name=" + library_name()
        True
    """
    parts = [
        f"#!lua name={library_name()}",
        f"-- {FUNCTIONS_FORMAT}: the scripts of lshrs' lua/, one function each.",
    ]
    for name in SCRIPT_NAMES:
        flags = ", ".join(f"'{flag}'" for flag in script_flags(name))
        parts.append(
            "redis.register_function{\n"
            f"  function_name = '{function_name(name)}',\n"
            f"  flags = {{{flags}}},\n"
            "  callback = function(keys, args)\n"
            "local KEYS, ARGV = keys, args\n"
            f"{script_source(name).rstrip(chr(10))}\n"
            "end}"
        )
    return "\n".join(parts) + "\n"


def installed_libraries(client: redis.Redis) -> dict[str, str]:
    """The lshrs libraries loaded on the server, of every version: name -> code.

    Raises:
        redis.exceptions.ResponseError: on a server without Functions (Redis 6.2) or
            for a user without ``+function|list``.
    """
    reply = client.execute_command(  # type: ignore[no-untyped-call]
        "FUNCTION", "LIST", "LIBRARYNAME", "lshrs_*", "WITHCODE"
    )
    found = {}
    for entry in reply:
        fields = _fields(entry)
        name = _text(fields["library_name"])
        if LIBRARY_PATTERN.fullmatch(name):
            found[name] = _text(fields["library_code"])
    return found


def has_functions(client: redis.Redis) -> bool:
    """Whether the server has Redis Functions (Redis 7+, Valkey).

    Raises:
        redis.exceptions.RedisError: for a user without ``+function|list``, or a
            connection error.
    """
    try:
        client.execute_command("FUNCTION", "LIST", "LIBRARYNAME", "-")  # type: ignore[no-untyped-call]
    except redis.ResponseError as error:
        if "unknown command" in str(error).lower():
            return False
        raise
    return True


def is_installed(client: redis.Redis) -> bool:
    """Whether the server has this version's library, exactly as :func:`library_code`.

    False on a server without Functions.
    """
    return (
        has_functions(client) and installed_libraries(client).get(library_name()) == library_code()
    )


@dataclass
class InstallReport:
    """What :func:`install` did.

    Attributes:
        library: this version's library name.
        action: ``"installed"``, ``"replaced"`` or ``"already installed"``.
        others: the other lshrs versions still installed (clients of those versions
            use them until they upgrade).
        removed: the other versions removed (``prune=True``).
    """

    library: str
    action: str
    others: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as lines for a person.

        Example:
            >>> InstallReport("lshrs_0123456789ab", "installed", ["lshrs_ba9876543210"]).lines()
            ['installed lshrs_0123456789ab (... functions)', 'other lshrs versions still installed: lshrs_ba9876543210 (their clients use them; remove them with --prune once no client does)']
        """  # noqa: E501
        lines = [f"{self.action} {self.library} ({len(SCRIPT_NAMES)} functions)"]
        lines += [f"removed {name}" for name in self.removed]
        if self.others:
            lines.append(
                f"other lshrs versions still installed: {', '.join(self.others)} (their "
                "clients use them; remove them with --prune once no client does)"
            )
        return lines


def install(client: redis.Redis, *, replace: bool = False, prune: bool = False) -> InstallReport:
    """Load this version's library unless the server has it already: idempotent.

    Other versions' libraries stay (their functions have other names), so clients of
    several versions can run during a rolling upgrade.

    Args:
        client: a connection whose user may run ``FUNCTION LOAD``/``LIST`` (and
            ``DELETE`` with ``prune``), to a Redis 7+ or Valkey primary. Functions are
            replicated to replicas and persisted; in a cluster, install on every primary.
        replace: load the library again even when it is there (``FUNCTION LOAD
            REPLACE``), e.g. to restore a library someone altered.
        prune: also delete the libraries of every other lshrs version.

    Returns:
        What was done.

    Raises:
        RuntimeError: on a server without Functions, or when a library of this name
            holds other code and ``replace`` is not given.
        redis.exceptions.RedisError: a refused command (permissions), unchanged.

    Example:
        >>> admin = redis.Redis.from_url(redis_url)
        >>> install(admin).library == library_name() and is_installed(admin)  # doctest: +SKIP
        True
    """
    if not has_functions(client):
        raise RuntimeError(
            "this Redis has no Functions (they need Redis 7 or Valkey): lshrs calls its "
            "scripts with EVALSHA there, and needs no installation (see docs/security.md)"
        )
    name = library_name()
    present = installed_libraries(client)
    if name not in present:
        client.function_load(library_code())
        action = "installed"
    elif present[name] == library_code() and not replace:
        action = "already installed"
    elif replace:
        client.function_load(library_code(), replace=True)
        action = "replaced"
    else:
        raise RuntimeError(
            f"the library {name} on this server holds other code than this lshrs builds; "
            "load it again with `lshrs install --replace`"
        )
    others = sorted(other for other in present if other != name)
    report = InstallReport(name, action, others)
    if prune:
        for other in others:
            client.function_delete(other)
        report.removed, report.others = others, []
    return report


def _fields(entry: Any) -> dict[str, Any]:
    if isinstance(entry, dict):
        return {_text(key): value for key, value in entry.items()}
    return {_text(key): value for key, value in zip(entry[::2], entry[1::2], strict=True)}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
