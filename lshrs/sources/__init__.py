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

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.sources.arrays import ArrayFetcher, MissingVectorsError, array_fetcher
from lshrs.sources.parquet import iter_parquet_vectors, parquet_fetcher, parquet_row_count
from lshrs.sources.postgres import PostgresFetcher, iter_postgres_vectors, postgres_fetcher
from lshrs.sources.redis import RedisVectorStore

Batches = Iterator[tuple[list[int], npt.NDArray[np.float32]]]

__all__ = [
    "ArrayFetcher",
    "Batches",
    "MissingVectorsError",
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


def open_batches(
    format: str,
    *,
    dsn: str | None = None,
    table: str | None = None,
    index_column: str | None = None,
    vector_column: str | None = None,
    batch_size: int = 10000,
    where_clause: str | None = None,
    connection_factory: Callable[[], Any] | None = None,
    file_path: str | os.PathLike[str] | None = None,
) -> tuple[Batches, int | None]:
    """The batches of a source named by ``format``, and its row count when known.

    Arguments are those of :meth:`lshrs.LSHRS.create_signatures`.

    Raises:
        ValueError: for an unknown ``format`` or a missing argument it needs.
    """
    if format == "postgres":
        if table is None or index_column is None or vector_column is None:
            raise ValueError("format='postgres' needs table, index_column and vector_column")
        if dsn is None and connection_factory is None:
            raise ValueError("format='postgres' needs dsn or connection_factory")
        batches = iter_postgres_vectors(
            dsn,
            table,
            index_column,
            vector_column,
            batch_size=batch_size,
            where_clause=where_clause,
            connection_factory=connection_factory,
        )
        return batches, None
    if format == "parquet":
        if file_path is None or index_column is None or vector_column is None:
            raise ValueError("format='parquet' needs file_path, index_column and vector_column")
        path = str(file_path)
        batches = iter_parquet_vectors(path, index_column, vector_column, batch_size=batch_size)
        return batches, parquet_row_count(path)
    raise ValueError(f"format must be 'postgres' or 'parquet', got {format!r}")
