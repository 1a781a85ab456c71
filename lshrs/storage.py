"""Redis side of the index: encodes calls to the Lua scripts and maps their errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import redis
from redis.commands.core import Script

from lshrs import legacy
from lshrs.bucket_calls import MIN_GROUP_SIZE, count_collisions, encode_insert
from lshrs.cluster import MIGRATION_WAIT_S, Client, check_migration_wait, client_from_url
from lshrs.eviction import check_eviction_policy
from lshrs.keys import KeySpace
from lshrs.legacy import BucketOperation
from lshrs.limits import (
    BUCKET_READ_LIMIT,
    CODES_PER_CALL,
    MEMBERS_PER_QUERY,
    MEMBERSHIPS_PER_CALL,
    ids_per_call,
    warn_cut,
)
from lshrs.protocol import (
    ClearingError,
    ConfigMismatchError,
    NoConfigError,
    Protocol,
    ScriptError,
    parse_error,
)
from lshrs.scripts import Scripts

CLEAR_SCAN_COUNT = 1000

__all__ = [
    "BucketOperation",
    "NoConfigError",
    "RedisStorage",
    "count_collisions",
    "encode_insert",
    "script_error",
]


def script_error(error: redis.ResponseError) -> tuple[str, str] | None:
    """``(code, detail)`` of an lshrs script error, code with its ``LSHRS_`` prefix, or
    None for any other error. :func:`lshrs.protocol.translate` gives the typed exception.
    """
    parsed = parse_error(error)
    return None if parsed is None else (f"LSHRS_{parsed[0]}", parsed[1])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStorage:
    """Redis backend for bucket membership, through the scripts in ``lua/``.

    Every write is one atomic script call. Keys are built by :class:`KeySpace` from
    ``prefix`` and share one hash slot.

    Args:
        host: Redis hostname.
        port: Redis port.
        db: Redis database number.
        password: Redis password (optional).
        prefix: key prefix of this index; any characters but ``{`` and ``}``.
        decode_responses: passed to the redis-py client for the caller's own use of
            :attr:`client`; lshrs works either way.
        url: a full ``redis://`` / ``rediss://`` (TLS) / ``unix://`` URL, or
            ``redis+cluster://`` / ``rediss+cluster://`` for a Redis Cluster
            (:mod:`lshrs.cluster`); overrides host, port, db and password.
        username: ACL username (optional).
        client: an existing ``redis.Redis`` or ``redis.cluster.RedisCluster`` to use
            instead of connecting.
        memberships_per_call: memberships (ids x bands) per insert or delete call;
            each call is atomic and holds Redis while it runs (see :mod:`lshrs.limits`).
        min_group_size: see :func:`encode_insert`.
        migration_wait: on a Redis Cluster, seconds a call to a partition whose slot
            is migrating waits for the move to end before
            :class:`lshrs.cluster.PartitionMigratingError` (docs/cluster.md).
        **connection_kwargs: more ``redis.Redis`` arguments (timeouts, ``ssl_*``, ...).

    Example:
        >>> storage = RedisStorage(url=redis_url, prefix=prefix)  # doctest: +SKIP
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        password: str | None = None,
        prefix: str = "lsh",
        decode_responses: bool = False,
        *,
        url: str | None = None,
        username: str | None = None,
        client: Client | None = None,
        memberships_per_call: int = MEMBERSHIPS_PER_CALL,
        min_group_size: float = MIN_GROUP_SIZE,
        migration_wait: float = MIGRATION_WAIT_S,
        **connection_kwargs: Any,
    ) -> None:
        self.keys = KeySpace(prefix)
        self.memberships_per_call = memberships_per_call
        self.min_group_size = min_group_size
        if client is None:
            if url is not None:
                client = client_from_url(
                    url, decode_responses=decode_responses, **connection_kwargs
                )
            else:
                client = redis.Redis(
                    host=host,
                    port=port,
                    db=db,
                    password=password,
                    username=username,
                    decode_responses=decode_responses,
                    **connection_kwargs,
                )
        self.client = client
        self.protocol = Protocol(client)
        self.protocol.migration_wait = check_migration_wait(migration_wait)
        self.scripts = Scripts.of(self.protocol)
        """The bucket-index scripts by attribute; :attr:`protocol` calls them."""
        self.fingerprint: str | None = None
        self._attach_args: list[Any] | None = None

    @property
    def prefix(self) -> str:
        return self.keys.prefix

    # -- configuration -------------------------------------------------------------

    def attach(self, fingerprint: str, fields: dict[str, str], model: bytes) -> bool:
        """Create the index's configuration in Redis, or check it matches.

        Returns:
            True if this call created the index.

        Raises:
            ValueError: if the index exists with another configuration.

        Warns:
            lshrs.eviction.EvictionPolicyWarning: if Redis may evict the index's keys.
        """
        args: list[Any] = [fingerprint, model]
        for name, value in fields.items():
            args += [name, value]
        created = bool(self._run("init", args))
        check_eviction_policy(self.client)
        self.protocol.load_all()
        self.fingerprint = fingerprint
        self._attach_args = args
        return created

    def reattach(self) -> None:
        """Write the configuration this client attached with again (after a clear).

        Raises:
            NoConfigError: if this client never attached.
        """
        if self._attach_args is None:
            raise self._no_config()
        self._run("init", self._attach_args)

    def config(self) -> dict[str, str]:
        """The stored configuration (empty when the index does not exist)."""
        raw = self.client.hgetall(self.keys.config)
        return {_text(k): _text(v) for k, v in raw.items()}

    def count(self) -> int:
        """Number of indexed ids."""
        value = self.client.hget(self.keys.config, "count")
        return int(value) if value is not None else 0

    def _fingerprint(self) -> str:
        if self.fingerprint is not None:
            return self.fingerprint
        stored = self.client.hget(self.keys.config, "fingerprint")
        if stored is None:
            raise self._no_config()
        return _text(stored)

    # -- script calls ----------------------------------------------------------------

    def _run(self, script: str | Script, args: Sequence[Any]) -> Any:
        """Run a script (by name, or one of :attr:`scripts`) with this index's root.

        Raises:
            lshrs.protocol.ScriptError: the typed error of a refused call, told for
                this index (:meth:`_friendly`).
        """
        if isinstance(script, Script):
            script = next(name for name, s in self.protocol.scripts.items() if s is script)
        try:
            return self.protocol.call(script, self.keys.root, args)
        except ScriptError as error:
            friendly = self._friendly(error)
            if friendly is error:
                raise
            raise friendly from error

    def _friendly(self, error: ScriptError) -> ScriptError:
        """A script error told for this index: a configuration mismatch names both
        configurations and what to do; the others keep their message."""
        if isinstance(error, ConfigMismatchError):
            return error.with_message(
                f"index {self.prefix!r} in Redis was built as '{error.stored}' but this "
                f"client is '{error.given}'. Open it with the same parameters "
                "(LSHRS.load_from_disk of its saved model does that), or use another "
                "redis_prefix."
            )
        if isinstance(error, NoConfigError):
            return error.with_message(self._no_config_message())
        if isinstance(error, ClearingError):
            return error.with_message(self.clearing_message())
        return error

    def clearing_message(self) -> str:
        """What a refused write during a clear says, and how to finish an interrupted one."""
        return (
            f"index {self.prefix!r} is being cleared: writes are refused until the clear "
            "finishes. If no clear is running (one was interrupted), finish it with "
            f"RedisStorage(prefix={self.prefix!r}).clear()."
        )

    def _no_config_message(self) -> str:
        return f"index {self.prefix!r} has no configuration in Redis"

    def _no_config(self) -> NoConfigError:
        root = self.keys.root.decode(errors="backslashreplace")
        return NoConfigError("NO_CONFIG", root, self._no_config_message())

    def insert(self, ids: npt.NDArray[np.int64], signatures: npt.NDArray[np.uint8]) -> int:
        """Insert (or move) ids; returns how many were new.

        Calls carry at most :attr:`memberships_per_call` memberships (ids x bands), each
        atomic, sent one after another (:mod:`lshrs.limits`). If the index was cleared
        meanwhile, its configuration is written again and the call sent again (inserts
        are idempotent).
        """
        step = ids_per_call(signatures.shape[1], self.memberships_per_call)
        added = 0
        for start in range(0, ids.size, step):
            args = encode_insert(
                self._fingerprint(),
                ids[start : start + step],
                signatures[start : start + step],
                self.min_group_size,
            )
            try:
                added += int(self._run("insert", args))
            except NoConfigError:
                self.reattach()
                added += int(self._run("insert", args))
        return added

    def insert_many(self, ids: npt.NDArray[np.int64], signatures: npt.NDArray[np.uint8]) -> int:
        """The same as :meth:`insert`."""
        return self.insert(ids, signatures)

    def delete(self, ids: npt.NDArray[np.int64], num_bands: int | None = None) -> int:
        """Remove ids, in calls of at most :attr:`memberships_per_call` memberships, each
        atomic, one after another. Returns how many were removed.

        Args:
            ids: the ids; absent ones are skipped.
            num_bands: the index's bands (default: read from its configuration).
        """
        if num_bands is None:
            num_bands = int(self.config().get("num_bands", 1))
        id_bytes = np.unique(ids).astype(np.bytes_).tolist()
        step = ids_per_call(num_bands, self.memberships_per_call)
        return sum(
            int(self._run("delete", id_bytes[start : start + step]))
            for start in range(0, len(id_bytes), step)
        )

    def query(
        self, codes: Sequence[bytes], limit: int
    ) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Collision-counted candidates of these bucket codes.

        Calls of ``lua/gather.lua`` read the buckets, one after another, each within
        its bound; the collisions are counted here, in numpy, so Redis spends its time
        only on reading (see the script's header). Same result as ``lua/query.lua``.
        One call, one round trip, unless the buckets hold more members than one call
        reads (:mod:`lshrs.limits`).

        Returns:
            ``(total, ids, counts)``: the number of distinct candidates, and the best
            ``limit`` of them (int64 arrays), most collisions first, ties by id.

        Warns:
            lshrs.limits.ReadLimitWarning: when a bucket held more than
                :data:`~lshrs.limits.BUCKET_READ_LIMIT` members (it was cut), or the
                buckets more than :data:`~lshrs.limits.MEMBERS_PER_QUERY` in all (the
                codes after that point were not read).
        """
        fingerprint = self.fingerprint or self._fingerprint_or_none()
        if fingerprint is None:
            return 0, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        members, cut, unread = self.gather(fingerprint, list(codes))
        if cut or unread:
            warn_cut(
                f"a query read {cut} bucket(s) only in part (more than "
                f"{BUCKET_READ_LIMIT:,} members each) and left {unread} of {len(codes)} "
                f"buckets unread (a query reads {MEMBERS_PER_QUERY:,} members at most)",
                "more rows per band split the buckets; fewer extra_probes read fewer",
            )
        return count_collisions(members, limit)

    def gather(self, fingerprint: str, codes: list[bytes]) -> tuple[bytes, int, int]:
        """The members of the buckets of ``codes``, read by bounded gather calls.

        Returns:
            ``(members, cut, unread)``: space-separated members of every bucket read,
            how many buckets were cut, and how many codes were left unread because
            the query reached :data:`~lshrs.limits.MEMBERS_PER_QUERY`.
        """
        parts: list[bytes] = []
        position, cut, members = 0, 0, 0
        while position < len(codes) and members < MEMBERS_PER_QUERY:
            batch = codes[position : position + CODES_PER_CALL]
            text, read, cut_positions = self._run("gather", [fingerprint, *batch])
            if isinstance(text, str):
                text = text.encode()
            if text:
                parts.append(text)
                members += text.count(b" ") + 1
            cut += len(cut_positions)
            position += max(1, int(read))
        return b" ".join(parts), cut, len(codes) - position

    def _fingerprint_or_none(self) -> str | None:
        try:
            return self._fingerprint()
        except NoConfigError:
            return None

    def clear(self) -> int:
        """Delete every key of this index, in bounded batches. Returns keys deleted.

        The first batch marks the index as being cleared: until the last batch, which
        deletes the configuration and the model together, every write (from any
        client) raises :class:`lshrs.protocol.ClearingError`. Run it again to finish a
        clear that was interrupted.
        """
        cursor: bytes | str = b"0"
        deleted = 0
        while True:
            cursor, count = self._run("clear", [cursor, CLEAR_SCAN_COUNT])
            deleted += int(count)
            if _text(cursor) == "0":
                return deleted

    # -- the documented bucket-level API (lshrs.legacy) ---------------------------------

    def add_to_bucket(self, band_id: int, signature: bytes, index: int) -> None:
        """See :func:`lshrs.legacy.add_to_bucket`."""
        legacy.add_to_bucket(self, band_id, signature, index)

    def get_bucket(self, band_id: int, signature: bytes) -> set[int]:
        """See :func:`lshrs.legacy.get_bucket`."""
        return legacy.get_bucket(self, band_id, signature)

    def batch_add(self, operations: Sequence[BucketOperation]) -> int:
        """See :func:`lshrs.legacy.batch_add`."""
        return legacy.batch_add(self, operations)

    def remove_indices(self, indices: Sequence[int]) -> int:
        """See :func:`lshrs.legacy.remove_indices`."""
        return legacy.remove_indices(self, indices)

    def close(self) -> None:
        self.client.close()
