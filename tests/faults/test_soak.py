"""A short soak: queries at full speed with a balanced trickle of inserts and deletes.
No errors, a consistent index of constant size, and flat memory (``python -m
benchmarks.soak`` runs the long version on real embeddings)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.faults.soak import run_soak
from tests.fixtures.redis_server import RedisProcess, server_binaries


@pytest.mark.slow
def test_short_soak_has_no_errors_and_flat_memory():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((14_000, 32)).astype(np.float32)
    server = RedisProcess(next(iter(server_binaries().values()))).start()
    try:
        result = run_soak(
            server.url,
            vectors,
            vectors[:200] + 0.1 * rng.standard_normal((200, 32)).astype(np.float32),
            seconds=20,
            window_seconds=2,
            indexed=10_000,
            trickle_per_second=300,
            num_bands=16,
            rows_per_band=10,
        )
    finally:
        server.stop()
    assert result["errors"] == 0
    assert result["queries"] > 0
    assert result["ids_inserted"] == result["ids_deleted"] > 0
    assert result["final_count"] == 10_000
    assert result["verify_ok"]
    assert result["memory_growth_second_half"] < 0.10, result["windows"]
