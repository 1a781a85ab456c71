"""Fetch functions: in memory, from the demo Parquet file, and from a real PostgreSQL table."""

from __future__ import annotations

import doctest
import pickle
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow.parquet as pq
import pytest

from lshrs.sources import (
    MissingVectorsError,
    PostgresFetcher,
    array_fetcher,
    parquet_fetcher,
    postgres_fetcher,
)
from tests.fixtures.pg_tables import (
    ARRAY_TYPES,
    PGVECTOR_TYPES,
    create_vector_table,
)
from tests.fixtures.postgres_server import with_search_path

REPO = Path(__file__).resolve().parents[1]
Connection = psycopg.Connection[Any]


def random_vectors(count: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


# --- MissingVectorsError ----------------------------------------------------------------


def test_missing_vectors_error_is_a_key_error_listing_ten_ids_and_the_count() -> None:
    error = MissingVectorsError(range(30, 0, -2), "table t")

    assert isinstance(error, KeyError)
    assert error.missing_ids == list(range(2, 31, 2))
    assert (
        str(error) == "15 id(s) missing from table t: 2, 4, 6, 8, 10, 12, 14, 16, 18, 20 and 5 more"
    )


def test_missing_vectors_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(MissingVectorsError([3, 1], "somewhere")))

    assert error.missing_ids == [1, 3]
    assert str(error) == "2 id(s) missing from somewhere: 1, 3"


# --- array_fetcher ------------------------------------------------------------------------


def test_array_fetcher_returns_vectors_in_the_order_asked() -> None:
    ids = np.array([50, 10, 40, 20, 30])
    vectors = random_vectors(5, 4)
    fetch = array_fetcher(ids, vectors)

    wanted = [20, 50, 20, 10]
    fetched = fetch(wanted)

    assert fetched.dtype == np.float32
    assert fetched.flags.c_contiguous
    np.testing.assert_array_equal(fetched, vectors[[3, 0, 3, 1]])


def test_array_fetcher_accepts_numpy_ids_of_any_integer_type() -> None:
    fetch = array_fetcher(np.array([1, 2, 3], np.uint16), np.eye(3))

    np.testing.assert_array_equal(fetch(np.array([3, 1], np.int32)), np.eye(3)[[2, 0]])


def test_an_unsigned_id_beyond_int64_is_named_as_given() -> None:
    fetch = array_fetcher([1, 2], np.eye(2))
    with pytest.raises(ValueError, match="got 18446744073709551615"):
        fetch(np.array([1, 2**64 - 1], dtype=np.uint64))


def test_array_fetcher_reports_every_missing_id() -> None:
    fetch = array_fetcher([1, 2, 3], np.eye(3))

    with pytest.raises(MissingVectorsError) as caught:
        fetch([2, 99, 0, 99, 4])

    assert caught.value.missing_ids == [0, 4, 99]
    assert "3 id(s) missing from the in-memory vectors: 0, 4, 99" in str(caught.value)


def test_array_fetcher_of_no_ids_returns_an_empty_matrix() -> None:
    fetch = array_fetcher([1, 2], np.ones((2, 7)))

    assert fetch([]).shape == (0, 7)
    assert fetch.dim == 7
    assert len(fetch) == 2


