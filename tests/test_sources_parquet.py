"""iter_parquet_vectors on real Parquet files: the bundled demo data and files made here."""

from __future__ import annotations

import doctest
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lshrs.sources.parquet
from lshrs.sources import iter_parquet_vectors

REPO = Path(__file__).resolve().parents[1]


def random_vectors(count: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def read_all(*args: Any, **kwargs: Any) -> tuple[list[int], np.ndarray, list[int]]:
    """All ids, all vectors stacked, and the batch sizes."""
    batches = list(iter_parquet_vectors(*args, **kwargs))
    ids = [i for batch_ids, _ in batches for i in batch_ids]
    return ids, np.concatenate([vectors for _, vectors in batches]), [len(b) for b, _ in batches]


def vector_array(vectors: np.ndarray, layout: str, value_type: pa.DataType) -> pa.Array:
    values = pa.array(vectors.reshape(-1).astype(value_type.to_pandas_dtype()), type=value_type)
    dim = vectors.shape[1]
    offsets = np.arange(0, vectors.size + 1, dim)
    if layout == "fixed_size_list":
        return pa.FixedSizeListArray.from_arrays(values, dim)
    if layout == "large_list":
        return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


def write_file(path: Path, columns: dict[str, Any], **options: Any) -> Path:
    pq.write_table(pa.table(columns), path, **options)
    return path


# --- the bundled demo data ------------------------------------------------------------


def test_demo_file_is_reproduced_exactly(demo_parquet: Path) -> None:
    table = pq.read_table(demo_parquet)
    expected = table.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, 384)

    ids, vectors, sizes = read_all(demo_parquet, "id", "vector", batch_size=768)

    assert ids == table.column("id").to_pylist()
    assert sizes == [768] * 6 + [392]  # batches cross the file's 1,000-row groups
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, expected)


def test_demo_vectors_are_unit_sentence_embeddings(demo_parquet: Path) -> None:
    _, vectors, _ = read_all(demo_parquet, "id", "vector")

    assert vectors.shape == (5000, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_float32_values_are_not_copied(demo_parquet: Path) -> None:
    _, vectors = next(iter_parquet_vectors(demo_parquet, "id", "vector", batch_size=100))

    assert vectors.flags.c_contiguous
    assert not vectors.flags.owndata
    assert not vectors.flags.writeable  # a view of Arrow's buffer


# --- layouts ----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["list", "large_list", "fixed_size_list"])
@pytest.mark.parametrize("value_type", [pa.float16(), pa.float32(), pa.float64()], ids=str)
def test_each_layout_and_float_type_is_read(
    tmp_path: Path, layout: str, value_type: pa.DataType
) -> None:
    vectors = random_vectors(25, 6)
    path = write_file(
        tmp_path / "vectors.parquet",
        {"id": pa.array(range(100, 125)), "vec": vector_array(vectors, layout, value_type)},
    )
    expected = vectors.astype(value_type.to_pandas_dtype()).astype(np.float32)

    ids, loaded, sizes = read_all(path, "id", "vec", batch_size=10)

    assert ids == list(range(100, 125))
    assert sizes == [10, 10, 5]
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, expected)


@pytest.mark.parametrize("id_type", [pa.int8(), pa.int16(), pa.int32(), pa.uint32(), pa.int64()])
def test_every_integer_id_type_is_accepted(tmp_path: Path, id_type: pa.DataType) -> None:
    path = write_file(
        tmp_path / "v.parquet",
        {
            "id": pa.array([3, 1, 2], id_type),
            "vec": vector_array(random_vectors(3, 2), "list", pa.float32()),
        },
    )

    ids, _, _ = read_all(path, "id", "vec")

    assert ids == [3, 1, 2]  # file order, not sorted
    assert all(type(i) is int for i in ids)


