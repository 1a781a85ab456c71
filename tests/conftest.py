pytest_plugins = [
    "tests.fixtures.redis_server",
    "tests.fixtures.datasets",
    "tests.fixtures.postgres_server",
]
