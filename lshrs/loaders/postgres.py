"""Moved to :mod:`lshrs.sources.postgres`; this path is kept for one release."""

from lshrs.sources.postgres import iter_postgres_vectors

__all__ = ["iter_postgres_vectors"]
