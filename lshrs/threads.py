"""One BLAS thread for the small products of a query.

A query multiplies one vector by a few matrices (centroids, codebooks, the rerank
candidates): microseconds of work. A multi-threaded BLAS (OpenBLAS's default) wakes its
pool for each product, and when the cores are busy, as they are beside a Redis server,
that wake-up costs milliseconds. Queries therefore run
their products on the calling thread.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cache
from typing import Any

from threadpoolctl import ThreadpoolController


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def single_threaded_blas() -> AbstractContextManager[Any]:
    """A context in which BLAS calls of this process use one thread.

    It sets the BLAS libraries' global thread count and restores it on exit, so BLAS
    calls made meanwhile by other threads of the process are single-threaded too.

    Example:
        >>> with single_threaded_blas():
        ...     _ = np.ones((4, 4)) @ np.ones(4)
    """
    context: AbstractContextManager[Any] = _controller().limit(limits=1, user_api="blas")
    return context
