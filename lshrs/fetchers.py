"""Ready-made ``vector_fetch_fn`` callables: fetch vectors by id for reranking.

A fetch function takes ids and returns float32 ``(len(ids), dim)``, row ``i`` being the
vector of ``ids[i]`` (ids may repeat). Ids the store does not hold raise
:class:`MissingVectorsError`, never a silent gap or a zero row.

- :func:`array_fetcher`: vectors already in memory (numpy).
- :func:`parquet_fetcher`: a Parquet file, loaded into memory once.
- :func:`postgres_fetcher`: a PostgreSQL table, one query per call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lshrs.loaders._optional import require
from lshrs.loaders._validate import check_distinct_columns

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from lshrs.loaders._postgres_table import TableName, VectorTable

__all__ = [
    "ArrayFetcher",
    "MissingVectorsError",
    "PostgresFetcher",
    "array_fetcher",
    "parquet_fetcher",
    "postgres_fetcher",
]

_SHOWN_MISSING = 10


class MissingVectorsError(KeyError):
    """Some requested ids have no vector in the store.

    Attributes:
        missing_ids: The distinct missing ids, ascending.
        source: What was searched, for the message.
    """

    def __init__(self, missing_ids: Iterable[int], source: str = "the vector store") -> None:
        self.missing_ids: list[int] = sorted({int(missing) for missing in missing_ids})
        self.source = source
        super().__init__(self.missing_ids, source)

    def __str__(self) -> str:
        count = len(self.missing_ids)
        shown = ", ".join(map(str, self.missing_ids[:_SHOWN_MISSING]))
        more = f" and {count - _SHOWN_MISSING} more" if count > _SHOWN_MISSING else ""
        return f"{count} id(s) missing from {self.source}: {shown}{more}"


def _id_array(
    ids: Sequence[int] | npt.NDArray[np.integer[Any]], name: str
) -> npt.NDArray[np.int64]:
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers; got dtype {array.dtype} (first: {array[0]!r})")
    return array.astype(np.int64, copy=False)


class ArrayFetcher:
    """Looks vectors up by id in memory; built by :func:`array_fetcher`.

    Lookups are one ``np.searchsorted`` over the sorted ids plus one gather, with no
    per-id Python work. Calls only read, so they are safe from several threads.
    """

    def __init__(
        self,
        ids: Sequence[int] | npt.NDArray[np.integer[Any]],
        vectors: npt.ArrayLike,
        source: str = "the in-memory vectors",
    ) -> None:
        id_array = _id_array(ids, "ids")
        matrix = np.asarray(vectors, dtype=np.float32, order="C")
        if matrix.ndim != 2 or matrix.shape[0] != id_array.shape[0]:
            raise ValueError(
                f"vectors must have shape (len(ids), dim) = ({id_array.shape[0]}, dim); "
                f"got {matrix.shape}"
            )
        order = np.argsort(id_array, kind="stable")
        sorted_ids = id_array[order]
        repeated = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
        if repeated.size:
            raise ValueError(
                f"ids must be unique; id {sorted_ids[repeated[0]]} appears more than once "
                f"in {source}"
            )
        self._sorted_ids = sorted_ids
        self._rows = order
        self._vectors = matrix
        self._source = source

    @property
    def dim(self) -> int:
        """Length of every vector."""
        return int(self._vectors.shape[1])

    def __len__(self) -> int:
        return int(self._sorted_ids.shape[0])

    def __call__(
        self, ids: Sequence[int] | npt.NDArray[np.integer[Any]]
    ) -> npt.NDArray[np.float32]:
        """Return float32 ``(len(ids), dim)`` in the order of ``ids``.

        Raises:
            ValueError: ``ids`` is not a one-dimensional sequence of integers.
            MissingVectorsError: Some ids are not held.
        """
        wanted = _id_array(ids, "ids")
        positions = np.searchsorted(self._sorted_ids, wanted)
        found = positions < len(self)
        found[found] = self._sorted_ids[positions[found]] == wanted[found]
        if not found.all():
            raise MissingVectorsError(wanted[~found].tolist(), self._source)
        vectors: npt.NDArray[np.float32] = self._vectors[self._rows[positions]]
        return vectors


def array_fetcher(
    ids: Sequence[int] | npt.NDArray[np.integer[Any]], vectors: npt.ArrayLike
) -> ArrayFetcher:
    """Build a fetch function over vectors held in memory.

    Args:
        ids: ``n`` distinct integer ids.
        vectors: ``(n, dim)`` array-like, row ``i`` being the vector of ``ids[i]``;
            converted once to float32 C-contiguous (no copy if it already is, so later
            writes to that array show in fetched vectors).

    Returns:
        A callable ``fetch(ids) -> float32 (len(ids), dim)`` in the order of ``ids``.
        It raises :class:`MissingVectorsError` for ids it does not hold.

    Raises:
        ValueError: ``ids`` is not one-dimensional integers, is not unique, or does not
            match the number of rows of ``vectors``.

    Example:
        >>> fetch = array_fetcher([10, 30, 20], [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
        >>> fetch([20, 10, 20])
        array([[0.5, 0.5],
               [1. , 0. ],
               [0.5, 0.5]], dtype=float32)
        >>> fetch([10, 99])
        Traceback (most recent call last):
        ...
        lshrs.fetchers.MissingVectorsError: 1 id(s) missing from the in-memory vectors: 99
    """
    return ArrayFetcher(ids, vectors)


def parquet_fetcher(
    file_path: str | os.PathLike[str], index_column: str, vector_column: str
) -> ArrayFetcher:
    """Build a fetch function over the vectors of a Parquet file, loaded once.

    Memory: the whole id and vector columns are held as int64 and float32, about
    ``n * (8 + 4 * dim)`` bytes (1.5 GB for a million 384-dim vectors), and about
    twice that while loading. For larger data keep the vectors in a database and use
    :func:`postgres_fetcher`.

    Args:
        file_path: A ``.parquet`` file or a directory of them, read as
            :func:`lshrs.loaders.iter_parquet_vectors` reads it (same column types).
        index_column: Integer id column; ids must be unique.
        vector_column: Vector column.

    Returns:
        An :class:`ArrayFetcher`: ``fetch(ids) -> float32 (len(ids), dim)``.

    Raises:
        ImportError: pyarrow is not installed (``pip install "lshrs[parquet]"``).
        FileNotFoundError: No such file, or no ``*.parquet`` file in the directory.
        ValueError: As :func:`lshrs.loaders.iter_parquet_vectors` raises, or an id
            appears twice.

    Example:
        >>> fetch = parquet_fetcher("data/debian-demo.parquet", "id", "vector")
        >>> fetch([17, 10]).shape
        (2, 384)
    """
    require("pyarrow", "parquet")
    from lshrs.loaders._parquet_columns import check_schema, iter_arrays, parquet_files

    check_distinct_columns(index_column, vector_column)
    files = parquet_files(file_path)
    for path in files:
        check_schema(path, index_column, vector_column)
    batches = list(iter_arrays(files, index_column, vector_column, batch_size=65536))
    if not batches:
        raise ValueError(f"{file_path} holds no rows; there is nothing to fetch from")
    ids = np.concatenate([batch_ids for batch_ids, _ in batches])
    vectors = np.concatenate([batch_vectors for _, batch_vectors in batches])
    return ArrayFetcher(ids, vectors, source=str(file_path))


class PostgresFetcher:
    """Fetches vectors from a PostgreSQL table by id; built by :func:`postgres_fetcher`.

    Holds one connection, opened on first use and reopened on the next call if it
    was closed (by :meth:`close`, a server restart or an idle timeout); a call whose
    query fails because the server dropped the connection reconnects and retries
    once. Calls from several threads are serialised on that connection.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        table: tuple[str, ...],
        index_column: str,
        vector_column: str,
    ) -> None:
        self._connect = connect
        self._table = table
        self._index_column = index_column
        self._vector_column = vector_column
        self._connection: psycopg.Connection[Any] | None = None
        self._source: VectorTable | None = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    def __call__(
        self, ids: Sequence[int] | npt.NDArray[np.integer[Any]]
    ) -> npt.NDArray[np.float32]:
        """Return float32 ``(len(ids), dim)`` in the order of ``ids``, in one query.

        No ids give ``(0, dim)``, ``dim`` read from any one row (``(0, 0)`` while the
        table is empty).

        Raises:
            ValueError: ``ids`` is not one-dimensional integers; the table or columns
                are missing or of the wrong type; a stored vector is NULL, of another
                length, or not finite; an id is stored twice.
            MissingVectorsError: Some ids have no row in the table.
        """
        wanted = _id_array(ids, "ids")
        with self._lock:
            if not wanted.size:
                return np.empty((0, self._dim or self._probe_dim()), dtype=np.float32)
            source = self._checked_source()
            rows = self._query(source, np.unique(wanted))
            found_ids, vectors = source.decode(rows, self._dim)
            if found_ids:
                self._dim = vectors.shape[1]
        store = ArrayFetcher(found_ids, vectors, source=f"table {source.name}")
        return store(wanted)

    def close(self) -> None:
        """Close the connection; the next call opens a new one. Safe to call twice."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> PostgresFetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            connection = self._connect()
            # Autocommit: a long-lived connection must not sit idle in a transaction.
            connection.autocommit = True
            self._connection = connection
        return self._connection

    def _checked_source(self) -> VectorTable:
        if self._source is None:
            from lshrs.loaders._postgres_table import inspect_table

            self._source = inspect_table(
                self._open(), self._table, self._index_column, self._vector_column
            )
        return self._source

    def _query(self, source: VectorTable, unique_ids: npt.NDArray[np.int64]) -> list[Any]:
        import psycopg
        from psycopg import sql

        query = source.select() + sql.SQL(" WHERE {} = ANY(%s::int8[])").format(
            sql.Identifier(self._index_column)
        )
        try:
            return self._execute(query, [unique_ids.tolist()])
        except psycopg.OperationalError:
            if self._connection is not None and not self._connection.closed:
                raise
        return self._execute(query, [unique_ids.tolist()])

    def _execute(self, query: sql.Composed, params: list[Any] | None = None) -> list[Any]:
        with self._open().cursor(binary=True) as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def _probe_dim(self) -> int:
        from psycopg import sql

        source = self._checked_source()
        _, vectors = source.decode(self._execute(source.select() + sql.SQL(" LIMIT 1")), None)
        if vectors.shape[0]:  # an empty table tells nothing: ask again next time
            self._dim = vectors.shape[1]
        return int(vectors.shape[1])


def postgres_fetcher(
    dsn: str | None = None,
    *,
    table: TableName,
    index_column: str,
    vector_column: str,
    connection_factory: Callable[[], psycopg.Connection[Any]] | None = None,
) -> PostgresFetcher:
    """Build a fetch function over a PostgreSQL table: one query per call.

    Everything but ``dsn`` is keyword-only.

    Each call runs ``SELECT id, vector FROM table WHERE id = ANY(ids)`` once (distinct
    ids only) over the binary protocol and returns the rows in the order asked, so an
    index on the id column (a primary key has one) keeps it fast. Column types,
    identifier rules and row checks are those of
    :func:`lshrs.loaders.iter_postgres_vectors`; the table is checked in the catalog
    on first use.

    Args:
        dsn: libpq connection string or URI; None when ``connection_factory`` is given.
        table: ``"name"``, ``"schema.name"`` (split on the first dot) or a
            ``(schema, name)`` tuple; matched exactly, case included.
        index_column: Integer id column (smallint, integer or bigint).
        vector_column: ``real[]``, ``double precision[]``, ``bytea`` of little-endian
            float32, or pgvector ``vector`` / ``halfvec``.
        connection_factory: Returns a new psycopg 3 connection, used instead of
            ``dsn``. The fetcher owns what it returns: it sets ``autocommit`` and
            closes it in :meth:`PostgresFetcher.close`.

    Returns:
        A :class:`PostgresFetcher`: ``fetch(ids) -> float32 (len(ids), dim)``, with
        ``.close()``; also a context manager that closes on exit.

    Raises:
        ImportError: psycopg is not installed (``pip install "lshrs[postgres]"``).
        ValueError: Both or neither of ``dsn`` and ``connection_factory`` given, a
            malformed ``table``, or the same column twice. Catalog errors (missing
            table or column, wrong types) are raised by the first call.

    Example:
        Given a table ``items (id bigint primary key, embedding real[])`` holding ids
        1, 2 and 3:

        >>> fetch = postgres_fetcher(
        ...     dsn, table="items", index_column="id", vector_column="embedding"
        ... )
        >>> fetch([3, 1]).shape
        (2, 3)
        >>> fetch([1, 4, 5])
        Traceback (most recent call last):
        ...
        lshrs.fetchers.MissingVectorsError: 2 id(s) missing from table "public"."items": 4, 5
        >>> fetch.close()
    """
    require("psycopg", "postgres")
    from lshrs.loaders._postgres_table import connector, table_parts

    check_distinct_columns(index_column, vector_column)
    connect = connector(dsn, connection_factory)
    return PostgresFetcher(connect, table_parts(table), index_column, vector_column)
