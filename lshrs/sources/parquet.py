"""Parquet files: stream ``(ids, vectors)`` batches, or load them for fetching by id."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from lshrs.sources.arrays import ArrayFetcher
from lshrs.sources.checks import check_batch_size, check_distinct_columns, require


def iter_parquet_vectors(
    file_path: str | os.PathLike[str],
    index_column: str,
    vector_column: str,
    batch_size: int = 10000,
) -> Iterator[tuple[list[int], npt.NDArray[np.float32]]]:
    """Stream ``(ids, vectors)`` batches from a Parquet file or a directory of them.

    Reads only the two columns, ``batch_size`` rows at a time, so memory stays at
    about one batch. A directory is read file by file in name order (``*.parquet``,
    not recursively). Vector columns: ``list``, ``large_list`` or ``fixed_size_list``
    of float16/32/64; float32 values are not copied (the array is then read-only).
    Ids may be any integer type and are not checked for uniqueness.

    Args:
        file_path: A ``.parquet`` file, or a directory of them.
        index_column: Integer id column.
        vector_column: Vector column.
        batch_size: Rows per yielded batch at most; batches do not span files, so the
            last batch of each file may be smaller.

    Returns:
        An iterator of ``(ids, vectors)``: ``ids`` a list of ``n`` Python ints,
        ``vectors`` float32 ``(n, dim)``, C-contiguous, row ``i`` being the vector of
        ``ids[i]``; ``1 <= n <= batch_size``.

    Raises:
        ImportError: pyarrow is not installed (``pip install "lshrs[parquet]"``).
        FileNotFoundError: At the call: the path does not exist, or the directory
            holds no ``*.parquet`` file.
        ValueError: at the call, for a bad argument or schema (the message lists the
            file's columns); during iteration, for a bad row (null, another length,
            NaN or infinity; the message names the row's id and the file).

    Example:
        >>> for ids, vectors in iter_parquet_vectors(
        ...     "data/debian-demo.parquet", "id", "vector", batch_size=2000
        ... ):
        ...     print(ids[:3], vectors.shape, vectors.dtype)
        [10, 12, 17] (2000, 384) float32
        [24075, 24107, 24108] (2000, 384) float32
        [48253, 48259, 48264] (1000, 384) float32
    """
    require("pyarrow", "parquet")
    from lshrs.sources.parquet_columns import check_schema, iter_arrays, parquet_files

    check_batch_size(batch_size)
    check_distinct_columns(index_column, vector_column)
    files = parquet_files(file_path)
    for path in files:
        check_schema(path, index_column, vector_column)
    return (
        (ids.tolist(), vectors)
        for ids, vectors in iter_arrays(files, index_column, vector_column, batch_size)
    )


def parquet_row_count(file_path: str | os.PathLike[str]) -> int:
    """Rows in a Parquet file or a directory of them, from the files' metadata only.

    Example:
        >>> parquet_row_count("data/debian-demo.parquet")
        5000
    """
    require("pyarrow", "parquet")
    import pyarrow.parquet as pq

    from lshrs.sources.parquet_columns import parquet_files

    return sum(pq.ParquetFile(path).metadata.num_rows for path in parquet_files(file_path))


def parquet_fetcher(
    file_path: str | os.PathLike[str], index_column: str, vector_column: str
) -> ArrayFetcher:
    """Build a fetch function over the vectors of a Parquet file, loaded once.

    Memory: the whole id and vector columns are held as int64 and float32, about
    ``n * (8 + 4 * dim)`` bytes, and about twice that while loading. For larger data
    keep the vectors in a database and use :func:`lshrs.sources.postgres_fetcher`.

    Args:
        file_path: A ``.parquet`` file or a directory of them, read as
            :func:`iter_parquet_vectors` reads it (same column types).
        index_column: Integer id column; ids must be unique.
        vector_column: Vector column.

    Returns:
        An :class:`ArrayFetcher`: ``fetch(ids) -> float32 (len(ids), dim)``.

    Raises:
        ImportError: pyarrow is not installed (``pip install "lshrs[parquet]"``).
        FileNotFoundError: No such file, or no ``*.parquet`` file in the directory.
        ValueError: As :func:`iter_parquet_vectors` raises, or an id
            appears twice.

    Example:
        >>> fetch = parquet_fetcher("data/debian-demo.parquet", "id", "vector")
        >>> fetch([17, 10]).shape
        (2, 384)
    """
    require("pyarrow", "parquet")
    from lshrs.sources.parquet_columns import check_schema, iter_arrays, parquet_files

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
