"""A vector table in PostgreSQL: finding it, checking its columns, decoding its rows.

Shared by ``iter_postgres_vectors`` and ``postgres_fetcher``. Every vector type is sent
as ``bytea`` over the binary protocol: arrays go through ``array_send`` (PostgreSQL's own
binary array format, decoded here with one structured numpy view per batch), pgvector
types are cast to ``real[]`` first, and ``bytea`` columns are sent as they are.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql

from lshrs.sources.checks import check_finite

TableName = str | tuple[str, str]
ConnectionFactory = Callable[[], "psycopg.Connection[Any]"]
Encoding = Literal["float4[]", "float8[]", "bytea"]

_INTEGER_TYPES = {"int2": "smallint", "int4": "integer", "int8": "bigint"}

# pg_type.typname -> (how the value travels, whether it is cast to real[] first)
_VECTOR_TYPES: dict[str, tuple[Encoding, bool]] = {
    "_float4": ("float4[]", False),
    "_float8": ("float8[]", False),
    "vector": ("float4[]", True),
    "halfvec": ("float4[]", True),
    "bytea": ("bytea", False),
}
SUPPORTED_VECTOR_TYPES = (
    "real[], double precision[], bytea (little-endian float32) and pgvector's vector and halfvec"
)

# PostgreSQL's binary array format: ndim, has-null flag, element type oid, then per
# dimension its length and lower bound, then per element a byte length and the value.
_ARRAY_HEADER = [
    ("ndim", ">i4"),
    ("has_null", ">i4"),
    ("element_oid", ">u4"),
    ("length", ">i4"),
    ("lower_bound", ">i4"),
]


def table_parts(table: TableName) -> tuple[str, ...]:
    """Split a table argument into identifier parts.

    A string without a dot is one table name, looked up through ``search_path``; a
    string with a dot is split on its first dot into schema and table; a
    ``(schema, table)`` tuple is taken as it is, which is the way to name a table whose
    name holds a dot. Names are matched exactly, case included (they are quoted).

    Raises:
        ValueError: ``table`` is empty or neither a string nor a pair of strings.
    """
    parts: tuple[Any, ...]
    if isinstance(table, str):
        parts = tuple(table.split(".", 1))
    elif isinstance(table, tuple) and len(table) == 2:
        parts = table
    else:
        parts = ()
    if not parts or not all(isinstance(part, str) and part for part in parts):
        raise ValueError(
            "table must be 'name', 'schema.name' or a (schema, name) tuple of non-empty "
            f"strings; got {table!r}"
        )
    return parts


def connector(dsn: str | None, connection_factory: ConnectionFactory | None) -> ConnectionFactory:
    """Return a callable that opens a new connection, from exactly one of the two sources.

    Raises:
        ValueError: Both or neither of ``dsn`` and ``connection_factory`` were given.
    """
    if dsn is not None and connection_factory is not None:
        raise ValueError(
            "pass either dsn or connection_factory, not both: connection_factory is "
            "used to open the connection, so a dsn beside it would be ignored"
        )
    if connection_factory is not None:
        return connection_factory
    if dsn is None:
        raise ValueError(
            "a PostgreSQL connection is needed: pass dsn (e.g. "
            "'postgresql://user@localhost:5432/db') or connection_factory"
        )
    return partial(psycopg.connect, dsn)


@dataclass(frozen=True)
class VectorTable:
    """A checked table: its name and the columns holding ids and vectors."""

    relation: sql.Identifier
    name: str
    index_column: str
    vector_column: str
    vector_type: str
    encoding: Encoding
    cast_to_real_array: bool

    @property
    def label(self) -> str:
        """How messages name the vector column, e.g. ``'column "vec" of table "public"."t"'``."""
        return f'column "{self.vector_column}" of table {self.name}'

    def select(self) -> sql.Composed:
        """``SELECT id, <vector as bytea> FROM table``, to be completed by the caller."""
        vector: sql.Composable = sql.Identifier(self.vector_column)
        if self.cast_to_real_array:
            vector = sql.SQL("{}::real[]").format(vector)
        if self.encoding != "bytea":
            vector = sql.SQL("array_send({})").format(vector)
        return sql.SQL("SELECT {index}, {vector} FROM {table}").format(
            index=sql.Identifier(self.index_column), vector=vector, table=self.relation
        )

    def decode(
        self, rows: Sequence[tuple[Any, ...]], dim: int | None
    ) -> tuple[list[int], npt.NDArray[np.float32]]:
        """Turn ``(id, payload)`` rows from :meth:`select` into ids and a float32 matrix.

        Args:
            rows: Rows as fetched, ``(int, bytes)`` each.
            dim: The dimension of vectors already read, or None to take it from the
                first row.

        Returns:
            The ids as Python ints, and float32 ``(len(rows), dim)``, C-contiguous.

        Raises:
            ValueError: A NULL id or vector, a vector of another length than ``dim``
                (or than the first row's), a malformed array, or a NaN/infinite value.
        """
        if not rows:
            return [], np.empty((0, dim or 0), dtype=np.float32)
        ids, payloads = zip(*rows, strict=True)
        if None in ids:
            raise ValueError(
                f'index column "{self.index_column}" of table {self.name} is NULL in some '
                "row; every row needs an id (filter them out with where_clause="
                f"'\"{self.index_column}\" IS NOT NULL')"
            )
        if None in payloads:
            row = payloads.index(None)
            raise ValueError(
                f"{self.label}: row id={ids[row]} has a NULL vector (filter such rows out "
                f"with where_clause='\"{self.vector_column}\" IS NOT NULL')"
            )
        if self.encoding == "bytea":
            vectors = decode_float32_bytes(payloads, ids, dim, self.label)
        else:
            element_size = 4 if self.encoding == "float4[]" else 8
            vectors = decode_float_arrays(payloads, ids, dim, element_size, self.label)
        check_finite(vectors, ids, self.label)
        return list(ids), vectors


def inspect_table(
    connection: psycopg.Connection[Any],
    table: tuple[str, ...],
    index_column: str,
    vector_column: str,
) -> VectorTable:
    """Look the table and its two columns up in the catalog and check their types.

    Args:
        connection: An open connection.
        table: Identifier parts from :func:`table_parts`.
        index_column: Name of the integer id column, exactly as in the catalog.
        vector_column: Name of the vector column, exactly as in the catalog.

    Returns:
        The checked table.

    Raises:
        ValueError: The table or a column does not exist (the message lists the
            columns there are, or tables whose name differs only in case), the id
            column is not an integer type, or the vector column's type is unsupported.
    """
    requested = sql.Identifier(*table).as_string(connection)
    found = connection.execute(
        "SELECT n.nspname, c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
        [requested],
    ).fetchone()
    if found is None:
        raise ValueError(_missing_table_message(connection, table, requested))
    relation = sql.Identifier(*found)
    name = relation.as_string(connection)
    columns = {
        column: (type_name, shown_type)
        for column, type_name, shown_type in connection.execute(
            "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod) "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            [requested],
        )
    }
    for column in (index_column, vector_column):
        if column not in columns:
            listed = ", ".join(f'"{existing}"' for existing in columns)
            raise ValueError(
                f'column "{column}" not found in table {name}; its columns are: {listed} '
                "(names are matched exactly, case included)"
            )
    index_type, shown_index_type = columns[index_column]
    if index_type not in _INTEGER_TYPES:
        raise ValueError(
            f'index column "{index_column}" of table {name} has type {shown_index_type}; '
            "it must be an integer type (smallint, integer or bigint)"
        )
    vector_type, shown_vector_type = columns[vector_column]
    if vector_type not in _VECTOR_TYPES:
        raise ValueError(
            f'vector column "{vector_column}" of table {name} has type {shown_vector_type}; '
            f"supported types are {SUPPORTED_VECTOR_TYPES}"
        )
    encoding, cast_to_real_array = _VECTOR_TYPES[vector_type]
    return VectorTable(
        relation=relation,
        name=name,
        index_column=index_column,
        vector_column=vector_column,
        vector_type=shown_vector_type,
        encoding=encoding,
        cast_to_real_array=cast_to_real_array,
    )


def _missing_table_message(
    connection: psycopg.Connection[Any], table: tuple[str, ...], requested: str
) -> str:
    row = connection.execute("SHOW search_path").fetchone()
    search_path = row[0] if row else "?"
    message = (
        f"table {requested} not found in the database (search_path: {search_path}); "
        "names are matched exactly, case included"
    )
    near = connection.execute(
        "SELECT n.nspname, c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE lower(c.relname) = lower(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "ORDER BY 1, 2 LIMIT 5",
        [table[-1]],
    ).fetchall()
    if near:
        message += "; did you mean " + " or ".join(repr(tuple(match)) for match in near) + "?"
    return message


def decode_float_arrays(
    payloads: Sequence[bytes],
    ids: Sequence[int],
    dim: int | None,
    element_size: int,
    label: str,
) -> npt.NDArray[np.float32]:
    """Decode ``array_send`` output of one-dimensional float4/float8 arrays.

    Args:
        payloads: One binary-format array per row.
        ids: The rows' ids, for messages.
        dim: Expected length, or None to take the first row's.
        element_size: 4 for ``real[]``, 8 for ``double precision[]``.
        label: Names the column in messages.

    Returns:
        float32 ``(len(payloads), dim)``, C-contiguous and writable.

    Raises:
        ValueError: A row is empty, multi-dimensional, holds NULL elements or has
            another length; the message names its id.
    """
    if dim is None:
        problem = _array_problem(payloads[0], None)
        if problem:
            raise ValueError(f"{label}: the vector of row id={ids[0]} {problem}")
        dim = struct.unpack_from(">i", payloads[0], 12)[0]
    element = np.dtype([("size", ">i4"), ("value", f">f{element_size}")])
    row_type = np.dtype([*_ARRAY_HEADER, ("items", element, (dim,))])
    sizes = np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))
    bad = np.flatnonzero(sizes != row_type.itemsize)
    if not bad.size:
        rows = np.frombuffer(b"".join(payloads), dtype=row_type)
        bad = np.flatnonzero(
            (rows["ndim"] != 1) | (rows["has_null"] != 0) | (rows["length"] != dim)
        )
    if bad.size:
        row = int(bad[0])
        problem = _array_problem(payloads[row], dim) or "is malformed"
        raise ValueError(f"{label}: the vector of row id={ids[row]} {problem}")
    with np.errstate(over="ignore"):  # float8 beyond float32 range becomes inf, then rejected
        return np.ascontiguousarray(rows["items"]["value"], dtype=np.float32)


def _array_problem(payload: bytes, dim: int | None) -> str | None:
    """Why one binary-format array is not a vector of ``dim`` values; None if it is."""
    ndim, has_null = struct.unpack_from(">ii", payload)
    if ndim == 0:
        return "is an empty array"
    if ndim > 1:
        return f"is a {ndim}-dimensional array; vectors must be one-dimensional"
    if has_null:
        return "holds NULL elements"
    length: int = struct.unpack_from(">i", payload, 12)[0]
    if dim is not None and length != dim:
        return f"has {length} values, expected {dim} like the vectors read before it"
    return None


def decode_float32_bytes(
    payloads: Sequence[bytes], ids: Sequence[int], dim: int | None, label: str
) -> npt.NDArray[np.float32]:
    """Decode ``bytea`` values that hold little-endian float32 vectors.

    Args:
        payloads: One ``bytes`` per row, ``4 * dim`` long.
        ids: The rows' ids, for messages.
        dim: Expected length, or None to take the first row's.
        label: Names the column in messages.

    Returns:
        float32 ``(len(payloads), dim)``, C-contiguous and writable.

    Raises:
        ValueError: A value's byte length is not ``4 * dim`` (or, for the first row,
            not a positive multiple of 4); the message names the row's id.
    """
    if dim is None:
        size = len(payloads[0])
        if size == 0 or size % 4:
            raise ValueError(
                f"{label}: the vector of row id={ids[0]} is {size} bytes long; bytea "
                "vectors must hold little-endian float32 values, 4 bytes each"
            )
        dim = size // 4
    sizes = np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))
    bad = np.flatnonzero(sizes != 4 * dim)
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"{label}: the vector of row id={ids[row]} is {sizes[row]} bytes long, expected "
            f"{4 * dim} ({dim} little-endian float32 values like the vectors read before it)"
        )
    buffer = bytearray().join(payloads)
    vectors = np.frombuffer(buffer, dtype="<f4").reshape(len(payloads), dim)
    return vectors.astype(np.float32, copy=False)
