"""Moved to :mod:`lshrs.sources.parquet`; this path is kept for one release."""

from lshrs.sources.parquet import iter_parquet_vectors, parquet_row_count

__all__ = ["iter_parquet_vectors", "parquet_row_count"]
