"""Where the vectors live, one module per backend, each with its batch iterator (for
indexing) and its fetch function (for reranking by id).

================  ==================================  ===================================
backend           stream ``(ids, vectors)`` batches    fetch vectors by id
================  ==================================  ===================================
PostgreSQL        :func:`iter_postgres_vectors`        :func:`postgres_fetcher`
Parquet           :func:`iter_parquet_vectors`         :func:`parquet_fetcher`
numpy (memory)    --                                   :func:`array_fetcher`
Redis             --                                   :class:`RedisVectorStore`
================  ==================================  ===================================

Drivers (psycopg, pyarrow) are imported only when a source is used, so this package
imports without the optional dependencies.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from lshrs.sources.arrays import ArrayFetcher, MissingVectorsError, array_fetcher
from lshrs.sources.parquet import iter_parquet_vectors, parquet_fetcher, parquet_row_count
from lshrs.sources.postgres import PostgresFetcher, iter_postgres_vectors, postgres_fetcher
from lshrs.sources.redis import RedisVectorStore

Batches = Iterator[tuple[list[int], npt.NDArray[np.float32]]]


class OpenedSource(NamedTuple):
    """A source opened by :func:`open_batches`."""

    batches: Batches
    """Its ``(ids, vectors)`` batches."""
    total: int | None
    """Its row count, when known before reading."""
    ascending: bool
    """Whether its ids come in ascending order (a query ``ORDER BY`` the id)."""
    label: str
    """What it reads, for messages: ``table "items"``, a Parquet path."""


__all__ = [
    "ArrayFetcher",
    "Batches",
    "MissingVectorsError",
    "OpenedSource",
    "PostgresFetcher",
    "RedisVectorStore",
    "array_fetcher",
    "iter_parquet_vectors",
    "iter_postgres_vectors",
    "open_batches",
    "parquet_fetcher",
    "parquet_row_count",
    "postgres_fetcher",
]


def open_batches(format: str, **arguments: Any) -> OpenedSource:
    """The batches of the source ``format`` names, with what is known of them.

    Args:
        format: ``"postgres"`` or ``"parquet"``.
        **arguments: the source arguments of :meth:`lshrs.LSHRS.create_signatures`
            (``dsn``, ``table``, ``index_column``, ``vector_column``, ``batch_size``,
            ``where_clause``, ``connection_factory``, ``file_path``); None means unset.

    Raises:
        ValueError: for an unknown ``format`` or a missing argument it needs.
    """
    given = {name: value for name, value in arguments.items() if value is not None}
    columns: tuple[Any, Any] = (given.get("index_column"), given.get("vector_column"))
    if format == "postgres":
        if "table" not in given or None in columns:
            raise ValueError("format='postgres' needs table, index_column and vector_column")
        if "dsn" not in given and "connection_factory" not in given:
            raise ValueError("format='postgres' needs dsn or connection_factory")
        table = given.pop("table")
        batches = iter_postgres_vectors(given.pop("dsn", None), table, *columns, **_rest(given))
        return OpenedSource(batches, None, ascending=True, label=f"table {table!r}")
    if format == "parquet":
        if "file_path" not in given or None in columns:
            raise ValueError("format='parquet' needs file_path, index_column and vector_column")
        path = str(given["file_path"])
        batch_size = given.get("batch_size", 10000)
        batches = iter_parquet_vectors(path, *columns, batch_size=batch_size)
        return OpenedSource(batches, parquet_row_count(path), ascending=False, label=path)
    raise ValueError(f"format must be 'postgres' or 'parquet', got {format!r}")


def _rest(given: dict[str, Any]) -> dict[str, Any]:
    """The optional PostgreSQL arguments among ``given``."""
    names = ("batch_size", "where_clause", "connection_factory")
    return {name: given[name] for name in names if name in given}
