"""The Redis protocol of lshrs: its Lua scripts, how they load, and what their errors mean.

This module is the one owner of four rules:

- **Loading.** Every script of ``lua/`` is read once, with its ``--- @include "name"``
  lines replaced by ``lua/includes/<name>.lua`` (shared helpers written once), and
  registered once per client through :class:`Protocol`. redis-py's
  :class:`redis.commands.core.Script` calls it with EVALSHA and reloads it after a
  NOSCRIPT.
- **Naming the Functions library.** On Redis 7+ and Valkey an administrator may install
  the same scripts as one Redis Functions library (:mod:`lshrs.functions`). Its name,
  :func:`library_name`, carries a digest of every expanded script, and each function is
  ``<library name>_<script>`` (:func:`function_name`), so a client only ever calls
  functions made of exactly its own scripts. A script's Functions flags are the
  ``Flags`` line of its header (:func:`script_flags`).
- **Calling.** :meth:`Protocol.call` runs a script with the index root as its only key:
  FCALL (FCALL_RO for ``no-writes`` scripts) when the server has this version's
  library, EVALSHA otherwise.
- **Errors.** Scripts fail with ``LSHRS_<CODE> <detail>``; :func:`translate` turns
  that into the exception class :data:`ERRORS` names. The classes subclass
  ``ValueError`` or ``RuntimeError`` as the public API documents.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import (
    AskError,
    MovedError,
    NoPermissionError,
    NoScriptError,
    TryAgainError,
)

from lshrs.cluster import (
    MIGRATION_WAIT_S,
    Client,
    PartitionMigratingError,
    is_cluster,
    pipeline,
    route_scripts,
    send_unredirected,
)
from lshrs.replication import READ_ONLY_SCRIPTS, ReplicaWait, node_name

SCRIPT_NAMES = (
    "init",
    "insert",
    "delete",
    "query",
    "move",
    "clear",
    "gather",
    "verify",
    "verify_part",
    "recount",
    "semantic_id",
    "ivf_insert",
    "ivf_delete",
    "ivf_scan",
    "ivf_verify",
    "ivf_compact",
)
_INCLUDE = re.compile(r'^--- @include "([a-z_]+)"$', re.MULTILINE)
_SCRIPT_ERROR = re.compile(r"LSHRS_([A-Z_]+) ?(.*?)(?: script: \S+, on @\S+\.)?\s*$", re.DOTALL)
_FLAGS_LINE = re.compile(r"^  Flags {4}(.*)$", re.MULTILINE)
FUNCTION_FLAGS = ("no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys")
"""The flags Redis accepts in ``redis.register_function``."""
FUNCTIONS_FORMAT = "lshrs-functions/1"
"""The version of the library's layout (how scripts become functions); part of the digest."""
# Replies that mean "no function of this version here": the server has no Functions
# (Redis 6.2), this library is not loaded, or the user may not FCALL.
_NO_FUNCTION = re.compile(
    r"^Function not found|^unknown command|no permissions to run the 'fcall", re.IGNORECASE
)
_REDIRECTS = (AskError, TryAgainError)  # MovedError is an AskError
_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError)
_MIGRATION_PAUSE_S = 0.01
_MIGRATION_PAUSE_MAX_S = 0.2
_SCRIPTS_REFUSED = re.compile(r"no permissions to run the '(?:evalsha|script)", re.IGNORECASE)


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


