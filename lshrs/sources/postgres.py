"""PostgreSQL tables: stream ``(ids, vectors)`` batches with a server-side cursor, or
fetch vectors by id, one query per call."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lshrs.sources.arrays import ArrayFetcher, as_id_array
from lshrs.sources.checks import check_batch_size, check_distinct_columns, require

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from lshrs.sources.postgres_table import TableName, VectorTable

_CURSOR_NAME = "lshrs_vectors"


def iter_postgres_vectors(
    dsn: str | None,
    table: TableName,
    index_column: str,
    vector_column: str,
    batch_size: int = 10000,
    where_clause: str | None = None,
    connection_factory: Callable[[], psycopg.Connection[Any]] | None = None,
) -> Iterator[tuple[list[int], npt.NDArray[np.float32]]]:
    """Stream ``(ids, vectors)`` batches from a PostgreSQL table, ordered by id.

    Rows are read through a named server-side cursor, ``batch_size`` rows per round
    trip over the binary protocol, so memory stays at about one batch. Rows come
    ``ORDER BY index_column`` (index that column, or PostgreSQL sorts the whole table
    first). Vector types: ``real[]``, ``double precision[]``, ``bytea`` of
    little-endian float32, pgvector ``vector`` and ``halfvec``; ids ``smallint``,
    ``integer`` or ``bigint``. The table is checked in the catalog before any row is
    streamed; argument errors are raised at the call.

    Args:
        dsn: libpq connection string or URI, e.g. ``"postgresql://user@host:5432/db"``.
            None when ``connection_factory`` is given.
        table: ``"name"`` (found through ``search_path``), ``"schema.name"`` (split on
            the first dot), or a ``(schema, name)`` tuple for names holding a dot.
            Names are quoted, so they match exactly, case included.
        index_column: Integer id column, exact name.
        vector_column: Vector column, exact name.
        batch_size: Rows per yielded batch (the last one may be smaller).
        where_clause: Optional SQL condition without the ``WHERE`` keyword, e.g.
            ``"lang = 'en'"``. It is inserted into the query verbatim: pass only
            trusted text, never user input.
        connection_factory: Called once with no arguments; returns a new psycopg 3
            connection to use instead of ``dsn``. Either way, the iterator owns the
            connection and closes it when iteration ends, is abandoned, or fails.

    Returns:
        An iterator of ``(ids, vectors)``: ``ids`` a list of ``n`` Python ints,
        ``vectors`` float32 ``(n, dim)``, C-contiguous and writable, row ``i`` being
        the vector of ``ids[i]``; ``1 <= n <= batch_size``.

    Raises:
        ImportError: psycopg is not installed (``pip install "lshrs[postgres]"``).
        ValueError: at the call, for a bad argument; during iteration, for a missing
            table or column, an unsupported type, or a bad row (NULL, another length,
            NaN or infinity; the message names the row's id). psycopg errors
            propagate unchanged.

    Example:
        Given a table ``items (id bigint primary key, embedding real[])`` holding three
        3-dimensional vectors:

        >>> for ids, vectors in iter_postgres_vectors(dsn, "items", "id", "embedding", 2):
        ...     print(ids, vectors.shape, vectors.dtype)
        [1, 2] (2, 3) float32
        [3] (1, 3) float32
    """
    require("psycopg", "postgres")
    from lshrs.sources.postgres_table import connector, table_parts

    check_batch_size(batch_size)
    check_distinct_columns(index_column, vector_column)
    connect = connector(dsn, connection_factory)
    parts = table_parts(table)
    return _stream(connect, parts, index_column, vector_column, batch_size, where_clause)


def _stream(
    connect: Callable[[], psycopg.Connection[Any]],
    table: tuple[str, ...],
    index_column: str,
    vector_column: str,
    batch_size: int,
    where_clause: str | None,
) -> Iterator[tuple[list[int], npt.NDArray[np.float32]]]:
    from psycopg import sql

    from lshrs.sources.postgres_table import inspect_table

    with connect() as connection, connection.transaction():
        source = inspect_table(connection, table, index_column, vector_column)
        query = source.select()
        if where_clause is not None:
            query += sql.SQL(" WHERE ({})").format(sql.SQL(where_clause))
        query += sql.SQL(" ORDER BY {}").format(sql.Identifier(index_column))
        with connection.cursor(name=_CURSOR_NAME, binary=True) as cursor:
            cursor.itersize = batch_size
            cursor.execute(query)
            dim: int | None = None
            while True:
                rows = cursor.fetchmany(batch_size)
                if not rows:
                    return
                ids, vectors = source.decode(rows, dim)
                del rows  # not held while the consumer works and the next batch arrives
                dim = vectors.shape[1]
                yield ids, vectors


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
        wanted = as_id_array(ids, "ids")
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
            from lshrs.sources.postgres_table import inspect_table

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

    Each call runs ``SELECT id, vector FROM table WHERE id = ANY(ids)`` once over the
    binary protocol (index the id column). Types and row checks are those of
    :func:`iter_postgres_vectors`; the table is checked in the catalog on first use.

    Args:
        dsn: libpq connection string or URI; None when ``connection_factory`` is given.
        table: ``"name"``, ``"schema.name"`` (split on the first dot) or a
            ``(schema, name)`` tuple; matched exactly, case included.
        index_column: Integer id column (smallint, integer or bigint).
        vector_column: Vector column (types as :func:`iter_postgres_vectors`).
        connection_factory: Returns a new psycopg 3 connection instead of ``dsn``;
            the fetcher owns it (sets ``autocommit``, closes it in ``close()``).

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
        lshrs.sources.arrays.MissingVectorsError: 2 id(s) missing from table "public"."items": 4, 5
        >>> fetch.close()
    """
    require("psycopg", "postgres")
    from lshrs.sources.postgres_table import connector, table_parts

    check_distinct_columns(index_column, vector_column)
    connect = connector(dsn, connection_factory)
    return PostgresFetcher(connect, table_parts(table), index_column, vector_column)
