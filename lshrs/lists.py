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
from lshrs.protocol import NoConfigError
from lshrs.reads import Found, ReadPlan
from lshrs.schemes.ivfpq import IVFPQ
from lshrs.similarity import best
from lshrs.storage import RedisStorage
from lshrs.verify import VerifyReport

RECORDS_PER_CALL = 250
"""Records one insert call writes at most: a call holds Redis a few milliseconds
(worst PING latency per call in docs/benchmarks.md)."""
IDS_PER_DELETE = 500
"""Ids one delete call removes at most (each costs about ten Redis commands)."""
COMPACT_BYTES_PER_CALL = 1 << 20
"""Bytes of records one compaction call rewrites, about (bounded time per call)."""
VERIFY_RECORDS_PER_CALL = 1000
"""Records of the lists one verify call checks, about (a list is never split)."""
VERIFY_CHUNKS_PER_CALL = 4
"""Reverse-index hashes (128 entries at most each) one verify call checks."""
MAX_LISTS_PER_CALL = 1024
"""Lists one compact or verify call names at most (the scripts accept 1,024)."""
ALL = 2**62
"""A limit above any number of records: every candidate."""
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
            ValueError: for an id outside ``[0, 2**53 - 1]`` or one held twice.
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
        # One call at a time, like the writes: each rewrites about 1 MB.
        for batch in _groups(touched, records, COMPACT_BYTES_PER_CALL // self.model.record_bytes):
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

    def read_plan(
        self, queries: npt.NDArray[np.float32], limit: int, extra_probes: int = 0
    ) -> ReadPlan:
        """:meth:`top` as ``ivf_scan`` calls (one per query) and the scoring of their
        replies, for this index or any partition of it."""
        prepared = self.model.prepare(queries)
        probes = self.model.probe(prepared, self.model.nprobe)
        fingerprint = self.model.fingerprint
        calls: list[tuple[str, list[Any]]] = [
            ("ivf_scan", [fingerprint, *lists.tolist()]) for lists in probes
        ]

        def finish(replies: list[list[Any]]) -> Found:
            found: Found = []
            for query, lists, parts in zip(prepared, probes, replies, strict=True):
                found_in = [part for part in parts if part]
                # The partitions' replies side by side: each list once per partition.
                probed = np.tile(lists, len(found_in))
                blobs = [blob for part in found_in for blob in part]
                ids, scores = self.model.score(query, probed, blobs) if blobs else _empty()
                keep = best(scores, ids, limit)
                found.append((ids[keep], scores[keep]))
            return found

        return ReadPlan(calls, finish)

    def writer(
        self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
    ) -> Callable[[], int]:
        """Encode validated vectors now; the returned call writes them (returns new ids)."""
        return partial(self.insert, self.insert_calls(ids, vectors))

    def top(self, queries: npt.NDArray[np.float32], limit: int, extra_probes: int = 0) -> Found:
        """The ``limit`` best-scored records of each query's ``nprobe`` lists, best first,
        ties by smaller id; one round trip in all (the queries' calls are pipelined).
        ``extra_probes`` is for bucket indexes (here ``model.nprobe`` sets the depth).
        """
        plan = self.read_plan(queries, limit)
        if len(plan.calls) == 1:
            replies = [self._call(*plan.calls[0])]
        else:
            replies = self.storage.protocol.call_many(self.root, plan.calls)
        return plan.finish([[reply] for reply in replies])

    def candidate_count(self, query: npt.NDArray[np.float32], extra_probes: int = 0) -> int:
        """Records in the lists a query for ``query`` reads."""
        return int(self.top(query[None], ALL)[0][0].size)

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
        calls = [
            ("lists", batch)
            for batch in _groups(lists, self._live_records(lists), VERIFY_RECORDS_PER_CALL)
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


def _groups(numbers: list[int], sizes: list[int], limit: int) -> list[list[int]]:
    """``numbers`` in order, cut into runs whose ``sizes`` add up to at most ``limit``
    (a number larger than ``limit`` alone), of at most :data:`MAX_LISTS_PER_CALL`."""
    groups: list[list[int]] = []
    total = 0
    for number, size in zip(numbers, sizes, strict=True):
        if not groups or total + size > limit or len(groups[-1]) == MAX_LISTS_PER_CALL:
            groups.append([])
            total = 0
        groups[-1].append(number)
        total += size
    return groups


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
