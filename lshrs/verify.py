"""Consistency check and repair of an index in Redis, against its reverse index.

Every write of lshrs is one atomic script call, so a healthy index always satisfies:
each id in a bucket has a reverse entry naming that bucket, each reverse entry's
buckets contain its id, and the configuration's ``count`` equals the number of
reverse entries. :func:`verify_index` checks that, batch by batch (``lua/verify.lua``:
one SCAN step and the keys it returns per atomic call), and with ``repair=True``
restores it from the reverse index, the source of truth. Each call checks at most
:data:`~lshrs.limits.VERIFY_UNITS_PER_CALL` units; a bucket or reverse-index hash that
does not fit is finished in slices by ``lua/verify_part.lua``, one call per round trip.

A first pass checks that every entry's buckets hold its id (one SISMEMBER per
membership) and only sizes the buckets; if the sizes add up to entries * num_bands,
no bucket holds anything else and verify is done. Otherwise a second pass checks
every bucket member (one HGET each), names the ids, and repairs if asked.

Run it with no writers for an exact count check: the id checks of each batch are
atomic and stay exact under concurrent writes, but the count is summed over many
calls. Repairing the count is skipped (``count_repaired`` False) when the stored
count changed while verify ran.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from redis.client import NEVER_DECODE

from lshrs.protocol import ClearingError
from lshrs.storage import RedisStorage

VERIFY_PART_KEYS = 512
"""Left-over keys one verify_part.lua call is given at most (the script takes 512)."""
VERIFY_SCAN_COUNT = 10
"""Keys examined per verify.lua call (the SCAN COUNT hint); each costs one TYPE, and
their checks are bounded by ``VERIFY_UNITS_PER_CALL`` whatever this is."""


@dataclass
class VerifyReport:
    """What :func:`verify_index` found. Id lists are sorted and hold each id once.

    Attributes:
        members_without_entry: ids found in a bucket but without a (well-formed)
            reverse entry.
        entries_missing_member: ids whose reverse entry names a bucket that lacks them.
        members_in_wrong_bucket: ids found in a bucket of a band whose reverse entry
            names another bucket of that band.
        wrong_codes: ids whose stored codes differ from their vectors' (only with
            ``LSHRS.verify(check_vectors=True)``).
        malformed_entries: reverse entries that are not a canonical id of their chunk
            with ``num_bands * sig_bytes`` bytes, as ``"r<chunk>/<field>"``.
        malformed_members: bucket members that are not canonical ids (repair removes
            them).
        misplaced_keys: keys at names the index uses that it cannot hold: a bucket,
            reverse-index or semantic-ID hash, or stored vector of another type, or a
            bucket of a band the index does not have (repair unlinks them).
        unknown_keys: keys under the index's prefix at names lshrs does not use (never
            modified, not even by repair).
        config_mismatch: names of stored configuration fields that differ from the
            client's (``"fingerprint"``, ``"num_bands"``, ..., ``"model"``, ``"count"``
            when absent or not an integer, ``"cfg"`` when the configuration is missing
            but other keys exist). Repair never changes the configuration fields, only
            ``count``.
        stored_count: the ``count`` field before verify (None when absent or not an
            integer).
        actual_count: well-formed reverse entries counted (after repair, if any).
        keys_examined: keys the scan returned.
        repaired: True when ``repair=True`` was asked; the lists then say what was found
            and fixed.
        count_repaired: True when repair set ``count`` to ``actual_count``.
    """

    members_without_entry: list[int] = field(default_factory=list)
    entries_missing_member: list[int] = field(default_factory=list)
    members_in_wrong_bucket: list[int] = field(default_factory=list)
    wrong_codes: list[int] = field(default_factory=list)
    malformed_entries: list[str] = field(default_factory=list)
    malformed_members: list[str] = field(default_factory=list)
    misplaced_keys: list[str] = field(default_factory=list)
    unknown_keys: list[str] = field(default_factory=list)
    config_mismatch: list[str] = field(default_factory=list)
    stored_count: int | None = None
    actual_count: int = 0
    keys_examined: int = 0
    repaired: bool = False
    count_repaired: bool = False

    def __repr__(self) -> str:
        shown = ", ".join(f"{item.name}={getattr(self, item.name)!r}" for item in fields(self))
        return f"VerifyReport(ok={self.ok}, {shown})"

    @property
    def count_mismatch(self) -> bool:
        """True when the stored count differs from the reverse entries counted."""
        return self.stored_count is not None and self.stored_count != self.actual_count

    @property
    def ok(self) -> bool:
        """True when no problem of any kind was found."""
        return not (
            self.members_without_entry
            or self.entries_missing_member
            or self.members_in_wrong_bucket
            or self.wrong_codes
            or self.malformed_entries
            or self.malformed_members
            or self.misplaced_keys
            or self.unknown_keys
            or self.config_mismatch
            or self.count_mismatch
        )

    def problem_ids(self) -> list[int]:
        """Every id named by a membership problem, sorted, once each."""
        return sorted(
            {
                *self.members_without_entry,
                *self.entries_missing_member,
                *self.members_in_wrong_bucket,
            }
        )

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data, with ``ok`` and ``count_mismatch`` added."""
        return {**asdict(self), "ok": self.ok, "count_mismatch": self.count_mismatch}


