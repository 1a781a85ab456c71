"""iter_postgres_vectors against a real PostgreSQL server."""

from __future__ import annotations

import doctest
import os
import re
import sys
import tracemalloc
from typing import Any

import numpy as np
import psycopg
import pytest

from lshrs.sources import iter_postgres_vectors
from tests.fixtures.pg_tables import (
    ARRAY_TYPES,
    PGVECTOR_TYPES,
    create_vector_table,
)
from tests.fixtures.postgres_server import with_search_path

Connection = psycopg.Connection[Any]


def random_vectors(count: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def read_all(*args: Any, **kwargs: Any) -> tuple[list[int], np.ndarray, list[int]]:
    """All ids, all vectors stacked, and the batch sizes."""
    batches = list(iter_postgres_vectors(*args, **kwargs))
    ids = [i for batch_ids, _ in batches for i in batch_ids]
    return ids, np.concatenate([vectors for _, vectors in batches]), [len(b) for b, _ in batches]


@pytest.fixture
def dsn(postgres_dsn: str, pg_schema: str) -> str:
    """DSN whose sessions see this test's schema first."""
    return with_search_path(postgres_dsn, pg_schema)


# --- column types ---------------------------------------------------------------------


@pytest.mark.parametrize("vector_type", [*ARRAY_TYPES, "bytea"])
def test_each_column_type_round_trips_exactly(
    dsn: str, pg_connection: Connection, vector_type: str
) -> None:
    vectors = random_vectors(50, 8)
    create_vector_table(pg_connection, "items", range(50), vectors, vector_type)

    ids, loaded, sizes = read_all(dsn, "items", "id", "vec", batch_size=16)

    assert ids == list(range(50))
    assert sizes == [16, 16, 16, 2]
    assert loaded.dtype == np.float32
    assert loaded.flags.c_contiguous
    np.testing.assert_array_equal(loaded, vectors)


@pytest.mark.parametrize("vector_type", PGVECTOR_TYPES)
def test_pgvector_types_round_trip(
    pgvector_schema_dsn: str, pgvector_connection: Connection, vector_type: str
) -> None:
    vectors = random_vectors(20, 6)
    create_vector_table(pgvector_connection, "items", range(20), vectors, f"{vector_type}(6)")

    ids, loaded, _ = read_all(pgvector_schema_dsn, "items", "id", "vec", batch_size=7)

    assert ids == list(range(20))
    expected = (
        vectors.astype(np.float16).astype(np.float32) if vector_type == "halfvec" else vectors
    )
    np.testing.assert_array_equal(loaded, expected)


def test_double_precision_values_are_rounded_to_float32(
    dsn: str, pg_connection: Connection
) -> None:
    create_vector_table(pg_connection, "items", [1], [np.array([0.1, 1 / 3])], "float8[]")

    _, loaded, _ = read_all(dsn, "items", "id", "vec")

    np.testing.assert_array_equal(loaded, np.array([[0.1, 1 / 3]], dtype=np.float32))


@pytest.mark.parametrize("id_type", ["smallint", "integer", "bigint"])
def test_every_integer_id_type_is_accepted(
    dsn: str, pg_connection: Connection, id_type: str
) -> None:
    ids = [-5, 0, 7, 32000]
    create_vector_table(pg_connection, "items", ids, random_vectors(4, 3), id_type=id_type)

    loaded_ids, _, _ = read_all(dsn, "items", "id", "vec")

    assert loaded_ids == ids
    assert all(type(i) is int for i in loaded_ids)


def test_big_ids_survive(dsn: str, pg_connection: Connection) -> None:
    ids = [2**62, -(2**62), 2**40 + 1]
    create_vector_table(pg_connection, "items", ids, random_vectors(3, 3))

    loaded_ids, _, _ = read_all(dsn, "items", "id", "vec")

    assert loaded_ids == sorted(ids)


def test_rows_come_in_id_order_with_their_own_vectors(dsn: str, pg_connection: Connection) -> None:
    ids = np.random.default_rng(1).permutation(200) * 3
    vectors = random_vectors(200, 5)
    create_vector_table(pg_connection, "items", ids.tolist(), vectors)

    loaded_ids, loaded, _ = read_all(dsn, "items", "id", "vec", batch_size=64)

    order = np.argsort(ids)
    assert loaded_ids == ids[order].tolist()
    np.testing.assert_array_equal(loaded, vectors[order])


# --- naming tables and columns -----------------------------------------------------------


HOSTILE_TABLE = 'My "Odd" Table; DROP TABLE items; --'
HOSTILE_ID = 'Row "ID"'
HOSTILE_VECTOR = "the vec; SELECT 1"


@pytest.mark.parametrize("as_tuple", [True, False], ids=["tuple", "dotted-string"])
def test_hostile_identifiers_are_quoted(
    dsn: str, pg_connection: Connection, pg_schema: str, as_tuple: bool
) -> None:
    vectors = random_vectors(5, 4)
    create_vector_table(pg_connection, "items", [1], random_vectors(1, 4))
    create_vector_table(
        pg_connection,
        (pg_schema, HOSTILE_TABLE),
        range(5),
        vectors,
        id_column=HOSTILE_ID,
        vector_column=HOSTILE_VECTOR,
    )
    table = (pg_schema, HOSTILE_TABLE) if as_tuple else f"{pg_schema}.{HOSTILE_TABLE}"

    ids, loaded, _ = read_all(dsn, table, HOSTILE_ID, HOSTILE_VECTOR)

    assert ids == list(range(5))
    np.testing.assert_array_equal(loaded, vectors)
    still_there = pg_connection.execute("SELECT count(*) FROM items").fetchone()
    assert still_there == (1,)


def test_a_table_name_holding_a_dot_is_reached_with_a_tuple(
    dsn: str, pg_connection: Connection, pg_schema: str
) -> None:
    create_vector_table(pg_connection, "v1.2", [4, 5], random_vectors(2, 3))

    ids, _, _ = read_all(dsn, (pg_schema, "v1.2"), "id", "vec")

    assert ids == [4, 5]


def test_names_are_case_sensitive(dsn: str, pg_connection: Connection) -> None:
    create_vector_table(pg_connection, "Items", [1], random_vectors(1, 3), id_column="ID")
    create_vector_table(pg_connection, "items", [2], random_vectors(1, 3))

    assert read_all(dsn, "Items", "ID", "vec")[0] == [1]
    assert read_all(dsn, "items", "id", "vec")[0] == [2]


def test_a_view_can_be_read(dsn: str, pg_connection: Connection) -> None:
    create_vector_table(pg_connection, "items", range(10), random_vectors(10, 3))
    pg_connection.execute("CREATE VIEW odd_items AS SELECT * FROM items WHERE id % 2 = 1")

    ids, _, _ = read_all(dsn, "odd_items", "id", "vec")

    assert ids == [1, 3, 5, 7, 9]


# --- where_clause and connections -------------------------------------------------------


def test_where_clause_filters_rows(dsn: str, pg_connection: Connection) -> None:
    vectors = random_vectors(30, 4)
    create_vector_table(pg_connection, "items", range(30), vectors)

    ids, loaded, _ = read_all(
        dsn, "items", "id", "vec", batch_size=4, where_clause="id % 3 = 0 AND id >= 12"
    )

    assert ids == [12, 15, 18, 21, 24, 27]
    np.testing.assert_array_equal(loaded, vectors[ids])


def test_where_clause_can_skip_null_vectors(dsn: str, pg_connection: Connection) -> None:
    create_vector_table(pg_connection, "items", [1, 2, 3], [np.ones(2), None, np.zeros(2)])

    ids, _, _ = read_all(dsn, "items", "id", "vec", where_clause='"vec" IS NOT NULL')

    assert ids == [1, 3]


def test_sql_errors_in_where_clause_propagate(dsn: str, pg_connection: Connection) -> None:
    create_vector_table(pg_connection, "items", [1], random_vectors(1, 2))

    with pytest.raises(psycopg.errors.UndefinedColumn, match="no_such_column"):
        read_all(dsn, "items", "id", "vec", where_clause="no_such_column > 1")


def test_an_empty_result_yields_no_batch(dsn: str, pg_connection: Connection) -> None:
    create_vector_table(pg_connection, "items", [1], random_vectors(1, 2))

    assert list(iter_postgres_vectors(dsn, "items", "id", "vec", where_clause="false")) == []


class Opened:
    """A connection_factory that remembers the connections it opened."""

    def __init__(self, dsn: str, **options: Any) -> None:
        self.dsn = dsn
        self.options = options
        self.connections: list[Connection] = []

    def __call__(self) -> Connection:
        connection = psycopg.connect(self.dsn, **self.options)
        self.connections.append(connection)
        return connection


@pytest.mark.parametrize("autocommit", [False, True])
def test_connection_factory_is_used_and_its_connection_closed(
    dsn: str, pg_connection: Connection, autocommit: bool
) -> None:
    create_vector_table(pg_connection, "items", range(10), random_vectors(10, 3))
    factory = Opened(dsn, autocommit=autocommit)

    batches = iter_postgres_vectors(None, "items", "id", "vec", 4, connection_factory=factory)
    assert factory.connections == []  # nothing opened before iteration
    ids = [i for batch_ids, _ in batches for i in batch_ids]

    assert ids == list(range(10))
    assert len(factory.connections) == 1
    assert factory.connections[0].closed


def test_stopping_early_closes_the_connection(dsn: str, pg_connection: Connection) -> None:
    create_vector_table(pg_connection, "items", range(10), random_vectors(10, 3))
    factory = Opened(dsn)

    batches = iter_postgres_vectors(None, "items", "id", "vec", 2, connection_factory=factory)
    first_ids, _ = next(batches)
    batches.close()  # type: ignore[attr-defined]

    assert first_ids == [0, 1]
    assert factory.connections[0].closed


# --- streaming memory ---------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def stream_big(dsn: str, where_clause: str, trace: bool) -> tuple[int, int]:
    """Rows read and the memory peak while streaming ``big`` in 5,000-row batches.

    With ``trace``, the peak is tracemalloc's (Python objects and numpy arrays); without,
    it is the rise of the process's RSS, which also sees libpq's buffers. They are
    measured apart because tracemalloc's own bookkeeping grows the RSS.
    """
    seen = 0
    start_rss = peak_rss = rss_bytes()
    if trace:
        tracemalloc.start()
    try:
        for ids, vectors in iter_postgres_vectors(
            dsn, "big", "id", "vec", 5_000, where_clause=where_clause
        ):
            assert vectors.shape == (len(ids), 64)
            seen += len(ids)
            peak_rss = max(peak_rss, rss_bytes())
        peak = tracemalloc.get_traced_memory()[1] if trace else peak_rss - start_rss
    finally:
        tracemalloc.stop()
    return seen, peak


def test_streaming_100k_rows_keeps_memory_flat(dsn: str, pg_connection: Connection) -> None:
    pg_connection.execute(
        "CREATE TABLE big AS SELECT g::bigint AS id, "
        "array(SELECT random()::real + g * 0 FROM generate_series(1, 64)) AS vec "
        "FROM generate_series(1, 100000) AS g"
    )
    pg_connection.execute("ALTER TABLE big ADD PRIMARY KEY (id)")
    table_bytes = 100_000 * 64 * 4  # 25.6 MB as float32; fetched whole, about 4 times that

    stream_big(dsn, "true", trace=False)  # warms the allocator up
    seen, rss_rise = stream_big(dsn, "true", trace=False)
    seen_small, small_traced_peak = stream_big(dsn, "id <= 20000", trace=True)
    _, traced_peak = stream_big(dsn, "true", trace=True)

    assert (seen_small, seen) == (20_000, 100_000)
    assert rss_rise < table_bytes / 4  # a client-side cursor would hold ~100 MB of libpq buffers
    assert traced_peak < table_bytes / 2
    assert traced_peak < 1.2 * small_traced_peak  # five times the rows, the same memory


# --- bad input ----------------------------------------------------------------------------


def test_missing_table_is_named(dsn: str, pg_connection: Connection) -> None:
    with pytest.raises(ValueError, match=r'table "no_such_table" not found.*search_path'):
        read_all(dsn, "no_such_table", "id", "vec")


def test_missing_table_suggests_the_same_name_in_another_case(
    dsn: str, pg_connection: Connection, pg_schema: str
) -> None:
    create_vector_table(pg_connection, "Items", [1], random_vectors(1, 2))

    with pytest.raises(ValueError, match=rf"did you mean \('{pg_schema}', 'Items'\)"):
        read_all(dsn, "items", "id", "vec")


def test_missing_schema_is_a_missing_table(dsn: str) -> None:
    with pytest.raises(ValueError, match=r'table "nowhere"\."items" not found'):
        read_all(dsn, "nowhere.items", "id", "vec")


@pytest.mark.parametrize("missing", ["index", "vector"])
def test_missing_column_lists_the_columns(
    dsn: str, pg_connection: Connection, missing: str
) -> None:
    create_vector_table(pg_connection, "items", [1], random_vectors(1, 2), vector_column="emb")
    index_column, vector_column = ("ident", "emb") if missing == "index" else ("id", "vec")

    with pytest.raises(ValueError) as caught:
        read_all(dsn, "items", index_column, vector_column)

    message = str(caught.value)
    assert f'column "{index_column if missing == "index" else vector_column}" not found' in message
    assert '"items"' in message
    assert 'its columns are: "id", "emb"' in message


def test_catalog_errors_come_before_any_row(dsn: str, pg_connection: Connection) -> None:
    create_vector_table(pg_connection, "items", [1], random_vectors(1, 2))

    batches = iter_postgres_vectors(dsn, "items", "id", "nope")
    with pytest.raises(ValueError, match='column "nope" not found'):
        next(batches)


@pytest.mark.parametrize("id_type", ["text", "numeric", "double precision", "uuid"])
def test_non_integer_id_column_is_named_with_its_type(
    dsn: str, pg_connection: Connection, id_type: str
) -> None:
    pg_connection.execute(f"CREATE TABLE items (key {id_type}, vec real[])")

    with pytest.raises(ValueError, match=rf'index column "key" .* has type {id_type}; it must'):
        read_all(dsn, "items", "key", "vec")


@pytest.mark.parametrize("vector_type", ["text", "integer[]", "jsonb"])
def test_unsupported_vector_type_lists_supported_ones(
    dsn: str, pg_connection: Connection, vector_type: str
) -> None:
    pg_connection.execute(f"CREATE TABLE items (id bigint, vec {vector_type})")

    with pytest.raises(ValueError, match=r'vector column "vec" .* supported types are real\[\]'):
        read_all(dsn, "items", "id", "vec")


@pytest.mark.parametrize("vector_type", [*ARRAY_TYPES, "bytea"])
def test_null_vector_names_the_row(dsn: str, pg_connection: Connection, vector_type: str) -> None:
    vectors = [np.ones(3, np.float32)] * 3 + [None] + [np.ones(3, np.float32)]
    create_vector_table(pg_connection, "items", range(10, 15), vectors, vector_type)

    with pytest.raises(ValueError, match=r'column "vec" of table .*"items": row id=13 has a NULL'):
        read_all(dsn, "items", "id", "vec", batch_size=2)


def test_null_id_is_reported(dsn: str, pg_connection: Connection) -> None:
    pg_connection.execute("CREATE TABLE items (id bigint, vec real[])")
    pg_connection.execute("INSERT INTO items VALUES (1, '{1,2}'), (NULL, '{3,4}')")

    with pytest.raises(ValueError, match=r'index column "id" of table .* is NULL'):
        read_all(dsn, "items", "id", "vec")


@pytest.mark.parametrize("vector_type", [*ARRAY_TYPES, "bytea"])
@pytest.mark.parametrize("batch_size", [100, 3], ids=["same-batch", "later-batch"])
def test_wrong_length_names_the_row_and_both_lengths(
    dsn: str, pg_connection: Connection, vector_type: str, batch_size: int
) -> None:
    vectors = [np.ones(4, np.float32)] * 5 + [np.ones(5, np.float32)]
    create_vector_table(pg_connection, "items", range(1, 7), vectors, vector_type)

    expected = (
        "is 20 bytes long, expected 16" if vector_type == "bytea" else "has 5 values, expected 4"
    )
    with pytest.raises(ValueError, match=rf"row id=6 {expected}"):
        read_all(dsn, "items", "id", "vec", batch_size=batch_size)


@pytest.mark.parametrize(
    ("literal", "problem"),
    [
        ("'{}'", "is an empty array"),
        ("'{{1,2},{3,4}}'", "is a 2-dimensional array"),
        ("'{1,NULL}'", "holds NULL elements"),
    ],
)
def test_malformed_arrays_name_the_row(
    dsn: str, pg_connection: Connection, literal: str, problem: str
) -> None:
    pg_connection.execute("CREATE TABLE items (id bigint, vec real[])")
    pg_connection.execute(f"INSERT INTO items VALUES (1, '{{5,6}}'), (2, {literal})")

    with pytest.raises(ValueError, match=rf"row id=2 {problem}"):
        read_all(dsn, "items", "id", "vec")


def test_bytea_not_made_of_float32_names_the_row(dsn: str, pg_connection: Connection) -> None:
    pg_connection.execute("CREATE TABLE items (id bigint, vec bytea)")
    pg_connection.execute("INSERT INTO items VALUES (8, '\\x010203')")

    with pytest.raises(ValueError, match=r"row id=8 is 3 bytes long; bytea vectors must hold"):
        read_all(dsn, "items", "id", "vec")


@pytest.mark.parametrize("vector_type", [*ARRAY_TYPES, "bytea"])
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_value_names_the_row(
    dsn: str, pg_connection: Connection, vector_type: str, bad_value: float
) -> None:
    vectors = random_vectors(6, 3)
    vectors[4, 1] = bad_value
    create_vector_table(pg_connection, "items", range(6), vectors, vector_type)

    with pytest.raises(ValueError, match=rf"row id=4 holds {bad_value} at position 1"):
        read_all(dsn, "items", "id", "vec", batch_size=4)


def test_double_beyond_float32_range_names_the_row(dsn: str, pg_connection: Connection) -> None:
    pg_connection.execute("CREATE TABLE items (id bigint, vec float8[])")
    pg_connection.execute("INSERT INTO items VALUES (1, '{1,2}'), (2, '{1e300,2}')")

    with pytest.raises(ValueError, match=r"row id=2 holds inf at position 0.*beyond float32"):
        read_all(dsn, "items", "id", "vec")


# --- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer; got 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer; got 2.5"),
        ({"vector_column": "id"}, "index_column and vector_column are both 'id'"),
        ({"table": ""}, "table must be 'name', 'schema.name' or a"),
        ({"table": ("a", "b", "c")}, "table must be 'name', 'schema.name' or a"),
        ({"table": "schema."}, "table must be"),
        ({"dsn": None}, "a PostgreSQL connection is needed: pass dsn"),
        ({"connection_factory": lambda: None}, "pass either dsn or connection_factory, not both"),
    ],
)
def test_bad_arguments_are_rejected_at_the_call(
    postgres_dsn: str, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "dsn": postgres_dsn,
        "table": "items",
        "index_column": "id",
        "vector_column": "vec",
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        iter_postgres_vectors(**(arguments | kwargs))


def test_missing_psycopg_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)

    with pytest.raises(ImportError, match=r'pip install "lshrs\[postgres\]"'):
        iter_postgres_vectors("postgresql://nowhere", "items", "id", "vec")


# --- documentation ------------------------------------------------------------------------


def test_docstring_example_runs(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as connection:
        create_vector_table(
            connection, "items", [1, 2, 3], random_vectors(3, 3), vector_column="embedding"
        )
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(iter_postgres_vectors, extraglobs={"dsn": pg_database}):
        runner.run(test)

    assert runner.tries > 0
    assert runner.failures == 0
