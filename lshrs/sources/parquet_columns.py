"""Parquet files of vectors: finding them, checking their schema, converting batches."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lshrs.sources.checks import check_finite, first_other

SUPPORTED_VECTOR_TYPES = (
    "list, large_list or fixed_size_list of float16, float32 or float64 "
    "(e.g. fixed_size_list<element: float>[384])"
)


def parquet_files(file_path: str | os.PathLike[str]) -> list[Path]:
    """The file itself, or the ``*.parquet`` files directly inside a directory, by name.

    Raises:
        FileNotFoundError: The path does not exist, or the directory holds no
            ``*.parquet`` file.
    """
    path = Path(file_path)
    if path.is_dir():
        files = sorted(child for child in path.glob("*.parquet") if child.is_file())
        if not files:
            raise FileNotFoundError(f"no *.parquet files in directory {path}")
        return files
    if not path.exists():
        raise FileNotFoundError(f"Parquet file not found: {path}")
    return [path]


def check_schema(path: Path, index_column: str, vector_column: str) -> None:
    """Check from the file footer that both columns exist and have usable types.

    Raises:
        ValueError: A column is missing (the message lists the file's columns), the
            id column is not an integer type, or the vector column is not a list of
            floats.
    """
    schema = pq.read_schema(path)
    for column in (index_column, vector_column):
        if column not in schema.names:
            listed = ", ".join(f'"{name}"' for name in schema.names)
            raise ValueError(f'column "{column}" not found in {path}; its columns are: {listed}')
    index_type = schema.field(index_column).type
    if not pa.types.is_integer(index_type):
        raise ValueError(
            f'index column "{index_column}" of {path} has type {index_type}; it must be '
            "an integer type (int8 to int64, signed or unsigned)"
        )
    vector_type = schema.field(vector_column).type
    is_list = (
        pa.types.is_list(vector_type)
        or pa.types.is_large_list(vector_type)
        or pa.types.is_fixed_size_list(vector_type)
    )
    if not (is_list and pa.types.is_floating(vector_type.value_type)):
        raise ValueError(
            f'vector column "{vector_column}" of {path} has type {vector_type}; supported '
            f"types are {SUPPORTED_VECTOR_TYPES}"
        )


def iter_arrays(
    files: Sequence[Path], index_column: str, vector_column: str, batch_size: int
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
    """Stream ``(ids int64 (n,), vectors float32 (n, dim))`` from checked files in turn.

    Batches do not span files, so each file's last batch may be smaller than
    ``batch_size``. Every vector must have the length of the first one read.
    """
    dim: int | None = None
    for path in files:
        label = f'column "{vector_column}" of {path}'
        parquet = pq.ParquetFile(path)
        try:
            for batch in parquet.iter_batches(
                batch_size=batch_size, columns=[index_column, vector_column]
            ):
                if not batch.num_rows:
                    continue
                ids = _ids(batch.column(index_column), index_column, path)
                vectors = _vectors(batch.column(vector_column), ids, dim, label)
                dim = vectors.shape[1]
                yield ids, vectors
        finally:
            parquet.close()


def _ids(column: pa.Array, index_column: str, path: Path) -> npt.NDArray[np.int64]:
    if column.null_count:
        raise ValueError(
            f'index column "{index_column}" of {path} is null in some row; every row needs an id'
        )
    values = column.to_numpy()
    if values.dtype == np.uint64:
        beyond = np.flatnonzero(values > np.iinfo(np.int64).max)
        if beyond.size:
            raise ValueError(
                f'index column "{index_column}" of {path} holds id {values[beyond[0]]}, beyond '
                "2**63 - 1; ids must be integers in [0, 2**53 - 1]: map them into that range"
            )
    ids: npt.NDArray[np.int64] = values.astype(np.int64, copy=False)
    return ids


def _vectors(
    column: pa.Array, ids: npt.NDArray[np.int64], dim: int | None, label: str
) -> npt.NDArray[np.float32]:
    """Convert a list column to float32 ``(n, dim)`` without copying float32 values.

    The result views Arrow memory when the values are float32, so it may be read-only.
    """
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"{label}: row id={ids[row]} has a null vector")
    if pa.types.is_fixed_size_list(column.type):
        lengths = np.full(len(column), column.type.list_size)
    else:
        lengths = pc.list_value_length(column).to_numpy()
    expected = int(lengths[0]) if dim is None else dim
    if expected == 0:
        raise ValueError(
            f"{label}: the vector of row id={ids[0]} is empty; vectors need at least one value"
        )
    other = first_other(lengths, expected)
    if other is not None:
        raise ValueError(
            f"{label}: the vector of row id={ids[other]} has {lengths[other]} values, "
            f"expected {expected} like the vectors read before it"
        )
    values = column.flatten()
    if values.null_count:
        row = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0]) // expected
        raise ValueError(f"{label}: the vector of row id={ids[row]} holds null elements")
    flat = values.to_numpy(zero_copy_only=False)
    vectors = np.ascontiguousarray(flat.reshape(len(column), expected), dtype=np.float32)
    check_finite(vectors, ids, label)
    return vectors
