"""Streaming into the index: a bad row stops the stream with nothing of its batch
written, and re-running after a fix converges to exactly a clean build."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lshrs import LSHRS
from lshrs.progress import Progress
from lshrs.protocol import ClearingError
from lshrs.storage import RedisStorage
from lshrs.validation import StreamIds
from tests.fixtures.pg_tables import create_vector_table
from tests.fixtures.postgres_server import with_search_path
from tests.helpers import snapshot


def write(path, ids, vectors):
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])
    pq.write_table(pa.table({"id": ids, "vector": column}), path)


@pytest.fixture
def data():
    return np.random.default_rng(0).standard_normal((3000, 16)).astype(np.float32)


def make_index(redis_url, prefix):
    return LSHRS(dim=16, num_bands=6, rows_per_band=6, redis_url=redis_url, redis_prefix=prefix)


def test_interrupted_stream_resumes_to_a_clean_build(
    redis_url, prefix, redis_client, data, tmp_path
):
    clean = make_index(redis_url, prefix)
    assert (
        clean.create_signatures(
            format="parquet",
            file_path=_files(tmp_path / "ok", data),
            index_column="id",
            vector_column="vector",
            batch_size=500,
        )
        == 3000
    )
    expected = snapshot(redis_client, prefix)
    clean.clear()

    broken = data.copy()
    broken[2100, 3] = np.nan
    lsh = make_index(redis_url, prefix)
    directory = _files(tmp_path / "broken", broken)
    with pytest.raises(ValueError, match="2100"):
        lsh.create_signatures(
            format="parquet",
            file_path=directory,
            index_column="id",
            vector_column="vector",
            batch_size=500,
        )
    indexed = lsh.stats()["num_indexed"]
    assert 1500 <= indexed <= 2000 and indexed % 500 == 0
    assert lsh.get_top_k(data[2050], topk=1) != [2050]

    _files(tmp_path / "broken", data)
    lsh.create_signatures(
        format="parquet",
        file_path=directory,
        index_column="id",
        vector_column="vector",
        batch_size=500,
    )
    assert snapshot(redis_client, prefix) == expected


def _files(directory, vectors):
    directory.mkdir(exist_ok=True)
    ids = np.arange(len(vectors), dtype=np.int64)
    write(directory / "part-0.parquet", ids[:1500], vectors[:1500])
    write(directory / "part-1.parquet", ids[1500:], vectors[1500:])
    return directory


def test_unknown_format_and_missing_arguments_are_rejected(redis_url, prefix):
    lsh = make_index(redis_url, prefix)
    with pytest.raises(ValueError, match="format must be"):
        lsh.create_signatures(format="csv")
    with pytest.raises(ValueError, match="needs file_path"):
        lsh.create_signatures(format="parquet", index_column="id", vector_column="vector")
    with pytest.raises(ValueError, match="needs dsn or connection_factory"):
        lsh.create_signatures(format="postgres", table="t", index_column="id", vector_column="v")


def test_progress_reports_rows_and_rate():
    stream = io.StringIO()
    progress = Progress("indexing", total=10, stream=stream, enabled=True)
    progress.update(10)
    progress.close()
    assert stream.getvalue().strip().startswith("indexing: 10/10 rows,")
    assert stream.getvalue().rstrip().endswith("rows/s")


# --- each id once per load --------------------------------------------------------------


def load_parquet(lsh, path, batch_size=10):
    return lsh.create_signatures(
        format="parquet",
        file_path=path,
        index_column="id",
        vector_column="vector",
        batch_size=batch_size,
    )


def load_postgres(lsh, dsn, batch_size=10):
    return lsh.create_signatures(
        format="postgres",
        dsn=dsn,
        table="items",
        index_column="id",
        vector_column="vec",
        batch_size=batch_size,
    )


@pytest.fixture
def dsn(postgres_dsn, pg_schema):
    return with_search_path(postgres_dsn, pg_schema)


def test_an_id_repeated_in_a_later_parquet_batch_is_named(redis_url, prefix, data, tmp_path):
    ids = np.arange(20)
    ids[15] = 7  # batches of 10: the repeat is in the second batch
    write(tmp_path / "items.parquet", ids, data[:20])
    lsh = make_index(redis_url, prefix)

    with pytest.raises(ValueError, match=r"id 7 comes twice in .*items\.parquet"):
        load_parquet(lsh, tmp_path / "items.parquet")

    assert lsh.stats()["num_indexed"] == 10  # the first batch, not the one with the repeat


def test_an_id_repeated_in_another_parquet_file_is_named(redis_url, prefix, data, tmp_path):
    write(tmp_path / "part-0.parquet", np.arange(0, 40, 2), data[:20])
    write(tmp_path / "part-1.parquet", np.array([1, 3, 5, 38, 9]), data[20:25])
    lsh = make_index(redis_url, prefix)

    with pytest.raises(ValueError, match="id 38 comes twice"):
        load_parquet(lsh, tmp_path, batch_size=5)


def test_an_id_repeated_across_postgres_batches_is_named(
    redis_url, prefix, data, dsn, pg_connection
):
    ids = [*range(10), 9, *range(10, 19)]  # ordered by id, the two 9s straddle the batches
    create_vector_table(pg_connection, "items", ids, data[:20], primary_key=False)
    lsh = make_index(redis_url, prefix)

    with pytest.raises(ValueError, match="id 9 comes twice in table 'items'"):
        load_postgres(lsh, dsn)

    assert lsh.stats()["num_indexed"] == 10


def test_a_parquet_load_of_distinct_ids_in_any_order_indexes_every_row(
    redis_url, prefix, data, tmp_path
):
    ids = np.random.default_rng(1).permutation(1000) * 3
    write(tmp_path / "items.parquet", ids, data[:1000])
    lsh = make_index(redis_url, prefix)

    assert load_parquet(lsh, tmp_path / "items.parquet", batch_size=7) == 1000
    assert lsh.stats()["num_indexed"] == 1000


def test_running_the_same_load_again_changes_nothing(
    redis_url, prefix, redis_client, data, dsn, pg_connection
):
    create_vector_table(pg_connection, "items", range(50), data[:50])
    lsh = make_index(redis_url, prefix)
    assert load_postgres(lsh, dsn) == 50
    first = snapshot(redis_client, prefix)

    assert load_postgres(lsh, dsn) == 50

    assert snapshot(redis_client, prefix) == first


# --- bad rows are named by their id -----------------------------------------------------


def test_a_zero_vector_is_named_by_its_id(redis_url, prefix, data, tmp_path):
    vectors = data[:20].copy()
    vectors[13] = 0
    write(tmp_path / "items.parquet", np.arange(20) + 1000, vectors)

    with pytest.raises(ValueError, match=r"the vector of id 1013 \(row 3\) is all zeros"):
        load_parquet(make_index(redis_url, prefix), tmp_path / "items.parquet")


def test_a_negative_postgres_id_is_named_as_given(redis_url, prefix, data, dsn, pg_connection):
    create_vector_table(pg_connection, "items", [-7, *range(1, 20)], data[:20])

    with pytest.raises(ValueError, match="got -7 at position 0"):
        load_postgres(make_index(redis_url, prefix), dsn)


def test_the_largest_uint64_parquet_id_is_named_as_given(redis_url, prefix, data, tmp_path):
    ids = pa.array([1, 2, 2**64 - 1], type=pa.uint64())
    write(tmp_path / "items.parquet", ids, data[:3])

    with pytest.raises(ValueError, match="holds id 18446744073709551615"):
        load_parquet(make_index(redis_url, prefix), tmp_path / "items.parquet")


@pytest.mark.parametrize("ids", [[2**64 - 1, 1], np.array([2**64 - 1, 1], dtype=np.uint64)])
def test_an_id_beyond_int64_is_named_as_given(redis_url, prefix, data, ids):
    with pytest.raises(ValueError, match="got 18446744073709551615 at position 0"):
        make_index(redis_url, prefix).index(ids, data[:2])


def test_stream_ids_find_the_first_repeat_a_set_would_find():
    rng = np.random.default_rng(3)
    for _ in range(200):
        stream = StreamIds(ascending=False, source="a test")
        seen: set[int] = set()
        for _ in range(rng.integers(1, 30)):
            batch = np.unique(rng.integers(0, 400, size=rng.integers(1, 12)))
            rng.shuffle(batch)
            repeats = [int(i) for i in np.sort(batch) if int(i) in seen]
            if repeats:
                with pytest.raises(ValueError, match=f"id {repeats[0]} comes twice"):
                    stream.add(batch)
                break
            stream.add(batch)
            seen.update(batch.tolist())


def test_stream_ids_of_an_ascending_source_refuse_an_id_out_of_order():
    stream = StreamIds(ascending=True, source="table 'items'")
    stream.add(np.array([1, 5, 9]))
    with pytest.raises(ValueError, match="id 4 came after id 9 in table 'items'"):
        stream.add(np.array([4, 10]))


def test_writes_during_a_clear_are_refused_and_the_model_goes_last(
    redis_url, prefix, redis_client, data
):
    lsh = make_index(redis_url, prefix)
    lsh.index(np.arange(2000), data[:2000])
    keys = lsh.storage.keys
    cursor, _ = lsh.storage.protocol.call("clear", keys.root, [0, 10])
    assert cursor != b"0"
    before = snapshot(redis_client, prefix)
    with pytest.raises(ClearingError, match="is being cleared"):
        lsh.index(np.arange(2000, 2010), data[2000:2010])
    with pytest.raises(ClearingError):
        LSHRS(dim=16, num_bands=6, rows_per_band=6, redis_url=redis_url, redis_prefix=prefix)
    assert snapshot(redis_client, prefix) == before
    while cursor != b"0":
        assert redis_client.exists(keys.config, keys.model) == 2
        cursor, _ = lsh.storage.protocol.call("clear", keys.root, [cursor, 10])
    assert snapshot(redis_client, prefix) == {}
    lsh.index(np.arange(2000, 2010), data[2000:2010])
    assert lsh.stats()["num_indexed"] == 10
    assert lsh.verify().ok
    lsh.clear()


def test_an_interrupted_clear_is_finished_by_clearing_again(redis_url, prefix, redis_client, data):
    lsh = make_index(redis_url, prefix)
    lsh.index(np.arange(500), data[:500])
    lsh.storage.protocol.call("clear", lsh.storage.keys.root, [0, 10])
    assert lsh.verify().config_mismatch == ["clearing"]
    assert RedisStorage(url=redis_url, prefix=prefix).clear() > 0
    assert snapshot(redis_client, prefix) == {}