@cache
def script_flags(name: str) -> tuple[str, ...]:
    """The Redis Functions flags of a script: its header's ``Flags`` line, e.g.
    ``Flags    no-writes`` (several: ``Flags    allow-oom, no-cluster``); none without.

    Raises:
        ValueError: for an unknown script or a flag Redis does not know.

    Example:
        >>> script_flags("query"), script_flags("insert")
        (('no-writes',), ())
    """
    match = _FLAGS_LINE.search(script_source(name))
    flags = tuple(match.group(1).split(", ")) if match else ()
    unknown = [flag for flag in flags if flag not in FUNCTION_FLAGS]
    if unknown:
        raise ValueError(
            f"script {name!r} has Flags {unknown}; Redis knows {', '.join(FUNCTION_FLAGS)}"
        )
    return flags


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@cache
def library_version() -> str:
    """The digest that names this client's Functions library: the first 12 hex digits
    of the SHA1 of :data:`FUNCTIONS_FORMAT`, a newline, then one line
    ``<script> <SHA1 of its expanded source>`` per script in name order.

    Any change to a script or to the library's layout changes it, so two versions of
    the library never share a name and can be installed side by side.
    """
    lines = [FUNCTIONS_FORMAT, *(f"{n} {_sha1(script_source(n))}" for n in sorted(SCRIPT_NAMES))]
    return _sha1("".join(line + "\n" for line in lines))[:12]


def library_name() -> str:
    """``lshrs_<library_version()>``: the library this client calls.

    Example:
        >>> re.fullmatch(r"lshrs_[0-9a-f]{12}", library_name()) is not None
        True
    """
    return f"lshrs_{library_version()}"


def function_name(name: str) -> str:
    """The function that runs script ``name``: ``lshrs_<version>_<name>``.

    Raises:
        ValueError: for a name that is not a script of ``lua/``.
    """
    if name not in SCRIPT_NAMES:
        raise ValueError(f"unknown script {name!r}; scripts: {', '.join(SCRIPT_NAMES)}")
    return f"{library_name()}_{name}"


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


class LibraryNotInstalledError(RuntimeError):
    """The server has Redis Functions but not this version's library, and the user may
    not load scripts either: an administrator must run ``lshrs install``."""


class ClearingError(ScriptError, RuntimeError):
    """A clear of the index is under way (or was interrupted): writes are refused
    until it finishes; nothing was written."""


class WrongTypeError(ScriptError, RuntimeError):
    """A key the call needs holds another type than the index keeps there (a key under
    the index's prefix that lshrs did not write); nothing was written. ``verify``
    reports it and ``verify(repair=True)`` removes it."""


class BadConfigError(ScriptError, RuntimeError):
    """The index's configuration in Redis holds a malformed field; nothing was written."""


