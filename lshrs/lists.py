"""Inverted lists in Redis: writes, reads and checks of an IVF-PQ index.

Each list is one Redis STRING of fixed-size records (id, then code), written and
read by the ``ivf_*`` scripts of ``lua/`` (documented in
``docs/lua-protocol-ivfpq.md``). A batch is encoded in numpy, grouped by list, and
written by script calls of bounded size sent one at a time: Redis runs the calls that
arrive in one read back to back, so pipelined writes would hold it together. A query
is one call that returns the probed lists' records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.describe import expected_configuration
from lshrs.limits import (
    COMPACT_BYTES_PER_CALL,
    COPY_BYTES_LIMIT,
    IVF_IDS_PER_DELETE,
    IVF_RECORDS_PER_CALL,
    MAX_LIST_BYTES,
    SCAN_BYTES_PER_CALL,
    SCAN_BYTES_PER_QUERY,
    cost_runs,
    warn_cut,
)
from lshrs.protocol import NoConfigError
from lshrs.schemes.ivfpq import IVFPQ
from lshrs.similarity import best
from lshrs.storage import RedisStorage
from lshrs.verify import VerifyReport

RECORDS_PER_CALL = IVF_RECORDS_PER_CALL
IDS_PER_DELETE = IVF_IDS_PER_DELETE
VERIFY_RECORDS_PER_CALL = 500
"""Records one verify call checks at most (a long list is checked in slot ranges)."""
VERIFY_CHUNKS_PER_CALL = 4
"""Reverse-index hashes (128 entries at most each) one verify call checks."""
MAX_LISTS_PER_CALL = 1024
"""Lists one compact or verify call names at most (the scripts accept 1,024)."""
MIN_SCAN_BYTES = 1 << 16
"""The smallest share of a round trip's :data:`~lshrs.limits.SCAN_BYTES_PER_CALL` one
query's scan gets when a batch is read together."""
_LIST_KEY = re.compile(rb"l(\d+)")
_CHUNK_KEY = re.compile(rb"r(\d+)")
_STORE_KEY = re.compile(rb"v\d+")
"""The optional vector store (:mod:`lshrs.vector_store`) lives beside the index."""


