"""Redis side of the index: encodes calls to the Lua scripts and maps their errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import redis
from redis.commands.core import Script

from lshrs.eviction import check_eviction_policy
from lshrs.keys import KeySpace, bucket_code
from lshrs.protocol import (
    ConfigMismatchError,
    NoConfigError,
    NotIndexedError,
    Protocol,
    ScriptError,
    parse_error,
    translate,
)
from lshrs.schemes.hyperplane import HashSignatures
from lshrs.scripts import Scripts
from lshrs.validation import as_ids

MAX_UNPACK = 7000
"""Arguments per Lua ``unpack``; larger calls are split by the scripts or by us."""
DELETE_IDS_PER_CALL = 5000
MIN_GROUP_SIZE = 2
"""Average ids per bucket in one insert call from which grouping them pays."""
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


@dataclass(frozen=True)
class BucketOperation:
    """One id with all its band signatures, as :meth:`RedisStorage.batch_add` takes it."""

    index: int
    signatures: HashSignatures


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def encode_insert(
    fingerprint: str, ids: npt.NDArray[np.int64], signatures: npt.NDArray[np.uint8]
) -> list[Any]:
    """ARGV of one insert call (see ``lua/insert.lua``), built without per-id loops.

    Ids are sorted so that ids sharing a reverse-index hash are adjacent. When the
    call's ids share buckets (at least :data:`MIN_GROUP_SIZE` per bucket on average,
    judged on band 0), the memberships are grouped by bucket so one SADD serves
    every id of a bucket; otherwise the call ends with ``"*"`` and the script
    derives each membership from the signatures, which saves three arguments per
    membership.

    Args:
        fingerprint: the index configuration's fingerprint.
        ids: int64, shape ``(n,)``, distinct.
        signatures: uint8, shape ``(n, num_bands, sig_bytes)``.
    """
    n, num_bands, width = signatures.shape
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    signatures = np.ascontiguousarray(signatures[order])

    id_list = ids.astype(np.bytes_).tolist()
    blob = f"V{num_bands * width}"
    pairs: list[Any] = [None] * (2 * n)
    pairs[0::2] = id_list
    pairs[1::2] = signatures.reshape(n, num_bands * width).view(blob).ravel().tolist()
    first_band = np.unique(signatures[:, 0].view(f"V{width}").ravel()).size
    if n < MIN_GROUP_SIZE * first_band:
        return [fingerprint, n, *pairs, "*"]

    id_bytes = np.empty(n, dtype=object)
    id_bytes[:] = id_list
    codes = np.empty((n, num_bands, 2 + width), dtype=np.uint8)
    bands = np.arange(num_bands)
    codes[:, :, 0] = bands >> 8
    codes[:, :, 1] = bands & 0xFF
    codes[:, :, 2:] = signatures
    codes = codes.reshape(n * num_bands, 2 + width)
    if 2 + width <= 8:
        padded = np.zeros((codes.shape[0], 8), dtype=np.uint8)
        padded[:, 8 - codes.shape[1] :] = codes
        keys = padded.view(">u8").ravel()
        by_bucket = np.argsort(keys, kind="stable")
        sorted_keys = keys[by_bucket]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    else:
        _, inverse = np.unique(codes, axis=0, return_inverse=True)
        by_bucket = np.argsort(inverse.ravel(), kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(inverse.ravel()[by_bucket]) != 0])
    sizes = np.diff(np.r_[starts, by_bucket.size])
    groups = starts.size

    section = np.empty(2 * groups + by_bucket.size, dtype=object)
    headers = starts + 2 * np.arange(groups)
    is_member = np.ones(section.size, dtype=bool)
    is_member[headers] = False
    is_member[headers + 1] = False
    section[headers] = codes[by_bucket[starts]].view(f"V{2 + width}").ravel().tolist()
    section[headers + 1] = sizes.astype(np.bytes_).tolist()
    section[is_member] = id_bytes[by_bucket // num_bands]
    return [fingerprint, n, *pairs, groups, *section.tolist()]


def count_collisions(
    members: bytes | str, limit: int
) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Rank ids by how often they appear in ``lua/gather.lua``'s reply.

    Args:
        members: space-separated decimal ids, one occurrence per bucket holding
            the id (bytes, or str from a ``decode_responses`` client).
        limit: how many ids to return at most.

    Returns:
        ``(total, ids, counts)``: the number of distinct ids, and the best ``limit``
        of them (int64 arrays), most appearances first, ties by smaller id.

    Example:
        >>> count_collisions(b"5 7 7 9 5", 2)
        (3, array([5, 7]), array([2, 2]))
    """
    ids, counts = np.unique(np.fromstring(members, dtype=np.int64, sep=" "), return_counts=True)
    total = ids.size
    if limit <= 0:
        return total, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if limit < total:
        # Keep every id whose count reaches the limit-th best, then order those.
        threshold = np.partition(counts, total - limit)[total - limit]
        keep = counts >= threshold
        ids, counts = ids[keep], counts[keep]
    order = np.lexsort((ids, -counts))[:limit]
    return total, ids[order], counts[order].astype(np.int64)


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
        url: a full ``redis://`` / ``rediss://`` (TLS) / ``unix://`` URL; overrides
            host, port, db and password.
        username: ACL username (optional).
        client: an existing ``redis.Redis`` to use instead of connecting.
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
        client: redis.Redis | None = None,
        **connection_kwargs: Any,
    ) -> None:
        self.keys = KeySpace(prefix)
        if client is None:
            if url is not None:
                client = redis.Redis.from_url(
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

    def _reattach(self) -> None:
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

    def _run(self, script: str | Script, args: Sequence[Any], client: Any = None) -> Any:
        """Run a script (by name, or one of :attr:`scripts`) with this index's root.

        Raises:
            lshrs.protocol.ScriptError: the typed error of a refused call, told for
                this index (:meth:`_friendly`).
        """
        if isinstance(script, Script):
            script = next(name for name, s in self.protocol.scripts.items() if s is script)
        try:
            return self.protocol.call(script, self.keys.root, args, client)
        except ScriptError as error:
            friendly = self._friendly(error)
            if friendly is error:
                raise
            raise friendly from error

    def _execute(self, pipe: Any) -> list[Any]:
        """``pipe.execute()`` of queued script calls, their errors as :meth:`_run`'s."""
        try:
            replies: list[Any] = pipe.execute()
        except redis.ResponseError as error:
            typed = translate(error)
            if not isinstance(typed, ScriptError):
                raise
            raise self._friendly(typed) from error
        return replies

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
        return error

    def _no_config_message(self) -> str:
        return f"index {self.prefix!r} has no configuration in Redis"

    def _no_config(self) -> NoConfigError:
        root = self.keys.root.decode(errors="backslashreplace")
        return NoConfigError("NO_CONFIG", root, self._no_config_message())

    def insert_batches(
        self, batches: Sequence[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]]
    ) -> int:
        """Insert (or move) ids: one atomic script call per ``(ids, signatures)`` batch,
        all sent in one pipeline. Returns how many ids were new.

        If the index was cleared meanwhile, its configuration is written again and the
        calls are sent again (inserts are idempotent).
        """
        for attempt in range(2):
            fingerprint = self._fingerprint()
            calls = [encode_insert(fingerprint, ids, sigs) for ids, sigs in batches]
            try:
                if len(calls) == 1:
                    return int(self._run("insert", calls[0]))
                pipe = self.client.pipeline(transaction=False)
                for args in calls:
                    self.protocol.call("insert", self.keys.root, args, client=pipe)
                return sum(int(added) for added in self._execute(pipe))
            except NoConfigError:
                if attempt == 0:
                    self._reattach()
                    continue
                raise
        raise AssertionError("unreachable")

    def insert(self, ids: npt.NDArray[np.int64], signatures: npt.NDArray[np.uint8]) -> int:
        """Insert (or move) ids in one atomic call; returns how many were new."""
        return self.insert_batches([(ids, signatures)])

    def delete(self, ids: npt.NDArray[np.int64]) -> int:
        """Remove ids; each call of the delete script is atomic. Returns how many went."""
        id_bytes = np.unique(ids).astype(np.bytes_).tolist()
        if len(id_bytes) <= DELETE_IDS_PER_CALL:
            return int(self._run("delete", id_bytes))
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(id_bytes), DELETE_IDS_PER_CALL):
            self.protocol.call(
                "delete", self.keys.root, id_bytes[start : start + DELETE_IDS_PER_CALL], pipe
            )
        return sum(int(removed) for removed in self._execute(pipe))

    def query(
        self, codes: Sequence[bytes], limit: int
    ) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Collision-counted candidates of these bucket codes, in one round trip.

        One call of ``lua/gather.lua`` reads the buckets; the collisions are counted
        here, in numpy, so Redis spends its time only on reading (see the script's
        header). Same result as ``lua/query.lua``.

        Returns:
            ``(total, ids, counts)``: the number of distinct candidates, and the best
            ``limit`` of them (int64 arrays), most collisions first, ties by id.
        """
        fingerprint = self.fingerprint or self._fingerprint_or_none()
        if fingerprint is None:
            return 0, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        members = self._run("gather", [fingerprint, *codes])
        return count_collisions(members, limit)

    def _fingerprint_or_none(self) -> str | None:
        try:
            return self._fingerprint()
        except NoConfigError:
            return None

    def clear(self) -> int:
        """Delete every key of this index, in bounded batches. Returns keys deleted."""
        cursor: bytes | str = b"0"
        deleted = 0
        while True:
            cursor, count = self._run("clear", [cursor, CLEAR_SCAN_COUNT])
            deleted += int(count)
            if _text(cursor) == "0":
                return deleted

    # -- the documented low-level API --------------------------------------------------

    def add_to_bucket(self, band_id: int, signature: bytes, index: int) -> None:
        """Move an indexed id into the bucket ``(band_id, signature)`` of one band.

        Ids enter the index with all their bands at once (:meth:`batch_add`); a
        single band of a new id would leave it half-indexed, so this only moves ids.

        Raises:
            ValueError: if ``index`` is not indexed, or the band or signature is invalid.
        """
        ids = as_ids([index], "index")
        try:
            self._run(
                "move",
                [self._fingerprint(), ids.astype(np.bytes_)[0], int(band_id), bytes(signature)],
            )
        except NotIndexedError as error:
            raise error.with_message(
                f"index {index} is not in the index; add ids with all their bands "
                "(RedisStorage.batch_add or LSHRS.index), then move bands with add_to_bucket"
            ) from error

    def get_bucket(self, band_id: int, signature: bytes) -> set[int]:
        """Ids in the bucket ``(band_id, signature)``."""
        members = self.client.smembers(self.keys.bucket(bucket_code(band_id, signature)))
        return {int(member) for member in members}

    def batch_add(self, operations: Sequence[BucketOperation]) -> int:
        """Insert ids with all their band signatures, atomically. Returns how many were new.

        Raises:
            ValueError: if ids repeat or an id's signatures do not match the index.
        """
        config = self.config()
        if not config:
            raise self._no_config()
        num_bands, width = int(config["num_bands"]), int(config["sig_bytes"])
        ids = as_ids([op.index for op in operations], "operations' indices")
        if np.unique(ids).size != ids.size:
            raise ValueError("operations must name each index once")
        signatures = np.zeros((len(operations), num_bands, width), dtype=np.uint8)
        for row, op in enumerate(operations):
            bands = op.signatures.bands
            if len(bands) != num_bands or any(len(sig) != width for sig in bands):
                raise ValueError(
                    f"index {op.index}: expected {num_bands} band signatures of {width} "
                    f"bytes, got {[len(sig) for sig in bands]}"
                )
            signatures[row] = np.frombuffer(b"".join(bands), dtype=np.uint8).reshape(
                num_bands, width
            )
        return self.insert(ids, signatures)

    def remove_indices(self, indices: Sequence[int]) -> int:
        """Remove ids from all their buckets. Returns how many were indexed."""
        return self.delete(as_ids(indices))

    def close(self) -> None:
        self.client.close()
