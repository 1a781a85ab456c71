"""An index split into partitions, each a complete index under its own hash tag.

Writes route each id to its partition (:func:`lshrs.partitions.partition_of`) and
run the partitions' script calls on one thread per partition, so on a Redis Cluster
every master works at once. A read sends one call per query to every partition in
one pipeline (:meth:`lshrs.protocol.Protocol.call_each`): redis-py's cluster pipeline
writes every node's calls before reading any reply, so a read costs one round trip
plus the slowest node. The replies are merged in numpy, and the exact rerank runs
once over the merged candidates (:mod:`lshrs.search`).

The partitions share one **directory**, the configuration at the unpartitioned root
``{<prefix>}:``. Its fingerprint is the scheme's followed by ``partitions=<S>``, so a
client that opens the index with another number of partitions (or none) is refused by
``init`` with ``LSHRS_CONFIG_MISMATCH`` before it writes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import numpy.typing as npt

from lshrs.bucket_calls import count_collisions
from lshrs.buckets import BucketIndex
from lshrs.limits import CODES_PER_CALL, MEMBERS_PER_QUERY
from lshrs.lists import ListIndex
from lshrs.partitions import partition_of, partition_prefixes
from lshrs.reads import Found
from lshrs.schemes import IVFPQ, Scheme
from lshrs.similarity import best
from lshrs.storage import RedisStorage
from lshrs.verify import VerifyReport

Kind = BucketIndex | ListIndex

MEMBERSHIP_FIELDS = (
    "members_without_entry",
    "entries_missing_member",
    "members_in_wrong_bucket",
    "malformed_entries",
    "unknown_keys",
)


def directory_fingerprint(fingerprint: str, partitions: int) -> str:
    """The fingerprint of a partitioned index's directory.

    Example:
        >>> directory_fingerprint("lshrs/1 hyperplane dim=3 bands=4 rows=2 seed=42", 3)
        'lshrs/1 hyperplane dim=3 bands=4 rows=2 seed=42 partitions=3'
    """
    return f"{fingerprint} partitions={partitions}"


class PartitionedIndex:
    """The partitions of one index, answering the calls of a single one.

    Args:
        directory: the storage at the unpartitioned root, holding the directory.
        parts: one index per partition, partition 0 first, all of one kind and model.
    """

    def __init__(self, directory: RedisStorage, parts: Sequence[Kind]) -> None:
        self.directory = directory
        self.parts = list(parts)
        self.protocol = directory.protocol
        self._pool: ThreadPoolExecutor | None = None
        self._cleared = False

    @property
    def partitions(self) -> int:
        return len(self.parts)

    def _each(self, work: Sequence[Callable[[], int]]) -> int:
        """Run one call per partition concurrently; the sum of their results."""
        if len(work) == 1:
            return work[0]()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.partitions, thread_name_prefix="lshrs-partition")
        return sum(future.result() for future in [self._pool.submit(job) for job in work])

    def _split(self, ids: npt.NDArray[np.int64]) -> list[tuple[int, npt.NDArray[np.intp]]]:
        """``(partition, positions of its ids)`` for every partition that has some."""
        routed = partition_of(ids, self.partitions)
        order = np.argsort(routed, kind="stable")
        bounds = np.searchsorted(routed[order], np.arange(self.partitions + 1))
        return [
            (p, order[bounds[p] : bounds[p + 1]])
            for p in range(self.partitions)
            if bounds[p + 1] > bounds[p]
        ]

    # -- writes ------------------------------------------------------------------------

    def writer(
        self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
    ) -> Callable[[], int]:
        """Code validated vectors now, per partition; the returned call writes every
        partition's share at once (returns how many ids were new)."""
        writes = [self.parts[p].writer(ids[rows], vectors[rows]) for p, rows in self._split(ids)]
        return partial(self._write, writes)

    def _write(self, writes: list[Callable[[], int]]) -> int:
        if self._cleared:
            self.directory.reattach()
            self._cleared = False
        return self._each(writes)

    def compact(self) -> None:
        """Compact every partition's lists written since the last compaction."""
        self._each([partial(_compacted, part) for part in self.parts])

    def delete(self, ids: npt.NDArray[np.int64]) -> int:
        """Remove ids from their partitions; returns how many were removed."""
        return self._each(
            [partial(self.parts[p].delete, ids[rows]) for p, rows in self._split(ids)]
        )

    def clear(self) -> int:
        """Delete every key of every partition and the directory; returns keys deleted.
        The next write creates the directory again."""
        deleted = self._each([part.storage.clear for part in self.parts])
        deleted += self.directory.clear()
        self._cleared = True
        return deleted

    # -- reads -------------------------------------------------------------------------

    def top(self, queries: npt.NDArray[np.float32], limit: int, extra_probes: int) -> Found:
        """Each query's ``limit`` best candidates over all partitions: every query's
        calls to every partition in the same pipelines, merged per query."""
        roots = [part.storage.keys.root for part in self.parts]
        first = self.parts[0]
        if isinstance(first, ListIndex):
            found: Found = []
            for ids, scores in first.candidates(queries, first.model.nprobe, roots):
                keep = best(scores, ids, limit)
                found.append((ids[keep], scores[keep]))
            return found
        return self._bucket_top(first, roots, queries, limit, extra_probes)

    def _bucket_top(
        self,
        first: BucketIndex,
        roots: list[bytes],
        queries: npt.NDArray[np.float32],
        limit: int,
        extra_probes: int,
    ) -> Found:
        """Bounded ``gather`` calls of every query in every partition, each round trip
        one pipeline (as :meth:`lshrs.storage.RedisStorage.gather` on one root); an id
        lives in one partition, so each query's members count together."""
        fingerprint = first.scheme.fingerprint
        codes = [first.scheme.probe_codes(query, extra_probes) for query in queries]
        allowed = MEMBERS_PER_QUERY // len(roots)
        reads = [_BucketRead(q, root) for q in range(len(codes)) for root in roots]
        while active := [
            r for r in reads if r.position < len(codes[r.query]) and r.members < allowed
        ]:
            replies = self.protocol.call_each(
                [
                    (
                        "gather",
                        r.root,
                        [fingerprint, *codes[r.query][r.position : r.position + CODES_PER_CALL]],
                    )
                    for r in active
                ]
            )
            for r, (text, read, _) in zip(active, replies, strict=True):
                r.take(text.encode() if isinstance(text, str) else text, int(read))
        found: Found = []
        for q in range(len(codes)):
            members = b" ".join(part for r in reads if r.query == q for part in r.parts)
            _, ids, counts = count_collisions(members, limit)
            found.append((ids, counts.astype(np.float32)))
        return found

    def candidate_count(self, query: npt.NDArray[np.float32], extra_probes: int) -> int:
        """Ids the query reads before ranking, over all partitions."""
        return int(self.top(query[None], 2**62, extra_probes)[0][0].size)

    def count(self) -> int:
        """Ids indexed, over all partitions."""
        return sum(part.storage.count() for part in self.parts)

    # -- checks ------------------------------------------------------------------------

    def verify(self, repair: bool = False) -> VerifyReport:
        """Every partition's :meth:`verify`, merged; the directory must hold the
        configuration. Partition problems keep their ids; configuration fields that
        differ are named ``p<partition>.<field>``."""
        merged = VerifyReport(repaired=repair, stored_count=0)
        if not self.directory.config():
            merged.config_mismatch.append("directory")
        for number, part in enumerate(self.parts):
            report = part.verify(repair=repair)
            for name in MEMBERSHIP_FIELDS:
                getattr(merged, name).extend(getattr(report, name))
            merged.config_mismatch += [f"p{number}.{field}" for field in report.config_mismatch]
            if report.stored_count is None or merged.stored_count is None:
                merged.stored_count = None
            else:
                merged.stored_count += report.stored_count
            merged.actual_count += report.actual_count
            merged.keys_examined += report.keys_examined
            merged.count_repaired = merged.count_repaired or report.count_repaired
        for name in MEMBERSHIP_FIELDS:
            setattr(merged, name, sorted(set(getattr(merged, name))))
        return merged

    def close(self) -> None:
        """Stop the partition threads."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class _BucketRead:
    """One query's bounded read of its buckets in one partition."""

    def __init__(self, query: int, root: bytes) -> None:
        self.query, self.root = query, root
        self.position = self.members = 0
        self.parts: list[bytes] = []

    def take(self, text: bytes, read: int) -> None:
        if text:
            self.parts.append(text)
            self.members += text.count(b" ") + 1
        self.position += max(1, read)


