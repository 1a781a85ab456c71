"""Moved to :mod:`lshrs.sources.redis`; this path is kept for one release."""

from lshrs.sources.redis import RedisVectorStore

__all__ = ["RedisVectorStore"]
