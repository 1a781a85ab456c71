pytest_plugins = [
    "tests.fixtures.redis_server",
    "tests.fixtures.redis_cluster",
    "tests.fixtures.datasets",
    "tests.fixtures.postgres_server",
]
