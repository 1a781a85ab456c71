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