ERRORS: dict[str, type[ScriptError]] = {
    "BAD_ARGUMENT": BadArgumentError,
    "CONFIG_MISMATCH": ConfigMismatchError,
    "NO_CONFIG": NoConfigError,
    "NOT_INDEXED": NotIndexedError,
    "CLEARING": ClearingError,
    "WRONG_TYPE": WrongTypeError,
    "BAD_CONFIG": BadConfigError,
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


def _ran(reply: Any) -> bool:
    """Whether a pipelined FCALL reached its function: a reply, or an lshrs error."""
    return not isinstance(reply, Exception) or (
        isinstance(reply, redis.ResponseError) and parse_error(reply) is not None
    )


class Protocol:
    """Every lshrs script on one client, called as a function of this version's Redis
    Functions library when the server has it, with EVALSHA otherwise.

    The path is chosen at the first call: FCALL is tried, and a server without
    Functions (Redis 6.2), without this library, or a user without ``+fcall`` makes
    the client use EVALSHA from then on. A library removed later is noticed the same
    way. A user that may neither call the library nor run scripts gets
    :class:`LibraryNotInstalledError`.

    Args:
        client: the redis-py client the scripts run on.

    Example:
        >>> protocol = Protocol(redis.Redis.from_url(redis_url))
        >>> protocol.call("ivf_scan", b"{no-such-index}:", ["fingerprint", 65536, 0, 7])
        [0, b'']
        >>> protocol.path in ("functions", "scripts")
        True
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.scripts: dict[str, Script] = {
            name: client.register_script(script_source(name)) for name in SCRIPT_NAMES
        }
        # On a cluster, redis-py finds an FCALL's key with a COMMAND GETKEYS round trip
        # per call, so scripts (whose key it reads from the arguments) serve it.
        self.path: str | None = None
        if isinstance(client, RedisCluster):
            route_scripts(client)
            self.path = "scripts"
        """``"functions"``, ``"scripts"`` (EVALSHA), or None before the first call."""
        self._no_library: redis.ResponseError | None = None
        self.wait: ReplicaWait | None = None
        """When set, every writing call is followed by ``WAIT`` (:mod:`lshrs.replication`)."""
        self.migration_wait: float = MIGRATION_WAIT_S
        """Seconds a call to a partition whose slot is migrating waits for the
        migration to end (on a cluster)."""

    def call(self, name: str, root: bytes, args: Sequence[Any]) -> Any:
        """Run script ``name`` with ``KEYS[1] = root``.

        Args:
            name: a script of :data:`SCRIPT_NAMES`.
            root: the index's hash-tagged key prefix (``b"{lsh}:"``).
            args: ``ARGV``.

        Raises:
            ScriptError: a subclass from :data:`ERRORS` when the script refuses.
            LibraryNotInstalledError: when the user may run neither this version's
                library nor scripts.
            lshrs.cluster.PartitionMigratingError: on a cluster, when the root's slot
                is still migrating after :attr:`migration_wait` seconds (the call did
                not run).
            redis.exceptions.RedisError: any other Redis error, unchanged.
        """
        if is_cluster(self.client) or (self.wait is not None and name not in READ_ONLY_SCRIPTS):
            # A write and its WAIT in one pipeline, so both use one connection; on a
            # cluster, the pipeline waits out a migration instead of following ASK.
            return self.call_each([(name, root, args)])[0]
        try:
            if self.path != "scripts":
                try:
                    reply = self._fcall(self.client, name, root, args)
                except redis.ResponseError as error:
                    if not self._lacks_library(error):
                        if parse_error(error) is not None:
                            self.path = "functions"
                        raise
                else:
                    self.path = "functions"
                    return reply
            try:
                return self.scripts[name](keys=[root], args=list(args))
            except NoPermissionError as error:
                raise self._explain(error) from error
        except redis.ResponseError as error:
            raise translate(error) from error

    def call_many(self, root: bytes, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Run several script calls in one pipeline: one round trip.

        Each call is atomic on its own; together they are not a transaction. Calls
        refused with NOSCRIPT (a restarted or flushed server), or because the library
        went away, did not run: they are sent again, once, as scripts.

        Args:
            root: the index's hash-tagged key prefix, ``KEYS[1]`` of every call.
            calls: ``(script name, ARGV)`` pairs.

        Returns:
            The replies, in the order of ``calls``.

        Raises:
            ScriptError: a subclass from :data:`ERRORS` for the first refused call
                (the other calls have run).
            LibraryNotInstalledError: as :meth:`call`.
            lshrs.cluster.PartitionMigratingError: as :meth:`call`.
            redis.exceptions.RedisError: any other Redis error, unchanged.
        """
        return self.call_each([(name, root, args) for name, args in calls])

    def call_each(self, calls: Sequence[tuple[str, bytes, Sequence[Any]]]) -> list[Any]:
        """Run script calls on several roots (the partitions of an index) in one
        pipeline, as :meth:`call_many` does on one root. On a Redis Cluster client the
        pipeline writes every node's calls before reading any reply, so all nodes work
        at once: one round trip.

        Args:
            calls: ``(script name, root, ARGV)`` triples.

        Returns:
            The replies, in the order of ``calls``.

        Raises:
            ScriptError: as :meth:`call_many`.
            LibraryNotInstalledError: as :meth:`call`.
            lshrs.cluster.PartitionMigratingError: as :meth:`call`; the calls to other
                partitions have run.
            lshrs.replication.NotReplicatedError: when waiting for replicas
                (:attr:`wait`) and fewer confirmed the writes.
            redis.exceptions.RedisError: any other Redis error, unchanged.
        """
        replies, waits = self._pipeline(calls)
        if self.path != "scripts":
            lost = [i for i, reply in enumerate(replies) if self._lacks_library(reply)]
            if lost:
                waits += self._resend(calls, replies, lost)
            elif self.path is None and any(_ran(reply) for reply in replies):
                self.path = "functions"
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            self.load_all()
            waits += self._resend(calls, replies, missing)
        for reply in replies:
            if isinstance(reply, NoPermissionError):
                raise self._explain(reply) from reply
            if isinstance(reply, redis.ResponseError):
                raise translate(reply) from reply
            if isinstance(reply, Exception):
                raise reply
        if self.wait is not None:
            for root, confirmed in waits:
                self.wait.check(confirmed, root)
        return replies

    def load_all(self) -> None:
        """SCRIPT LOAD every script in one pipeline, so the first calls run EVALSHA.

        Does nothing on a client that calls the Functions library.
        """
        if self.path == "functions":
            return
        if is_cluster(self.client):
            # redis-py sends SCRIPT LOAD to every master, but not from a pipeline.
            for script in self.scripts.values():
                self.client.script_load(script.script)
            return
        pipe = self.client.pipeline(transaction=False)
        for script in self.scripts.values():
            pipe.script_load(script.script)
        try:
            pipe.execute()
        except NoPermissionError as error:
            raise self._explain(error) from error

    def _fcall(self, client: Any, name: str, root: bytes, args: Sequence[Any]) -> Any:
        """FCALL (FCALL_RO for a ``no-writes`` script) of one call on ``client``."""
        command = client.fcall_ro if "no-writes" in script_flags(name) else client.fcall
        return command(function_name(name), 1, root, *args)

    def _lacks_library(self, reply: Any) -> bool:
        """Whether a reply to FCALL means this library cannot serve this client; if so,
        the client uses scripts from now on."""
        if not isinstance(reply, redis.ResponseError) or not _NO_FUNCTION.search(str(reply)):
            return False
        self.path = "scripts"
        self._no_library = reply
        return True

    def _resend(
        self,
        calls: Sequence[tuple[str, bytes, Sequence[Any]]],
        replies: list[Any],
        indexes: list[int],
        redirect: bool | None = None,
    ) -> list[tuple[bytes, Any]]:
        """Send the calls at ``indexes`` again and put their replies in ``replies``:
        as :meth:`_pipeline` does, or with :meth:`_send` when ``redirect`` is given."""
        subset = [calls[i] for i in indexes]
        again, waits = self._pipeline(subset) if redirect is None else self._send(subset, redirect)
        for i, reply in zip(indexes, again, strict=True):
            replies[i] = reply
        return waits

    def _pipeline(
        self, calls: Sequence[tuple[str, bytes, Sequence[Any]]]
    ) -> tuple[list[Any], list[tuple[bytes, Any]]]:
        """The calls' replies, and ``(root, WAIT reply)`` for each connection that wrote
        when waiting for replicas. On a cluster, calls to a migrating partition wait
        for the migration to end (:meth:`_wait_out_migrations`)."""
        if not is_cluster(self.client):
            return self._send(calls, redirect=True)
        replies, waits = self._send(calls, redirect=False)
        lost = [i for i, reply in enumerate(replies) if isinstance(reply, _CONNECTION_ERRORS)]
        if lost:
            # redis-py's own recovery (new slot map, retries with backoff).
            waits += self._resend(calls, replies, lost, redirect=True)
        waits += self._wait_out_migrations(calls, replies)
        return replies, waits

    def _wait_out_migrations(
        self, calls: Sequence[tuple[str, bytes, Sequence[Any]]], replies: list[Any]
    ) -> list[tuple[bytes, Any]]:
        """Send again, to the slot's owner, the calls redirected by ``ASK`` (their
        partition's slot is migrating, and the importing node holds only part of it),
        ``MOVED`` (after the slot map is updated) or ``TRYAGAIN``, until none is; an
        ``ASK`` after :attr:`migration_wait` seconds raises.

        Raises:
            PartitionMigratingError: a partition still migrating after the wait.
        """
        cluster = self.client
        assert isinstance(cluster, RedisCluster)
        waits: list[tuple[bytes, Any]] = []
        deadline = time.monotonic() + self.migration_wait
        pause = _MIGRATION_PAUSE_S
        while True:
            again = [i for i, reply in enumerate(replies) if isinstance(reply, _REDIRECTS)]
            if not again:
                return waits
            left = deadline - time.monotonic()
            if left <= 0:
                stuck = next((i for i in again if type(replies[i]) is AskError), again[0])
                first = replies[stuck]
                if type(first) is AskError:
                    raise PartitionMigratingError(
                        calls[stuck][1], self.migration_wait, f"{first.host}:{first.port}"
                    )
                raise first
            for i in again:
                if isinstance(replies[i], MovedError):
                    cluster.nodes_manager.move_slot(replies[i])
            if any(not isinstance(replies[i], MovedError) for i in again):
                time.sleep(min(pause, left))
                pause = min(2 * pause, _MIGRATION_PAUSE_MAX_S)
            waits += self._resend(calls, replies, again, redirect=False)

    def _send(
        self, calls: Sequence[tuple[str, bytes, Sequence[Any]]], redirect: bool
    ) -> tuple[list[Any], list[tuple[bytes, Any]]]:
        """One pipeline of the calls (and their WAITs); on a cluster, ``redirect=False``
        returns redirections as replies instead of following them."""
        pipe = pipeline(self.client)
        for name, root, args in calls:
            # Queued as plain commands: redis-py's Script in a pipeline adds a SCRIPT
            # EXISTS round trip to every execute (call_many reloads after NOSCRIPT),
            # and its cluster pipeline has no evalsha or fcall method.
            if self.path != "scripts":
                command = "FCALL_RO" if "no-writes" in script_flags(name) else "FCALL"
                pipe.execute_command(command, function_name(name), 1, root, *args)
            else:
                pipe.execute_command("EVALSHA", self.scripts[name].sha, 1, root, *args)
        waited = self._queue_waits(pipe, calls)
        replies = list(pipe.execute(raise_on_error=False) if redirect else send_unredirected(pipe))
        return replies[: len(calls)], list(zip(waited, replies[len(calls) :], strict=True))

    def _queue_waits(
        self, pipe: Any, calls: Sequence[tuple[str, bytes, Sequence[Any]]]
    ) -> list[bytes]:
        """Queue one ``WAIT`` per node the calls write to, after its writes (a pipeline
        uses one connection per node); the roots they were queued for."""
        if self.wait is None:
            return []
        last_write: dict[str, bytes] = {}
        for name, root, _ in calls:
            if name not in READ_ONLY_SCRIPTS:
                last_write[node_name(self.client, root)] = root
        for root in last_write.values():
            self.wait.queue(pipe, self.client, root)
        return list(last_write.values())

    def _explain(self, error: NoPermissionError) -> Exception:
        """EVALSHA or SCRIPT LOAD refused on a server that lacks this library: the
        library must be installed; any other refusal stays as it is."""
        if self._no_library is None or not _SCRIPTS_REFUSED.search(str(error)):
            return error
        return LibraryNotInstalledError(
            f"this client calls the Redis Functions library {library_name()} (its own "
            f"scripts), which the server does not serve to this user ({self._no_library}), "
            f"and the user may not run scripts either ({error}). An administrator installs "
            "the library with `lshrs install --redis-url <url>`; libraries of other lshrs "
            "versions do not serve this client."
        )