def _text(value: bytes | str) -> str:
    return value.decode(errors="backslashreplace") if isinstance(value, bytes) else value


def _ids(values: list[bytes | str]) -> list[int]:
    return sorted({int(value) for value in values})


def _config_mismatch(
    storage: RedisStorage,
    stored: dict[str, str],
    fingerprint: str,
    fields: dict[str, str],
    model: bytes,
) -> list[str]:
    expected = {"fingerprint": fingerprint, **fields}
    wrong = [name for name, value in expected.items() if stored.get(name) != value]
    count = stored.get("count", "")
    if not (count.isascii() and count.isdigit()):
        wrong.append("count")
    if "clearing" in stored:
        wrong.append("clearing")
    if model:
        # GET without decoding: the planes are binary even under decode_responses=True.
        stored_model = storage.client.execute_command(  # type: ignore[no-untyped-call]
            "GET", storage.keys.model, **{NEVER_DECODE: True}
        )
        if stored_model != model:
            wrong.append("model")
    return wrong


def _has_keys(storage: RedisStorage) -> bool:
    cursor: int = 0
    while True:
        cursor, keys = storage.client.scan(cursor, match=storage.keys.pattern, count=1000)
        if keys:
            return True
        if cursor == 0:
            return False


class _Scan:
    """One pass of verify.lua calls over the whole index, results merged by key; the
    keys the calls leave over are then finished with verify_part.lua calls."""

    def __init__(
        self, storage: RedisStorage, keys_per_call: int, *, repair: bool, members: bool
    ) -> None:
        self.entries: dict[str, int] = {}
        self.sizes = 0
        self.without_entry: list[bytes | str] = []
        self.missing_member: list[bytes | str] = []
        self.stray_member: list[bytes | str] = []
        self.malformed: set[str] = set()
        self.unknown: set[str] = set()
        self.junk: set[str] = set()
        self.misplaced: set[str] = set()
        self.keys_examined = 0
        left_over: dict[str, None] = {}
        cursor: bytes | str = b"0"
        while True:
            reply = storage.protocol.call(
                "verify", storage.keys.root, [cursor, keys_per_call, int(repair), int(members)]
            )
            cursor = reply[0]
            self.keys_examined += int(reply[1])
            flat = reply[2]
            self.entries.update((_text(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2))
            self._merge(reply[3:7], reply[9:11])
            self.unknown.update(_text(key) for key in reply[7])
            self.sizes += int(reply[8])
            # SCAN may return a key twice: each left-over key is checked once.
            left_over.update(dict.fromkeys(map(_text, reply[11])))
            if _text(cursor) == "0":
                break
        self._finish(storage, list(left_over), repair=repair)

    def _merge(self, problems: list[Any], members: list[Any]) -> None:
        """Adds the problem lists verify and verify_part both reply."""
        without_entry, missing_member, stray_member, malformed = problems
        junk, misplaced = members
        self.without_entry += without_entry
        self.missing_member += missing_member
        self.stray_member += stray_member
        self.malformed.update(_text(entry) for entry in malformed)
        self.junk.update(_text(member) for member in junk)
        self.misplaced.update(_text(key) for key in misplaced)

    def _finish(self, storage: RedisStorage, names: list[str], *, repair: bool) -> None:
        """Checks the keys ``names`` (hex of their names after the root) with
        verify_part calls, each going on where the previous one stopped."""
        good = dict.fromkeys(names, 0)
        cursor: bytes | str = b"0"
        start = 0
        while start < len(names):
            batch = names[start : start + VERIFY_PART_KEYS]
            reply = storage.protocol.call(
                "verify_part", storage.keys.root, [int(repair), cursor, *batch]
            )
            for name, count in zip(batch, reply[2], strict=False):
                good[name] += int(count)
            start += int(reply[0])
            cursor = reply[1]
            self._merge(reply[3:7], reply[8:10])
            self.sizes += int(reply[7])
        for name, count in good.items():
            suffix = bytes.fromhex(name)
            if suffix.startswith(b"r"):
                self.entries[suffix.decode()] = count

    def clean(self) -> bool:
        return not (
            self.without_entry
            or self.missing_member
            or self.stray_member
            or self.malformed
            or self.junk
            or self.misplaced
        )


def verify_index(
    storage: RedisStorage,
    fingerprint: str,
    fields: dict[str, str],
    model: bytes = b"",
    *,
    repair: bool = False,
    keys_per_call: int = VERIFY_SCAN_COUNT,
) -> VerifyReport:
    """Check an index against its reverse index and configuration; optionally repair it.

    Args:
        storage: the index's storage.
        fingerprint: the configuration fingerprint the index must have.
        fields: configuration fields that must be stored with these values.
        model: the model blob that must be stored (not checked when empty).
        repair: fix membership problems from the reverse index (atomically per batch
            of keys), delete malformed entries, and correct ``count``.
        keys_per_call: SCAN COUNT hint per verify.lua call; larger means fewer calls,
            each one TYPE per key longer (the checks of a call stay within
            :data:`~lshrs.limits.VERIFY_UNITS_PER_CALL` units).

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is True for a consistent index. An index
        with no keys at all (never written, or cleared) is consistent.

    Raises:
        ValueError: if ``keys_per_call`` is not a positive integer.
        lshrs.protocol.ClearingError: for ``repair=True`` while a clear is under way.
        lshrs.protocol.NoConfigError: if the index is cleared while verify runs.
        redis.exceptions.RedisError: any other error from Redis, unchanged.

    Example:
        >>> report = verify_index(lsh.storage, lsh.hasher.fingerprint,
        ...                       lsh.hasher.config_fields())
        >>> report.ok, report.problem_ids()
        (True, [])
    """
    if isinstance(keys_per_call, bool) or not isinstance(keys_per_call, int) or keys_per_call < 1:
        raise ValueError(f"keys_per_call must be a positive integer, got {keys_per_call!r}")
    report = VerifyReport(repaired=repair)
    stored = storage.config()
    if not stored:
        if _has_keys(storage):
            report.config_mismatch = ["cfg"]
        return report
    report.config_mismatch = _config_mismatch(storage, stored, fingerprint, fields, model)
    if repair and "clearing" in report.config_mismatch:
        raise ClearingError("CLEARING", storage.prefix, storage.clearing_message())
    raw_count = stored.get("count", "")
    report.stored_count = None if "count" in report.config_mismatch else int(raw_count)

    scan = _Scan(storage, keys_per_call, repair=False, members=False)
    memberships = sum(scan.entries.values()) * int(stored["num_bands"])
    if not scan.clean() or scan.sizes != memberships:
        scan = _Scan(storage, keys_per_call, repair=repair, members=True)
    report.keys_examined = scan.keys_examined
    report.members_without_entry = _ids(scan.without_entry)
    report.entries_missing_member = _ids(scan.missing_member)
    report.members_in_wrong_bucket = _ids(scan.stray_member)
    report.malformed_entries = sorted(scan.malformed)
    report.malformed_members = sorted(scan.junk)
    report.misplaced_keys = sorted(scan.misplaced)
    report.unknown_keys = sorted(scan.unknown)
    report.actual_count = sum(scan.entries.values())
    if repair and (report.count_mismatch or report.stored_count is None):
        report.count_repaired = bool(
            storage.protocol.call("recount", storage.keys.root, [raw_count, report.actual_count])
        )
    return report
