"""Queries run their small products on one BLAS thread."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info

from lshrs.threads import single_threaded_blas


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_blas_runs_on_one_thread_inside_and_as_before_after():
    before = blas_threads()
    with single_threaded_blas():
        assert blas_threads() and set(blas_threads()) == {1}
        assert np.allclose(np.ones((3, 3)) @ np.ones(3), 3.0)
    assert blas_threads() == before