@pytest.mark.parametrize(
    ("ids", "vectors", "message"),
    [
        ([1, 2, 1], np.ones((3, 2)), "ids must be unique; id 1 appears more than once"),
        ([1, 2], np.ones((3, 2)), r"vectors must have shape \(len\(ids\), dim\) = \(2, dim\)"),
        ([1, 2], np.ones(2), r"got \(2,\)"),
        ([1.5, 2.0], np.ones((2, 2)), "ids must be integers; got dtype float64"),
        ([[1, 2]], np.ones((1, 2)), "ids must be one-dimensional"),
    ],
)
def test_array_fetcher_rejects_bad_stores(ids: Any, vectors: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        array_fetcher(ids, vectors)


def test_array_fetcher_rejects_non_integer_queries() -> None:
    fetch = array_fetcher([1], np.ones((1, 2)))

    with pytest.raises(ValueError, match="ids must be integers; got dtype float64"):
        fetch([1.0])  # type: ignore[list-item]


# --- parquet_fetcher ------------------------------------------------------------------------


def test_parquet_fetcher_returns_the_demo_vectors_by_id(demo_parquet: Path) -> None:
    table = pq.read_table(demo_parquet)
    all_ids = table.column("id").to_numpy()
    all_vectors = table.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, 384)
    rows = np.random.default_rng(3).choice(len(all_ids), size=300)
    fetch = parquet_fetcher(demo_parquet, "id", "vector")

    fetched = fetch(all_ids[rows].tolist())

    assert fetched.shape == (300, 384)
    np.testing.assert_array_equal(fetched, all_vectors[rows])


def test_parquet_fetcher_reports_ids_not_in_the_file(demo_parquet: Path) -> None:
    fetch = parquet_fetcher(demo_parquet, "id", "vector")

    with pytest.raises(
        MissingVectorsError, match=r"2 id\(s\) missing from .*debian-demo\.parquet: 11, 59503"
    ):
        fetch([10, 11, 59503])  # 10 is in the demo sample, 11 and 59503 are not


def test_parquet_fetcher_checks_columns_like_the_loader(demo_parquet: Path) -> None:
    with pytest.raises(ValueError, match='column "embedding" not found'):
        parquet_fetcher(demo_parquet, "id", "embedding")


def test_parquet_fetcher_gives_the_install_hint_without_pyarrow(
    demo_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)

    with pytest.raises(ImportError, match=r'pip install "lshrs\[parquet\]"'):
        parquet_fetcher(demo_parquet, "id", "vector")


# --- postgres_fetcher -----------------------------------------------------------------------


@pytest.fixture
def dsn(postgres_dsn: str, pg_schema: str) -> str:
    return with_search_path(postgres_dsn, pg_schema)


@pytest.fixture
def items(pg_connection: Connection) -> np.ndarray:
    """Table ``items``: ids 0, 10, ..., 990 with 8-dim real[] vectors; returns the vectors."""
    vectors = random_vectors(100, 8)
    stored = np.random.default_rng(1).permutation(100)  # heap order differs from id order
    create_vector_table(pg_connection, "items", stored * 10, vectors[stored])
    return vectors


@pytest.fixture
def fetch_items(dsn: str, items: np.ndarray) -> Iterator[PostgresFetcher]:
    with postgres_fetcher(dsn, table="items", index_column="id", vector_column="vec") as fetch:
        yield fetch


@pytest.mark.parametrize("vector_type", [*ARRAY_TYPES, "bytea"])
def test_postgres_fetcher_returns_vectors_in_the_order_asked(
    dsn: str, pg_connection: Connection, vector_type: str
) -> None:
    vectors = random_vectors(40, 5)
    stored = np.random.default_rng(2).permutation(40)  # heap order differs from id order
    create_vector_table(pg_connection, "items", stored + 100, vectors[stored], vector_type)

    with postgres_fetcher(dsn, table="items", index_column="id", vector_column="vec") as fetch:
        fetched = fetch([139, 100, 120, 139, 101])

    assert fetched.dtype == np.float32
    np.testing.assert_array_equal(fetched, vectors[[39, 0, 20, 39, 1]])


@pytest.mark.parametrize("vector_type", PGVECTOR_TYPES)
def test_postgres_fetcher_reads_pgvector_types(
    pgvector_schema_dsn: str, pgvector_connection: Connection, vector_type: str
) -> None:
    vectors = random_vectors(10, 4)
    create_vector_table(pgvector_connection, "items", range(10), vectors, f"{vector_type}(4)")

    with postgres_fetcher(
        pgvector_schema_dsn, table="items", index_column="id", vector_column="vec"
    ) as fetch:
        fetched = fetch([9, 0])

    expected = (
        vectors.astype(np.float16).astype(np.float32) if vector_type == "halfvec" else vectors
    )
    np.testing.assert_array_equal(fetched, expected[[9, 0]])


