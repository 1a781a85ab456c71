"""Moved to :mod:`lshrs.sources`; this path is kept for one release."""

from lshrs.sources import iter_parquet_vectors, iter_postgres_vectors, parquet_row_count

__all__ = ["iter_parquet_vectors", "iter_postgres_vectors", "parquet_row_count"]
