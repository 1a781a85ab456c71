"""The Redis protocol of lshrs: its Lua scripts, how they load, and what their errors mean.

This module is the one owner of three rules:

- **Loading.** Every script of ``lua/`` is read once, with its ``--- @include "name"``
  lines replaced by ``lua/includes/<name>.lua`` (shared helpers written once), and
  registered once per client through :class:`Protocol`. redis-py's
  :class:`redis.commands.core.Script` calls it with EVALSHA and reloads it after a
  NOSCRIPT.
- **Calling.** :meth:`Protocol.call` runs a script with the index root as its only key.
- **Errors.** Scripts fail with ``LSHRS_<CODE> <detail>``; :func:`translate` turns
  that into the exception class :data:`ERRORS` names. The classes subclass
  ``ValueError`` or ``RuntimeError`` as the public API documents.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

SCRIPT_NAMES = (
    "init",
    "insert",
    "delete",
    "query",
    "move",
    "clear",
    "gather",
    "verify",
    "recount",
    "semantic_id",
    "ivf_insert",
    "ivf_delete",
    "ivf_scan",
    "ivf_verify",
    "ivf_compact",
)
_INCLUDE = re.compile(r'^--- @include "([a-z_]+)"$', re.MULTILINE)
_SCRIPT_ERROR = re.compile(
    r"LSHRS_([A-Z_]+) ?(.*?)(?: script: [0-9a-f]{40}, on @\S+\.)?\s*$", re.DOTALL
)


def lua_dir() -> Path:
    """``lua/`` of the installed package, or of the source tree."""
    packaged = Path(__file__).parent / "lua"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "lua"


@cache
def script_source(name: str) -> str:
    """The Lua source of a script by name, includes expanded, as Redis runs it.

    Raises:
        ValueError: for a name that is not a script of ``lua/``, or an unknown include.
    """
    if name not in SCRIPT_NAMES:
        raise ValueError(f"unknown script {name!r}; scripts: {', '.join(SCRIPT_NAMES)}")
    text = (lua_dir() / f"{name}.lua").read_text(encoding="utf-8")

    def include(match: re.Match[str]) -> str:
        path = lua_dir() / "includes" / f"{match.group(1)}.lua"
        if not path.is_file():
            raise ValueError(f"script {name!r} includes unknown {match.group(1)!r}")
        return path.read_text(encoding="utf-8").rstrip("\n")

    return _INCLUDE.sub(include, text)


_Error = TypeVar("_Error", bound="ScriptError")


class ScriptError(Exception):
    """A script refused a call: ``code`` (``"BAD_ARGUMENT"``, ...) and ``detail``."""

    def __init__(self, code: str, detail: str, message: str | None = None) -> None:
        self.code = code
        self.detail = detail
        super().__init__(message or f"LSHRS_{code}: {detail}")

    def with_message(self: _Error, message: str) -> _Error:
        """The same error (class, code, detail) told as ``message``, for a caller
        that knows the context (which index, what to do about it)."""
        return type(self)(self.code, self.detail, message)


class BadArgumentError(ScriptError, ValueError):
    """A script call had malformed arguments; nothing was written."""


class ConfigMismatchError(ScriptError, ValueError):
    """The index in Redis was built with another configuration than this client's."""

    def __init__(self, code: str, detail: str, message: str | None = None) -> None:
        stored, _, given = detail.partition(" | ")
        self.stored, self.given = stored, given
        super().__init__(code, detail, message)


class NoConfigError(ScriptError, RuntimeError):
    """The index has no configuration in Redis (never created, or cleared)."""


class NotIndexedError(ScriptError, ValueError):
    """An id the call needs is not in the index."""


ERRORS: dict[str, type[ScriptError]] = {
    "BAD_ARGUMENT": BadArgumentError,
    "CONFIG_MISMATCH": ConfigMismatchError,
    "NO_CONFIG": NoConfigError,
    "NOT_INDEXED": NotIndexedError,
}
"""Every error code a script raises, and the exception it becomes."""


def parse_error(error: redis.ResponseError) -> tuple[str, str] | None:
    """``(code, detail)`` of an lshrs script error (code without ``LSHRS_``), else None."""
    match = _SCRIPT_ERROR.search(str(error))
    return (match.group(1), match.group(2).strip()) if match else None


def translate(error: redis.ResponseError) -> Exception:
    """The typed exception for a script error; any other Redis error unchanged."""
    parsed = parse_error(error)
    if parsed is None:
        return error
    code, detail = parsed
    return ERRORS.get(code, ScriptError)(code, detail)


class Protocol:
    """Every lshrs script, registered once on one client.

    Args:
        client: the redis-py client the scripts run on.

    Example:
        >>> protocol = Protocol(redis.Redis.from_url(redis_url))
        >>> protocol.call("ivf_scan", b"{no-such-index}:", ["fingerprint", 65536, 0, 7])
        [0, b'']
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.scripts: dict[str, Script] = {
            name: client.register_script(script_source(name)) for name in SCRIPT_NAMES
        }

    def call(self, name: str, root: bytes, args: Sequence[Any], client: Any = None) -> Any:
        """Run script ``name`` with ``KEYS[1] = root``.

        Args:
            name: a script of :data:`SCRIPT_NAMES`.
            root: the index's hash-tagged key prefix (``b"{lsh}:"``).
            args: ``ARGV``.
            client: a pipeline to queue the call on (its errors surface at
                ``execute()``; pass them to :func:`translate`).

        Raises:
            ScriptError: a subclass from :data:`ERRORS` when the script refuses.
            redis.exceptions.RedisError: any other Redis error, unchanged.
        """
        try:
            return self.scripts[name](keys=[root], args=list(args), client=client)
        except redis.ResponseError as error:
            raise translate(error) from error

    def call_many(self, root: bytes, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Run several script calls in one pipeline: one round trip.

        Each call is atomic on its own; together they are not a transaction. Calls
        refused with NOSCRIPT (a restarted or flushed server) did not run: the
        scripts are loaded and those calls sent again, once.

        Args:
            root: the index's hash-tagged key prefix, ``KEYS[1]`` of every call.
            calls: ``(script name, ARGV)`` pairs.

        Returns:
            The replies, in the order of ``calls``.

        Raises:
            ScriptError: a subclass from :data:`ERRORS` for the first refused call
                (the other calls have run).
            redis.exceptions.RedisError: any other Redis error, unchanged.
        """
        replies = self._pipeline(root, calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            self.load_all()
            again = self._pipeline(root, [calls[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise translate(reply) from reply
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _pipeline(self, root: bytes, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        # EVALSHA queued directly: redis-py's Script in a pipeline adds a SCRIPT EXISTS
        # round trip to every execute.
        pipe = self.client.pipeline(transaction=False)
        for name, args in calls:
            pipe.evalsha(self.scripts[name].sha, 1, root, *args)
        return list(pipe.execute(raise_on_error=False))

    def load_all(self) -> None:
        """SCRIPT LOAD every script in one pipeline, so the first calls run EVALSHA."""
        pipe = self.client.pipeline(transaction=False)
        for script in self.scripts.values():
            pipe.script_load(script.script)
        pipe.execute()