def test_postgres_fetcher_reports_missing_ids(fetch_items: PostgresFetcher) -> None:
    with pytest.raises(MissingVectorsError) as caught:
        fetch_items([10, 15, 20, 7, 15])

    assert caught.value.missing_ids == [7, 15]
    assert str(caught.value).startswith('2 id(s) missing from table "lshrs_test_')


def test_postgres_fetcher_reports_all_missing_when_nothing_matches(
    fetch_items: PostgresFetcher,
) -> None:
    with pytest.raises(MissingVectorsError, match=r"3 id\(s\) missing"):
        fetch_items([1, 2, 3])


def test_postgres_fetcher_of_no_ids_returns_an_empty_matrix(
    fetch_items: PostgresFetcher,
) -> None:
    assert fetch_items([]).shape == (0, 8)


def test_postgres_fetcher_of_no_ids_from_an_empty_table_returns_no_columns(
    dsn: str, pg_connection: Connection
) -> None:
    pg_connection.execute("CREATE TABLE items (id bigint, vec real[])")

    with postgres_fetcher(dsn, table="items", index_column="id", vector_column="vec") as fetch:
        assert fetch([]).shape == (0, 0)
        pg_connection.execute("INSERT INTO items VALUES (1, '{1,2,3}')")
        assert fetch([]).shape == (0, 3)


class CountingCursor(psycopg.Cursor[Any]):
    executed = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        CountingCursor.executed += 1
        return super().execute(*args, **kwargs)


def test_postgres_fetcher_makes_one_query_per_call(dsn: str, items: np.ndarray) -> None:
    def connect() -> Connection:
        return psycopg.connect(dsn, cursor_factory=CountingCursor)

    with postgres_fetcher(
        table="items", index_column="id", vector_column="vec", connection_factory=connect
    ) as fetch:
        fetch([10])  # the first call also checks the catalog
        CountingCursor.executed = 0
        fetched = fetch(list(range(990, -1, -10)))

    assert CountingCursor.executed == 1
    np.testing.assert_array_equal(fetched, items[::-1])


def test_postgres_fetcher_keeps_one_connection(dsn: str, items: np.ndarray) -> None:
    opened: list[Connection] = []

    def connect() -> Connection:
        opened.append(psycopg.connect(dsn))
        return opened[-1]

    fetch = postgres_fetcher(
        table="items", index_column="id", vector_column="vec", connection_factory=connect
    )
    assert opened == []  # opened lazily
    for _ in range(3):
        fetch([10, 20])

    assert len(opened) == 1
    assert opened[0].autocommit  # never left idle in a transaction
    fetch.close()
    assert opened[0].closed
    fetch.close()  # twice is fine


def test_postgres_fetcher_reconnects_after_close(
    fetch_items: PostgresFetcher, items: np.ndarray
) -> None:
    fetch_items.close()

    np.testing.assert_array_equal(fetch_items([30]), items[[3]])


def test_postgres_fetcher_survives_a_dropped_connection(
    fetch_items: PostgresFetcher, items: np.ndarray, postgres_dsn: str
) -> None:
    fetch_items([10])
    pid = fetch_items._connection.info.backend_pid  # type: ignore[union-attr]
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])

    np.testing.assert_array_equal(fetch_items([40, 10]), items[[4, 1]])


def test_postgres_fetcher_is_safe_from_several_threads(
    fetch_items: PostgresFetcher, items: np.ndarray
) -> None:
    failures: list[BaseException] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(20):
                rows = rng.choice(100, size=7)
                np.testing.assert_array_equal(fetch_items((rows * 10).tolist()), items[rows])
        except BaseException as error:  # collected for the main thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []


def test_postgres_fetcher_quotes_hostile_identifiers(
    dsn: str, pg_connection: Connection, pg_schema: str
) -> None:
    vectors = random_vectors(3, 2)
    table = 'Vectors "v2"; DROP SCHEMA public'
    create_vector_table(
        pg_connection, (pg_schema, table), [1, 2, 3], vectors, id_column="Id", vector_column="E mb"
    )

    with postgres_fetcher(
        dsn, table=(pg_schema, table), index_column="Id", vector_column="E mb"
    ) as fetch:
        fetched = fetch([3, 1])

    np.testing.assert_array_equal(fetched, vectors[[2, 0]])


def test_postgres_fetcher_checks_the_table_on_first_call(dsn: str, items: np.ndarray) -> None:
    fetch = postgres_fetcher(dsn, table="items", index_column="id", vector_column="embedding")

    with pytest.raises(
        ValueError, match=r'column "embedding" not found .* its columns are: "id", "vec"'
    ):
        fetch([10])
    fetch.close()


def test_postgres_fetcher_names_a_null_vector(dsn: str, pg_connection: Connection) -> None:
    create_vector_table(pg_connection, "items", [1, 2], [np.ones(2), None])

    fetch = postgres_fetcher(dsn, table="items", index_column="id", vector_column="vec")
    with fetch, pytest.raises(ValueError, match=r"row id=2 has a NULL vector"):
        fetch([1, 2])


def test_postgres_fetcher_names_a_vector_of_another_length_than_earlier_ones(
    dsn: str, pg_connection: Connection
) -> None:
    create_vector_table(pg_connection, "items", [1, 2], [np.ones(3), np.ones(4)])

    with postgres_fetcher(dsn, table="items", index_column="id", vector_column="vec") as fetch:
        fetch([1])
        with pytest.raises(ValueError, match=r"row id=2 has 4 values, expected 3"):
            fetch([2])


def test_postgres_fetcher_rejects_ids_stored_twice(dsn: str, pg_connection: Connection) -> None:
    pg_connection.execute("CREATE TABLE items (id bigint, vec real[])")
    pg_connection.execute("INSERT INTO items VALUES (1, '{1,2}'), (1, '{3,4}')")

    fetch = postgres_fetcher(dsn, table="items", index_column="id", vector_column="vec")
    with fetch, pytest.raises(ValueError, match=r"id 1 appears more than once in table"):
        fetch([1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dsn": None}, "a PostgreSQL connection is needed"),
        ({"connection_factory": lambda: None}, "pass either dsn or connection_factory, not both"),
        ({"vector_column": "id"}, "index_column and vector_column are both 'id'"),
        ({"table": ("only-one",)}, "table must be 'name', 'schema.name' or a"),
    ],
)
def test_postgres_fetcher_rejects_bad_arguments(
    postgres_dsn: str, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "dsn": postgres_dsn,
        "table": "items",
        "index_column": "id",
        "vector_column": "vec",
    }
    with pytest.raises(ValueError, match=message):
        postgres_fetcher(**(arguments | kwargs))


def test_postgres_fetcher_gives_the_install_hint_without_psycopg(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)

    with pytest.raises(ImportError, match=r'pip install "lshrs\[postgres\]"'):
        postgres_fetcher("postgresql://nowhere", table="t", index_column="id", vector_column="v")


# --- documentation ------------------------------------------------------------------------


def test_docstring_examples_run(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(pg_database, autocommit=True) as connection:
        create_vector_table(
            connection, "items", [1, 2, 3], random_vectors(3, 3), vector_column="embedding"
        )
    monkeypatch.chdir(REPO)
    runner = doctest.DocTestRunner()
    finder = doctest.DocTestFinder()
    for fetcher in (array_fetcher, parquet_fetcher, postgres_fetcher):
        for test in finder.find(fetcher, extraglobs={"dsn": pg_database}):
            runner.run(test)

    assert runner.tries >= 8
    assert runner.failures == 0