def _compacted(part: Kind) -> int:
    part.compact()
    return 0


def open_partitions(
    directory: RedisStorage, scheme: Scheme, fields: dict[str, str], partitions: int
) -> PartitionedIndex:
    """Create or attach the directory, then every partition, with ``scheme``.

    Args:
        directory: the storage at the index's unpartitioned root; its client, and its
            replica wait, serve every partition.
        scheme: the index's scheme; every partition holds its model.
        fields: the ``cfg`` fields of the index (:func:`lshrs.describe.description`).
        partitions: ``S >= 2``.

    Raises:
        lshrs.protocol.ConfigMismatchError: when the index exists with another
            configuration or another number of partitions (nothing is written then).
    """
    model = scheme.model_blob()
    directory.attach(
        directory_fingerprint(scheme.fingerprint, partitions),
        {**fields, "partitions": str(partitions)},
        model,
    )
    parts: list[Kind] = []
    for number, prefix in enumerate(partition_prefixes(directory.prefix, partitions)):
        storage = RedisStorage(
            prefix=prefix,
            client=directory.client,
            memberships_per_call=directory.memberships_per_call,
            min_group_size=directory.min_group_size,
        )
        storage.protocol.wait = directory.protocol.wait
        storage.protocol.migration_wait = directory.protocol.migration_wait
        storage.attach(scheme.fingerprint, {**fields, "partition": f"{number}/{partitions}"}, model)
        parts.append(
            ListIndex(storage, scheme)
            if isinstance(scheme, IVFPQ)
            else BucketIndex(storage, scheme)
        )
    return PartitionedIndex(directory, parts)