def test_a_directory_is_read_file_by_file_in_name_order(tmp_path: Path) -> None:
    vectors = random_vectors(30, 4)
    for name, rows in [
        ("b.parquet", slice(10, 20)),
        ("c.parquet", slice(20, 30)),
        ("a.parquet", slice(0, 10)),
    ]:
        write_file(
            tmp_path / name,
            {
                "id": pa.array(range(30)[rows]),
                "vec": vector_array(vectors[rows], "fixed_size_list", pa.float32()),
            },
        )
    (tmp_path / "notes.txt").write_text("not parquet")
    (tmp_path / "nested").mkdir()
    write_file(
        tmp_path / "nested" / "z.parquet",
        {"id": pa.array([99]), "vec": vector_array(vectors[:1], "list", pa.float32())},
    )

    ids, loaded, sizes = read_all(tmp_path, "id", "vec", batch_size=4)

    assert ids == list(range(30))
    assert sizes == [4, 4, 2] * 3  # batches do not span files
    np.testing.assert_array_equal(loaded, vectors)


# --- bad input ----------------------------------------------------------------------------


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"Parquet file not found: .*nope\.parquet"):
        iter_parquet_vectors(tmp_path / "nope.parquet", "id", "vec")


def test_directory_without_parquet_files_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello")

    with pytest.raises(FileNotFoundError, match=r"no \*\.parquet files in directory"):
        iter_parquet_vectors(tmp_path, "id", "vec")


@pytest.mark.parametrize("missing", ["ident", "embedding"])
def test_missing_column_lists_the_columns(demo_parquet: Path, missing: str) -> None:
    columns = ("ident", "vector") if missing == "ident" else ("id", "embedding")

    with pytest.raises(ValueError) as caught:
        iter_parquet_vectors(demo_parquet, *columns)

    message = str(caught.value)
    assert f'column "{missing}" not found in {demo_parquet}' in message
    assert 'its columns are: "id", "text", "vector"' in message


def test_missing_column_in_one_file_of_a_directory_names_that_file(tmp_path: Path) -> None:
    vec = vector_array(random_vectors(2, 2), "list", pa.float32())
    write_file(tmp_path / "a.parquet", {"id": pa.array([1, 2]), "vec": vec})
    write_file(tmp_path / "b.parquet", {"key": pa.array([3, 4]), "vec": vec})

    with pytest.raises(
        ValueError, match=r'column "id" not found in .*b\.parquet; its columns are: "key", "vec"'
    ):
        iter_parquet_vectors(tmp_path, "id", "vec")


@pytest.mark.parametrize("column", ["text", "vector"])
def test_non_integer_index_column_is_named_with_its_type(demo_parquet: Path, column: str) -> None:
    shown = "string" if column == "text" else "fixed_size_list"
    with pytest.raises(
        ValueError, match=rf'index column "{column}" .* has type {shown}.*must be an integer'
    ):
        iter_parquet_vectors(demo_parquet, column, "vector" if column == "text" else "id")


@pytest.mark.parametrize(
    "values",
    [pa.array(["a", "b"]), pa.array([[1, 2], [3, 4]], pa.list_(pa.int32())), pa.array([1.0, 2.0])],
    ids=["string", "list<int32>", "double"],
)
def test_unsupported_vector_type_lists_supported_ones(tmp_path: Path, values: pa.Array) -> None:
    path = write_file(tmp_path / "v.parquet", {"id": pa.array([1, 2]), "vec": values})

    with pytest.raises(
        ValueError,
        match=r'vector column "vec" .* has type .*supported types are list, large_list or',
    ):
        iter_parquet_vectors(path, "id", "vec")


@pytest.mark.parametrize("layout", ["list", "fixed_size_list"])
def test_null_vector_names_the_row(tmp_path: Path, layout: str) -> None:
    vector_type = (
        pa.list_(pa.float32(), 2) if layout == "fixed_size_list" else pa.list_(pa.float32())
    )
    values = pa.array([[1.0, 2.0], [3.0, 4.0], None, [5.0, 6.0]], vector_type)
    path = write_file(tmp_path / "v.parquet", {"id": pa.array([7, 8, 9, 10]), "vec": values})

    with pytest.raises(
        ValueError, match=r'column "vec" of .*v\.parquet: row id=9 has a null vector'
    ):
        read_all(path, "id", "vec")