class ListIndex:
    """The inverted lists of one IVF-PQ index in Redis.

    Args:
        storage: the index's storage (client, key names, scripts).
        model: the IVF-PQ model the lists are coded with.
    """

    def __init__(self, storage: RedisStorage, model: IVFPQ) -> None:
        self.storage = storage
        self.model = model
        self.root = storage.keys.root
        self._touched: set[int] = set()

    def _call(self, name: str, args: Sequence[Any]) -> Any:
        return self.storage.protocol.call(name, self.root, args)

    # -- writes ------------------------------------------------------------------------

    def insert_calls(
        self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
    ) -> list[list[Any]]:
        """Encode validated vectors and group their records into insert calls' ARGV."""
        lists, codes = self.model.encode(vectors)
        records = self.model.records(ids, codes)
        order = np.argsort(lists, kind="stable")
        lists, records = lists[order], records[order]
        starts = np.flatnonzero(np.r_[True, lists[1:] != lists[:-1]])
        ends = np.r_[starts[1:], lists.size]
        calls: list[list[Any]] = []
        args: list[Any] = []
        size = 0
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            for piece in range(start, end, RECORDS_PER_CALL):
                stop = min(end, piece + RECORDS_PER_CALL)
                if size + stop - piece > RECORDS_PER_CALL:
                    calls.append(args)
                    args, size = [], 0
                args += [int(lists[start]), records[piece:stop].tobytes()]
                self._touched.add(int(lists[start]))
                size += stop - piece
        if args:
            calls.append(args)
        return calls

    def faiss_calls(self, index: Any) -> tuple[npt.NDArray[np.int64], list[list[Any]]]:
        """The records of a ``faiss.IndexIVFPQ``'s inverted lists as insert calls' ARGV,
        codes copied as they are, and every id they hold.

        Raises:
            ValueError: for an id outside ``[0, 2**53 - 1]`` or one held twice, or a
                list longer than :data:`~lshrs.limits.MAX_LIST_BYTES`.
        """
        import faiss

        invlists = index.invlists
        all_ids: list[npt.NDArray[np.int64]] = []
        calls: list[list[Any]] = []
        for number in range(index.nlist):
            size = invlists.list_size(number)
            if size == 0:
                continue
            ids = faiss.rev_swig_ptr(invlists.get_ids(number), size).astype(np.int64)
            codes = faiss.rev_swig_ptr(invlists.get_codes(number), size * invlists.code_size)
            records = self.model.records(ids, np.asarray(codes).reshape(size, -1))
            all_ids.append(ids)
            for start in range(0, size, RECORDS_PER_CALL):
                calls.append([number, records[start : start + RECORDS_PER_CALL].tobytes()])
        longest = max((invlists.list_size(n) for n in range(index.nlist)), default=0)
        if longest * self.model.record_bytes > MAX_LIST_BYTES:
            raise ValueError(
                f"a list of the FAISS index holds {longest:,} records "
                f"({longest * self.model.record_bytes:,} bytes); an lshrs list holds at most "
                f"{MAX_LIST_BYTES:,} bytes: train the FAISS index with more lists (nlist)"
            )
        ids = np.concatenate(all_ids) if all_ids else np.empty(0, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= 2**53):
            raise ValueError("FAISS ids must be integers in [0, 2**53 - 1] to be imported")
        if np.unique(ids).size != ids.size:
            raise ValueError("the FAISS index holds an id twice; lshrs ids are unique")
        return ids, calls

    def insert(self, calls: list[list[Any]]) -> int:
        """Send insert calls (from :meth:`insert_calls`) one after another; returns how
        many ids were new. One at a time because Redis runs the calls of one read back
        to back: pipelined, two calls would hold it twice as long.

        If the index was cleared meanwhile, its configuration is written again first.
        """
        fingerprint = self.model.fingerprint
        added = 0
        for args in calls:
            try:
                added += int(self._call("ivf_insert", [fingerprint, *args]))
            except NoConfigError:
                self.storage.reattach()
                added += int(self._call("ivf_insert", [fingerprint, *args]))
        return added

    def compact(self) -> None:
        """Shrink the lists written since the last compaction to their live records
        (``lua/ivf_compact.lua``): appends leave up to as much spare capacity as data."""
        touched, self._touched = sorted(self._touched), set()
        records = self._live_records(touched)
        # A list longer than the copy limit is left as it is: Redis grows a string
        # that long by at most 1 MB at a time, so its spare capacity is small.
        size = self.model.record_bytes
        small = [i for i, count in enumerate(records) if count * size <= COPY_BYTES_LIMIT]
        touched, records = [touched[i] for i in small], [records[i] for i in small]
        # One call at a time, like the writes: each rewrites about 1 MB.
        for batch in _groups(touched, records, COMPACT_BYTES_PER_CALL // size):
            self._call("ivf_compact", [self.model.fingerprint, *batch])

    def delete(self, ids: npt.NDArray[np.int64]) -> int:
        """Remove ids (absent ones are skipped); returns how many were removed."""
        id_text = np.unique(ids).astype(np.bytes_).tolist()
        fingerprint = self.model.fingerprint
        # One call at a time: Redis runs every call a read brings in back to back, so
        # pipelined small calls would hold it as long as one large call.
        return sum(
            int(self._call("ivf_delete", [fingerprint, *id_text[start : start + IDS_PER_DELETE]]))
            for start in range(0, len(id_text), IDS_PER_DELETE)
        )

    def _live_records(self, lists: list[int]) -> list[int]:
        """Live records of each list, from ``<root>n``."""
        counts = self.storage.client.hmget(self.root + b"n", lists) if lists else []
        return [int(count or 0) for count in counts]

    # -- reads -------------------------------------------------------------------------

    def _many(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        return self.storage.protocol.call_many(self.root, calls)

    def candidates(
        self,
        queries: npt.NDArray[np.float32],
        nprobe: int,
        roots: Sequence[bytes] | None = None,
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """Approximate ``(ids, scores)`` of the records in each query's ``nprobe``
        nearest lists.

        The lists are read by ``ivf_scan`` calls: a round trip pipelines one call per
        query of the batch (at most 32), and all its calls return
        :data:`~lshrs.limits.SCAN_BYTES_PER_CALL` bytes in all, so one query is one
        call unless its lists hold more. A query reads at most
        :data:`~lshrs.limits.SCAN_BYTES_PER_QUERY` bytes, in probe order.

        Args:
            queries: validated float32 ``(n, dim)``.
            nprobe: lists per query.
            roots: the partitions to read (:mod:`lshrs.partitioned`), each holding
                this model; every query reads its lists in each, in the same
                round trips, with an equal share of the query's bytes. Default: this
                index alone.

        Warns:
            lshrs.limits.ReadLimitWarning: when a query's lists hold more than it reads.
        """
        roots = list(roots or [self.root])
        prepared = self.model.prepare(queries)
        probes = self.model.probe(prepared, nprobe)
        size = self.model.record_bytes
        allowed = SCAN_BYTES_PER_QUERY // len(roots)
        reads = [[_ListRead(lists.tolist(), size, allowed) for _ in roots] for lists in probes]
        pending = [(root, read) for row in reads for root, read in zip(roots, row, strict=True)]
        fingerprint = self.model.fingerprint
        share = max(1, SCAN_BYTES_PER_CALL // MIN_SCAN_BYTES)
        while active := [(root, read) for root, read in pending if not read.done][:share]:
            per_call = SCAN_BYTES_PER_CALL // len(active)
            scans = [
                ("ivf_scan", root, [fingerprint, *read.next_call(per_call)])
                for root, read in active
            ]
            if len(scans) == 1 and scans[0][1] == self.root:
                replies = [self._call("ivf_scan", scans[0][2])]
            else:
                replies = self.storage.protocol.call_each(scans)
            for (_, read), reply in zip(active, replies, strict=True):
                read.take(reply)
        cut = [read for _, read in pending if read.unread]
        if cut:
            warn_cut(
                f"{len(cut)} of {len(pending)} list scans read only {allowed:,} bytes "
                f"of their lists (up to {max(r.unread for r in cut)} lists left unread)",
                "a smaller nprobe reads fewer lists; more lists (nlist) make them shorter",
            )
        found = []
        for query, lists, row in zip(prepared, probes, reads, strict=True):
            # The partitions' records side by side: each list once per partition.
            blobs = [blob for read in row for blob in read.blobs()]
            records = sum(read.records for read in row)
            probed = np.tile(lists, len(row))
            found.append(self.model.score(query, probed, blobs) if records else _empty())
        return found

    def records_of(self, lists: list[int]) -> list[bytes]:
        """Every live record of ``lists``, one string per list, read by bounded
        ``ivf_scan`` calls one after another (no per-query bound)."""
        read = _ListRead(lists, self.model.record_bytes, 1 << 62)
        while not read.done:
            args = read.next_call(SCAN_BYTES_PER_CALL)
            read.take(self._call("ivf_scan", [self.model.fingerprint, *args]))
        return read.blobs()

    def writer(
        self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
    ) -> Callable[[], int]:
        """Encode validated vectors now; the returned call writes them (returns new ids)."""
        return partial(self.insert, self.insert_calls(ids, vectors))

    def top(
        self, queries: npt.NDArray[np.float32], limit: int, extra_probes: int = 0
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """The ``limit`` best-scored records of each query's ``nprobe`` lists, best first,
        ties by smaller id; one round trip per 32 queries unless their lists hold more
        than one call reads (:meth:`candidates`). ``extra_probes`` is for bucket
        indexes (here ``model.nprobe`` sets the depth).
        """
        found = []
        for ids, scores in self.candidates(queries, self.model.nprobe):
            keep = best(scores, ids, limit)
            found.append((ids[keep], scores[keep]))
        return found

    def candidate_count(self, query: npt.NDArray[np.float32], extra_probes: int = 0) -> int:
        """Records in the lists a query for ``query`` reads."""
        return int(self.candidates(query[None], self.model.nprobe)[0][0].size)

    # -- checks ------------------------------------------------------------------------

    def verify(self, repair: bool = False) -> VerifyReport:
        """Check every list and reverse-index hash; optionally repair (see
        ``lua/ivf_verify.lua``). Run it with no concurrent writers for an exact count.
        """
        report = VerifyReport(repaired=repair)
        stored = self.storage.config()
        if not stored:
            return report
        expected = {
            "fingerprint": self.model.fingerprint,
            **expected_configuration(self.model, stored),
        }
        report.config_mismatch = [k for k, v in expected.items() if stored.get(k) != v]
        count = stored.get("count", "")
        report.stored_count = int(count) if count.isdigit() else None
        if report.stored_count is None:
            report.config_mismatch.append("count")
        lists, chunks = self._keys(report, repair)
        records = self._live_records(lists)
        short = [i for i, count in enumerate(records) if count <= VERIFY_RECORDS_PER_CALL]
        calls: list[tuple[str, list[int]]] = [
            ("lists", batch)
            for batch in _groups(
                [lists[i] for i in short], [records[i] for i in short], VERIFY_RECORDS_PER_CALL
            )
        ]
        # A long list in slot ranges, the last first: a repair that removes a record
        # moves the list's last one, already checked, into its slot.
        calls += [
            ("range", [number, first, VERIFY_RECORDS_PER_CALL])
            for number, count in zip(lists, records, strict=True)
            if count > VERIFY_RECORDS_PER_CALL
            for first in reversed(range(0, count, VERIFY_RECORDS_PER_CALL))
        ]
        calls += [
            ("entries", chunks[start : start + VERIFY_CHUNKS_PER_CALL])
            for start in range(0, len(chunks), VERIFY_CHUNKS_PER_CALL)
        ]
        problems: list[str] = []
        for mode, numbers in calls:
            reply = self._call("ivf_verify", [self.model.fingerprint, int(repair), mode, *numbers])
            if mode == "entries":
                report.actual_count += int(reply[0])
            problems += [_text(item) for item in reply[1:]]
        _classify(report, problems)
        if repair and (report.count_mismatch or report.stored_count is None):
            report.count_repaired = bool(self._call("recount", [count, report.actual_count]))
        return report

    def _keys(self, report: VerifyReport, repair: bool) -> tuple[list[int], list[int]]:
        """List and chunk numbers of the index's keys; other keys go to the report, and
        keys of another type than the index keeps at their names are misplaced (repair
        unlinks them before the checks, which need each key's type)."""
        lists: set[int] = set()
        chunks: set[int] = set()
        known = {b"cfg", b"model"}
        typed: list[tuple[bytes, bytes, int | None, int | None]] = []
        for key in self.storage.client.scan_iter(match=self.storage.keys.pattern, count=1000):
            name = (
                bytes(key)[len(self.root) :]
                if isinstance(key, bytes)
                else key.encode()[len(self.root) :]
            )
            report.keys_examined += 1
            if name in known:
                continue
            if name == b"n":
                typed.append((name, b"hash", None, None))
            elif (found := _LIST_KEY.fullmatch(name)) and int(found[1]) < self.model.nlist:
                typed.append((name, b"string", int(found[1]), None))
            elif found := _CHUNK_KEY.fullmatch(name):
                typed.append((name, b"hash", None, int(found[1])))
            elif _STORE_KEY.fullmatch(name):
                typed.append((name, b"string", None, None))
            else:
                report.unknown_keys.append((self.root + name).decode(errors="backslashreplace"))
        pipe = self.storage.client.pipeline(transaction=False)
        for name, _, _, _ in typed:
            pipe.type(self.root + name)
        unreadable: set[bytes] = set()
        for (name, wanted, list_number, chunk), kind in zip(typed, pipe.execute(), strict=True):
            if (kind.encode() if isinstance(kind, str) else kind) not in (wanted, b"none"):
                report.misplaced_keys.append((self.root + name).decode(errors="backslashreplace"))
                if not repair:
                    unreadable.add(name)
                    continue
                self.storage.client.unlink(self.root + name)
            if list_number is not None:
                lists.add(list_number)
            elif chunk is not None:
                chunks.add(chunk)
        report.misplaced_keys.sort()
        report.unknown_keys.sort()
        if b"n" in unreadable:
            # The lists cannot be read without their counts; the report names <root>n.
            return [], sorted(chunks)
        for name in self.storage.client.hkeys(self.root + b"n"):
            if str(_text(name)).isdigit() and int(name) < self.model.nlist:
                lists.add(int(name))
        lists -= {int(name[1:]) for name in unreadable if _LIST_KEY.fullmatch(name)}
        return sorted(lists), sorted(chunks)


class _ListRead:
    """One query's scan of its lists over ``ivf_scan`` calls (see
    :meth:`ListIndex.candidates`): where to go on, and what came back."""

    def __init__(self, lists: list[int], record_bytes: int, allowed_bytes: int) -> None:
        self.lists = lists
        self.size = record_bytes
        self.parts: list[list[bytes]] = [[] for _ in lists]
        self.position = 0
        self.start = 0
        self.records = 0
        self.allowed = allowed_bytes // record_bytes

    @property
    def done(self) -> bool:
        return self.position >= len(self.lists) or self.records >= self.allowed

    @property
    def unread(self) -> int:
        """Lists not read to their end (0 when the query read all)."""
        return len(self.lists) - self.position

    def next_call(self, budget: int) -> list[Any]:
        """``max_bytes``, ``start`` and lists of the next call: whole records, and no
        more than the query may still read, so the records read do not depend on how
        the calls were cut."""
        records = max(1, min(budget // self.size, self.allowed - self.records))
        return [records * self.size, self.start, *self.lists[self.position :]]

    def take(self, reply: list[Any]) -> None:
        next_start, blobs = int(reply[0]), reply[1:]
        for offset, blob in enumerate(blobs):
            self.parts[self.position + offset].append(bytes(blob))
            self.records += len(blob) // self.size
        if next_start:
            self.position += len(blobs) - 1
            self.start = next_start
        else:
            self.position += len(blobs)
            self.start = 0

    def blobs(self) -> list[bytes]:
        return [b"".join(part) for part in self.parts]


def _groups(numbers: list[int], sizes: list[int], limit: int) -> list[list[int]]:
    """``numbers`` in order, cut into runs whose ``sizes`` add up to at most ``limit``
    (:func:`lshrs.limits.cost_runs`), of at most :data:`MAX_LISTS_PER_CALL`."""
    return [
        numbers[run][start : start + MAX_LISTS_PER_CALL]
        for run in cost_runs(sizes, limit)
        for start in range(0, run.stop - run.start, MAX_LISTS_PER_CALL)
    ]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _empty() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


def _classify(report: VerifyReport, problems: list[str]) -> None:
    """Sort ``ivf_verify`` problem strings into the report's fields."""
    fields: dict[str, Callable[[str, str], None]] = {
        "record_without_entry": lambda i, _: report.members_without_entry.append(int(i)),
        "entry_without_record": lambda i, _: report.entries_missing_member.append(int(i)),
        "duplicate_record": lambda i, _: report.members_in_wrong_bucket.append(int(i)),
        "entry_elsewhere": lambda i, _: report.members_in_wrong_bucket.append(int(i)),
        "malformed_entry": lambda i, where: report.malformed_entries.append(f"r/{i}"),
        "short_list": lambda _, where: report.malformed_entries.append(f"l{where}/count"),
    }
    for problem in problems:
        kind, item, list_number, _ = problem.split(" ")
        fields[kind](item, list_number)
    for name in ("members_without_entry", "entries_missing_member", "members_in_wrong_bucket"):
        setattr(report, name, sorted(set(getattr(report, name))))
    report.malformed_entries.sort()
