"""Connecting to Redis: the one place connection arguments become a :class:`RedisStorage`."""

from __future__ import annotations

from typing import Any

from lshrs.storage import RedisStorage

CONNECTION_ARGUMENTS = (
    "redis_host",
    "redis_port",
    "redis_db",
    "redis_password",
    "redis_username",
    "redis_url",
    "decode_responses",
)
"""The :class:`lshrs.LSHRS` arguments that say how to reach Redis (never saved)."""


def open_storage(
    prefix: str,
    *,
    redis_host: str = "localhost",
    redis_port: int = 6379,
    redis_db: int = 0,
    redis_password: str | None = None,
    redis_username: str | None = None,
    redis_url: str | None = None,
    decode_responses: bool = False,
) -> RedisStorage:
    """The storage of the index under ``prefix``, connected as the arguments say.

    Arguments are those of :class:`lshrs.LSHRS`; ``redis_url`` overrides host, port,
    db and password.
    """
    return RedisStorage(
        redis_host,
        redis_port,
        redis_db,
        redis_password,
        prefix,
        decode_responses,
        url=redis_url,
        username=redis_username,
    )


def pop_connection(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the connection arguments from ``kwargs`` and return them."""
    return {name: kwargs.pop(name) for name in CONNECTION_ARGUMENTS if name in kwargs}
