"""On the wire a query is one command, and deleting one id is one command.

Counted with MONITOR on a private server: commands that scripts run inside Redis
show up there as coming from "lua" and are not client round trips.
"""

from collections.abc import Callable

import numpy as np
import pytest
import redis

from lshrs import LSHRS
from tests.fixtures.redis_server import RedisProcess, server_binaries


@pytest.fixture(scope="module")
def private_server():
    binaries = server_binaries()
    if not binaries:
        pytest.skip("needs a redis-server binary to watch commands on a private server")
    server = RedisProcess(next(iter(binaries.values()))).start()
    yield server
    server.stop()


def client_commands(url: str, action: Callable[[], object]) -> list[str]:
    """The commands clients sent while ``action`` ran (script internals excluded)."""
    observer = redis.Redis.from_url(url)
    sentinel = redis.Redis.from_url(url)
    sentinel.ping()
    with observer.monitor() as monitor:
        action()
        sentinel.echo("lshrs-test-sentinel")
        sent = []
        for command in monitor.listen():
            if "lshrs-test-sentinel" in command["command"]:
                return sent
            if command.get("client_type") != "lua":
                sent.append(command["command"].split()[0].upper())
    raise AssertionError("monitor ended early")


@pytest.mark.parametrize("extra_probes", [0, 30])
def test_a_query_is_one_command(private_server, extra_probes):
    data = np.random.default_rng(1).standard_normal((300, 8)).astype(np.float32)
    lsh = LSHRS(
        dim=8,
        num_bands=6,
        rows_per_band=4,
        redis_url=private_server.url,
        redis_prefix=f"rt{extra_probes}",
        extra_probes=extra_probes,
    )
    lsh.index(np.arange(300), data)
    assert client_commands(private_server.url, lambda: lsh.query(data[5], topk=10)) == ["EVALSHA"]


def test_a_fresh_clients_first_query_is_one_command(private_server):
    LSHRS(
        dim=8, num_bands=6, rows_per_band=4, redis_url=private_server.url, redis_prefix="rt-first"
    ).index([1], np.ones((1, 8)))
    redis.Redis.from_url(private_server.url).script_flush()
    lsh = LSHRS(
        dim=8, num_bands=6, rows_per_band=4, redis_url=private_server.url, redis_prefix="rt-first"
    )
    assert client_commands(private_server.url, lambda: lsh.get_top_k(np.ones(8))) == ["EVALSHA"]


def test_deleting_one_id_is_one_command(private_server):
    lsh = LSHRS(
        dim=8, num_bands=6, rows_per_band=4, redis_url=private_server.url, redis_prefix="rt-del"
    )
    lsh.index([1, 2], np.eye(2, 8))
    assert client_commands(private_server.url, lambda: lsh.delete(1)) == ["EVALSHA"]


def test_ingesting_one_vector_is_one_command(private_server):
    lsh = LSHRS(
        dim=8, num_bands=6, rows_per_band=4, redis_url=private_server.url, redis_prefix="rt-ingest"
    )
    lsh.ingest(1, np.ones(8))
    assert client_commands(private_server.url, lambda: lsh.ingest(2, np.eye(1, 8)[0])) == [
        "EVALSHA"
    ]
