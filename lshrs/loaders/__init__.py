"""Stream ``(ids, vectors)`` batches from where the vectors already live.

Both loaders import their driver (psycopg, pyarrow) only when called, so this package
imports without the optional dependencies.
"""

from lshrs.loaders.parquet import iter_parquet_vectors, parquet_row_count
from lshrs.loaders.postgres import iter_postgres_vectors

__all__ = ["iter_parquet_vectors", "iter_postgres_vectors", "parquet_row_count"]