def test_null_element_names_the_row(tmp_path: Path) -> None:
    values = pa.array([[1.0, 2.0], [3.0, None]], pa.list_(pa.float32()))
    path = write_file(tmp_path / "v.parquet", {"id": pa.array([1, 2]), "vec": values})

    with pytest.raises(ValueError, match=r"row id=2 holds null elements"):
        read_all(path, "id", "vec")


def test_null_id_is_reported(tmp_path: Path) -> None:
    values = vector_array(random_vectors(2, 2), "list", pa.float32())
    path = write_file(tmp_path / "v.parquet", {"id": pa.array([1, None]), "vec": values})

    with pytest.raises(ValueError, match=r'index column "id" of .*v\.parquet is null in some row'):
        read_all(path, "id", "vec")


@pytest.mark.parametrize("layout", ["list", "large_list"])
@pytest.mark.parametrize("batch_size", [10, 2], ids=["same-batch", "later-batch"])
def test_ragged_vectors_name_the_row_and_both_lengths(
    tmp_path: Path, layout: str, batch_size: int
) -> None:
    list_type = pa.large_list(pa.float32()) if layout == "large_list" else pa.list_(pa.float32())
    values = pa.array([[1.0, 2.0, 3.0]] * 3 + [[1.0, 2.0]], list_type)
    path = write_file(tmp_path / "v.parquet", {"id": pa.array([5, 6, 7, 8]), "vec": values})

    with pytest.raises(ValueError, match=r"row id=8 has 2 values, expected 3"):
        read_all(path, "id", "vec", batch_size=batch_size)


def test_empty_first_vector_is_rejected(tmp_path: Path) -> None:
    values = pa.array([[], [1.0]], pa.list_(pa.float32()))
    path = write_file(tmp_path / "v.parquet", {"id": pa.array([1, 2]), "vec": values})

    with pytest.raises(ValueError, match=r"row id=1 is empty"):
        read_all(path, "id", "vec")


def test_files_of_different_dimensions_name_the_file_and_row(tmp_path: Path) -> None:
    write_file(
        tmp_path / "a.parquet",
        {
            "id": pa.array([1]),
            "vec": vector_array(random_vectors(1, 4), "fixed_size_list", pa.float32()),
        },
    )
    write_file(
        tmp_path / "b.parquet",
        {
            "id": pa.array([2]),
            "vec": vector_array(random_vectors(1, 3), "fixed_size_list", pa.float32()),
        },
    )

    with pytest.raises(
        ValueError, match=r"b\.parquet: the vector of row id=2 has 3 values, expected 4"
    ):
        read_all(tmp_path, "id", "vec")


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_value_names_the_row(tmp_path: Path, bad_value: float) -> None:
    vectors = random_vectors(5, 3)
    vectors[3, 2] = bad_value
    vectors[3, 1] = -bad_value  # inf and -inf in one row must not trip a numpy warning
    path = write_file(
        tmp_path / "v.parquet",
        {
            "id": pa.array(range(40, 45)),
            "vec": vector_array(vectors, "fixed_size_list", pa.float32()),
        },
    )

    with pytest.raises(ValueError, match=rf"row id=43 holds {-bad_value} at position 1"):
        read_all(path, "id", "vec")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer; got 0"),
        ({"batch_size": "10"}, "batch_size must be a positive integer; got '10'"),
        ({"vector_column": "id"}, "index_column and vector_column are both 'id'"),
    ],
)
def test_bad_arguments_are_rejected_at_the_call(
    demo_parquet: Path, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"index_column": "id", "vector_column": "vector"}
    with pytest.raises(ValueError, match=re.escape(message)):
        iter_parquet_vectors(demo_parquet, **(arguments | kwargs))


def test_missing_pyarrow_gives_the_install_hint(
    demo_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)

    with pytest.raises(ImportError, match=r'pip install "lshrs\[parquet\]"'):
        iter_parquet_vectors(demo_parquet, "id", "vector")


# --- documentation ------------------------------------------------------------------------


def test_docstring_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(lshrs.sources.parquet.iter_parquet_vectors):
        runner.run(test)

    assert runner.tries > 0
    assert runner.failures == 0
