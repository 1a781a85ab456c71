"""The write side of :class:`lshrs.LSHRS`: single vectors, batches, streams from a
source (:mod:`lshrs.sources`), deletes. Chunks are hashed while the previous chunk's
pipelined script calls run on a writer thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy.typing as npt

from lshrs.core import IndexCore
from lshrs.partitioned import PartitionedIndex
from lshrs.progress import Progress
from lshrs.sources import open_batches
from lshrs.validation import StreamIds, as_ids, as_vector, as_vectors, same_length, unique_ids


class WriteMethods(IndexCore):
    """The writes of :class:`lshrs.LSHRS`."""

    _writer: ThreadPoolExecutor | None

    def ingest(self, index: int, vector: npt.ArrayLike) -> None:
        """Add (or re-add) one vector, written to Redis before this returns.

        Args:
            index: the vector's id, an integer in ``[0, 2**53 - 1]``.
            vector: shape ``(dim,)``.

        Raises:
            ValueError: for a bad id or vector; nothing is written then.

        Example:
            >>> lsh.ingest(42, np.ones(3, dtype=np.float32))
        """
        ids = as_ids([index], "index")
        array = as_vector(vector, self.dim, ids=ids).reshape(1, self.dim)
        self._flush_buffer()
        with self._small_products():
            write = self._kind.writer(ids, array)
        write()
        self._kind.compact()

    def index(
        self, indices: Sequence[int] | npt.ArrayLike, vectors: npt.ArrayLike | None = None
    ) -> None:
        """Add a batch of vectors.

        Everything is validated before the first write. Vectors are hashed in chunks
        of ``buffer_size`` and written as pipelined script calls, each atomic for its
        ids, while the next chunk is hashed. Re-indexing an id with the same vector
        changes nothing; with a new vector the id moves to its new buckets.

        Args:
            indices: ids, integers in ``[0, 2**53 - 1]``, distinct.
            vectors: shape ``(n, dim)``; when None they are fetched with
                ``vector_fetch_fn(indices)``.

        Raises:
            ValueError: for bad ids or vectors (nothing is written then).
            RuntimeError: when ``vectors`` is None and there is no ``vector_fetch_fn``.

        Example:
            >>> lsh.index([7, 8], np.eye(3)[:2])
        """
        self._index(indices, vectors, wait=True)
        self._kind.compact()

    def _index(
        self,
        indices: Sequence[int] | npt.ArrayLike,
        vectors: npt.ArrayLike | None,
        wait: bool,
        stream: StreamIds | None = None,
    ) -> int:
        ids = unique_ids(as_ids(indices))
        if vectors is None:
            vectors = self._fetch(ids)
        array = as_vectors(vectors, self.dim, ids=ids)
        same_length(ids, array)
        if stream is not None:
            stream.add(ids)
        self._flush_buffer()
        for start in range(0, ids.size, self.buffer_size):
            chunk = slice(start, start + self.buffer_size)
            write = self._kind.writer(ids[chunk], array[chunk])
            self._flush_buffer()
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lshrs-writer")
            self._pending = self._writer.submit(write)
        if wait:
            self._flush_buffer()
        return int(ids.size)

    def create_signatures(
        self,
        format: str,
        dsn: str | None = None,
        table: str | None = None,
        index_column: str | None = None,
        vector_column: str | None = None,
        batch_size: int = 10000,
        where_clause: str | None = None,
        connection_factory: Callable[[], Any] | None = None,
        file_path: str | Path | None = None,
        *,
        progress: bool | None = None,
    ) -> int:
        """Stream vectors from PostgreSQL or Parquet (:mod:`lshrs.sources`) into the index.

        Reading the next batch overlaps with writing the previous one. Each batch is
        validated before it is written, so a bad row stops the stream with nothing of
        its batch indexed (the batches before it stay indexed).

        Each id must come once in the source: an id that comes again, in the same
        batch or a later one, is a bad row (the message names it), never a silent
        overwrite. The check costs nothing for PostgreSQL, whose rows come in id
        order, and about 8 bytes per id for Parquet. Ids indexed before the call are
        not repeats: running the same call again is idempotent (an id indexed with
        the same vector is left as it is), so after an interruption or a fixed bad
        row, run it again to finish.

        Args:
            format: ``"postgres"`` or ``"parquet"``.
            dsn: PostgreSQL connection string (or give ``connection_factory``).
            table: table name (PostgreSQL).
            index_column: column of integer ids.
            vector_column: column of vectors.
            batch_size: rows per batch read and written.
            where_clause: trusted SQL filter (PostgreSQL), e.g. ``"lang = 'en'"``.
            connection_factory: ``() -> psycopg.Connection`` instead of ``dsn``.
            file_path: a Parquet file or a directory of them.
            progress: show rows done and rows/s on stderr; None shows it when stderr
                is a terminal.

        Returns:
            The number of rows indexed: every row of the source, one per id.

        Raises:
            ValueError: for a bad argument or a bad row (naming its id): a bad
                vector, a bad id, or an id that came before.
            ImportError: when psycopg or pyarrow is not installed.

        Example:
            >>> demo = LSHRS(dim=384, redis_url=redis_url, redis_prefix=prefix + "-demo")
            >>> demo.create_signatures(format="parquet", file_path=demo_parquet,
            ...                        index_column="id", vector_column="vector")
            5000
            >>> demo.clear()
        """
        source = open_batches(
            format,
            dsn=dsn,
            table=table,
            index_column=index_column,
            vector_column=vector_column,
            batch_size=batch_size,
            where_clause=where_clause,
            connection_factory=connection_factory,
            file_path=file_path,
        )
        stream = StreamIds(source.ascending, source.label)
        report = Progress("indexing", total=source.total, enabled=progress)
        try:
            for ids, vectors in source.batches:
                report.update(self._index(ids, vectors, wait=False, stream=stream))
            self._flush_buffer()
            self._kind.compact()
        except BaseException:
            pending, self._pending = self._pending, None
            if pending is not None:
                pending.exception()  # let the previous batch land; the error raised is this one
            raise
        finally:
            report.close()
        return report.done

    def delete(self, indices: int | Sequence[int]) -> None:
        """Remove ids from the index; ids that are not indexed are ignored.

        Args:
            indices: one id or a sequence of ids.

        Raises:
            ValueError: for ids that are not integers in ``[0, 2**53 - 1]``.

        Example:
            >>> lsh.delete(42)
            >>> lsh.delete([7, 8])
        """
        ids = as_ids(indices)
        self._flush_buffer()
        self._kind.delete(ids)

    def clear(self) -> None:
        """Delete every key of this index (buckets, reverse index, configuration).

        Irreversible. The instance stays usable: the next write recreates the
        configuration. Writes by any client while the clear runs raise
        :class:`lshrs.protocol.ClearingError` with nothing written.
        """
        self._flush_buffer()
        if isinstance(self._kind, PartitionedIndex):
            self._kind.clear()
        else:
            self.storage.clear()
