"""Moved to :mod:`lshrs.sources`; this path is kept for one release."""

from lshrs.sources import (
    ArrayFetcher,
    MissingVectorsError,
    PostgresFetcher,
    array_fetcher,
    parquet_fetcher,
    postgres_fetcher,
)

__all__ = [
    "ArrayFetcher",
    "MissingVectorsError",
    "PostgresFetcher",
    "array_fetcher",
    "parquet_fetcher",
    "postgres_fetcher",
]
