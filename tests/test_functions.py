"""The Redis Functions path: an administrator installs the lshrs library once, and the
application's ACL user, allowed FCALL / FCALL_RO and no Lua of its own, runs lshrs."""

from __future__ import annotations

import re
import shutil
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import redis

import lshrs.functions
import lshrs.protocol
from lshrs import LSHRS, cli
from lshrs.functions import install, installed_libraries, is_installed, library_code
from lshrs.keys import KeySpace
from lshrs.protocol import (
    SCRIPT_NAMES,
    LibraryNotInstalledError,
    Protocol,
    function_name,
    library_name,
    script_flags,
    script_source,
)
from lshrs.security import acl_rules
from tests.fixtures.redis_server import RedisProcess, server_binaries
from tests.learned_helpers import demo
from tests.test_ivfpq import open_index

PASSWORD = "s3cret-pw"
DIM = 4
SECURITY_DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"


@cache
def binary_with_functions(functions: bool) -> str | None:
    """A redis-server binary of this machine that has Functions (7+), or has none (6.2)."""
    for binary in server_binaries().values():
        server = RedisProcess(binary).start()
        try:
            major = int(redis.Redis(port=server.port).info("server")["redis_version"][0])
        finally:
            server.stop()
        if (major >= 7) == functions:
            return binary
    return None


@pytest.fixture(scope="module")
def redis7():
    binary = binary_with_functions(True)
    if binary is None:
        pytest.skip("needs Redis 7 or later")
    server = RedisProcess(binary).start()
    install(redis.Redis(port=server.port))
    yield server
    server.stop()


@pytest.fixture
def fresh7():
    """A Redis 7 server of this test's own, without the library."""
    binary = binary_with_functions(True)
    if binary is None:
        pytest.skip("needs Redis 7 or later")
    server = RedisProcess(binary).start()
    yield server
    server.stop()


def fcall_user(admin: redis.Redis, name: str, prefix: str) -> None:
    admin.acl_deluser(name)
    rules = acl_rules(prefix, server=admin)
    admin.execute_command("ACL", "SETUSER", name, "on", f">{PASSWORD}", *rules)


def connect(server: RedisProcess, user: str) -> redis.Redis:
    return redis.Redis(port=server.port, username=user, password=PASSWORD)


def test_with_the_library_installed_the_rules_grant_fcall_and_no_lua(redis7):
    rules = acl_rules("lsh", server=redis.Redis(port=redis7.port))
    assert {"+fcall", "+fcall_ro"} <= set(rules)
    assert not [rule for rule in rules if re.search("eval|script|function", rule)]
    assert "-@all" in rules and "~{lsh}:*" in rules


def test_without_the_library_redis_7_gets_the_evalsha_rules_and_fcall(fresh7):
    rules = acl_rules("lsh", server=redis.Redis(port=fresh7.port))
    assert set(rules) == set(acl_rules("lsh")) | {"+fcall", "+fcall_ro"}


def test_on_redis_6_the_rules_are_the_evalsha_rules():
    binary = binary_with_functions(False)
    if binary is None:
        pytest.skip("needs Redis 6.2")
    server = RedisProcess(binary).start()
    try:
        assert acl_rules("lsh", server=redis.Redis(port=server.port)) == acl_rules("lsh")
    finally:
        server.stop()


def test_the_fcall_user_indexes_queries_deletes_verifies_and_clears(redis7):
    admin = redis.Redis(port=redis7.port)
    fcall_user(admin, "app", "fn")
    admin.acl_log_reset()
    admin.config_resetstat()
    with LSHRS(
        dim=DIM,
        redis_port=redis7.port,
        redis_username="app",
        redis_password=PASSWORD,
        redis_prefix="fn",
    ) as lsh:
        vectors = np.random.default_rng(0).standard_normal((1_000, DIM)) + 0.1
        lsh.index(np.arange(1_000), vectors)
        assert lsh.query(vectors[3], topk=3)[0] == 3
        lsh.delete([1, 2])
        assert lsh.stats()["num_indexed"] == 998
        assert lsh.verify(repair=True).ok
        lsh.clear()
        assert lsh.stats()["num_indexed"] == 0
        assert lsh.storage.protocol.path == "functions"
    stats = admin.info("commandstats")
    assert stats["cmdstat_fcall"]["calls"] > 0 and stats["cmdstat_fcall_ro"]["calls"] > 0
    assert "cmdstat_evalsha" not in stats and "cmdstat_script|load" not in stats
    assert {entry["object"] for entry in admin.acl_log()} <= {"client"}


def test_the_fcall_user_runs_an_ivfpq_index(redis7):
    admin = redis.Redis(port=redis7.port)
    fcall_user(admin, "ivf-app", "fn-ivf")
    admin.acl_log_reset()
    ids, vectors, queries = demo()
    url = f"redis://ivf-app:{PASSWORD}@127.0.0.1:{redis7.port}/0"
    lsh = open_index(url, "fn-ivf")
    lsh.index(ids[:2_000], vectors[:2_000])
    assert len(lsh.query(queries[0], topk=5)) == 5
    lsh.delete(ids[:100])
    assert lsh.verify(repair=True).ok
    lsh.clear()
    lsh.close()
    assert {entry["object"] for entry in admin.acl_log()} <= {"client"}


@pytest.mark.parametrize(
    "command",
    [
        ("EVAL", "return 1", 0),
        ("EVAL_RO", "return 1", 0),
        ("EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", 0),
        ("SCRIPT", "LOAD", "return 1"),
        ("FUNCTION", "LOAD", "#!lua name=mine\nredis.register_function('f', function() end)"),
        ("FUNCTION", "DELETE", "lshrs_000000000000"),
        ("FUNCTION", "FLUSH"),
        ("SCRIPT", "KILL"),
    ],
    ids=lambda command: " ".join(str(part) for part in command[:2]),
)
def test_the_fcall_user_cannot_run_lua_of_its_own(redis7, command):
    admin = redis.Redis(port=redis7.port)
    fcall_user(admin, "no-lua", "fn-lua")
    with pytest.raises(redis.exceptions.NoPermissionError):
        connect(redis7, "no-lua").execute_command(*command)
    assert is_installed(admin)


def test_the_fcall_user_cannot_touch_another_prefix(redis7):
    admin = redis.Redis(port=redis7.port)
    with LSHRS(dim=DIM, redis_port=redis7.port, redis_prefix="theirs") as theirs:
        theirs.index([1], np.ones((1, DIM)))
    fcall_user(admin, "mine", "mine")
    user = connect(redis7, "mine")
    theirs_root = KeySpace("theirs").root
    for command in (
        lambda: user.fcall(function_name("clear"), 1, theirs_root, 0, 1000),
        lambda: user.fcall_ro(function_name("gather"), 1, theirs_root, ""),
        lambda: user.hgetall(KeySpace("theirs").config),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            command()
    assert admin.exists(KeySpace("theirs").config)
    with pytest.raises(redis.exceptions.NoPermissionError):
        LSHRS(
            dim=DIM,
            redis_port=redis7.port,
            redis_username="mine",
            redis_password=PASSWORD,
            redis_prefix="theirs",
        )


def test_read_only_scripts_are_no_writes_functions_and_run_on_a_replica(redis7):
    assert [name for name in SCRIPT_NAMES if "no-writes" in script_flags(name)] == [
        "query",
        "gather",
        "ivf_scan",
    ]
    with LSHRS(dim=DIM, redis_port=redis7.port, redis_prefix="replicated") as lsh:
        vectors = np.random.default_rng(1).standard_normal((200, DIM))
        lsh.index(np.arange(200), vectors)
    replica = RedisProcess(redis7.binary, ["--replicaof", "127.0.0.1", str(redis7.port)])
    replica.start()
    try:
        client = redis.Redis(port=replica.port)
        while client.info("replication")["master_link_status"] != "up":
            pass
        redis.Redis(port=redis7.port).execute_command("WAIT", 1, 5_000)
        protocol = Protocol(client)
        root = KeySpace("replicated").root
        fingerprint = client.hget(KeySpace("replicated").config, "fingerprint")
        assert protocol.call("gather", root, [fingerprint, b"\x00\x00\x01"]) is not None
        assert protocol.path == "functions"
        with pytest.raises(redis.exceptions.ReadOnlyError):
            protocol.call("delete", root, [1])
    finally:
        replica.stop()


def test_deletes_free_memory_when_redis_is_out_of_memory(fresh7):
    admin = redis.Redis(port=fresh7.port)
    install(admin)
    with LSHRS(dim=DIM, redis_port=fresh7.port, redis_prefix="full") as lsh:
        vectors = np.random.default_rng(2).standard_normal((20_000, DIM))
        lsh.index(np.arange(20_000), vectors)
        admin.config_set("maxmemory", admin.info("memory")["used_memory"] - 100_000)
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            lsh.index(np.arange(20_000, 20_100), vectors[:100])
        assert lsh.verify().ok
        lsh.delete(np.arange(10_000))
        admin.config_set("maxmemory", 0)
        assert lsh.stats()["num_indexed"] == 10_000 and lsh.verify().ok


def test_the_library_is_the_scripts_of_lua_verbatim():
    """Each function's body is script_source(name), after the line that binds KEYS and
    ARGV: the library is generated from lua/ at load time, never a second copy."""
    code = library_code()
    assert code.startswith(f"#!lua name={library_name()}\n")
    bodies = re.findall(
        r"redis.register_function\{\n  function_name = '(\w+)',\n  flags = \{([^}\n]*)\},\n"
        r"  callback = function\(keys, args\)\nlocal KEYS, ARGV = keys, args\n(.*?)\nend\}",
        code,
        re.S,
    )
    assert [name for name, _, _ in bodies] == [function_name(n) for n in SCRIPT_NAMES]
    for (_, flags, body), name in zip(bodies, SCRIPT_NAMES, strict=True):
        assert body == script_source(name).rstrip("\n")
        assert flags == ", ".join(f"'{flag}'" for flag in script_flags(name))


@pytest.fixture
def other_version(tmp_path, monkeypatch):
    """This process becomes a client of another lshrs version: one script differs."""
    lua = tmp_path / "lua"
    shutil.copytree(lshrs.protocol.lua_dir(), lua)
    (lua / "clear.lua").write_text((lua / "clear.lua").read_text() + "-- another version\n")
    caches = (
        lshrs.protocol.script_source,
        lshrs.protocol.script_flags,
        lshrs.protocol.library_version,
        lshrs.functions.library_code,
    )
    this_version = library_name()
    for cached in caches:
        cached.cache_clear()
    monkeypatch.setattr(lshrs.protocol, "lua_dir", lambda: lua)
    assert library_name() != this_version
    yield
    monkeypatch.undo()
    for cached in caches:
        cached.cache_clear()


def test_a_client_of_another_version_falls_back_to_its_own_scripts(redis7, other_version):
    admin = redis.Redis(port=redis7.port)
    assert library_name() not in installed_libraries(admin)
    with LSHRS(dim=DIM, redis_port=redis7.port, redis_prefix="older") as lsh:
        lsh.index([1, 2], np.eye(2, DIM))
        assert lsh.query(np.eye(1, DIM)[0], topk=1) == [1]
        assert lsh.storage.protocol.path == "scripts"
        lsh.clear()


def test_a_fcall_only_client_of_another_version_is_told_to_install_its_library(
    redis7, other_version
):
    admin = redis.Redis(port=redis7.port)
    admin.acl_deluser("fn-only")
    admin.execute_command(
        "ACL", "SETUSER", "fn-only", "on", f">{PASSWORD}", "~{older}:*", "+@all", "-@scripting"
    )
    admin.execute_command("ACL", "SETUSER", "fn-only", "+fcall", "+fcall_ro")
    with pytest.raises(LibraryNotInstalledError, match=f"{library_name()}.*lshrs install"):
        LSHRS(
            dim=DIM,
            redis_port=redis7.port,
            redis_username="fn-only",
            redis_password=PASSWORD,
            redis_prefix="older",
        )


@pytest.mark.parametrize("ids_per_call", [1_000, 2], ids=["one call", "pipelined calls"])
def test_a_removed_library_is_noticed_and_the_client_uses_scripts(fresh7, ids_per_call):
    admin = redis.Redis(port=fresh7.port)
    install(admin)
    with LSHRS(dim=DIM, redis_port=fresh7.port, redis_prefix="gone") as lsh:
        lsh.index([1], np.ones((1, DIM)))
        assert lsh.storage.protocol.path == "functions"
        admin.function_delete(library_name())
        lsh.storage.ids_per_call = ids_per_call
        lsh.index([2, 3, 4, 5, 6], np.random.default_rng(3).standard_normal((5, DIM)))
        assert lsh.storage.protocol.path == "scripts"
        assert lsh.stats()["num_indexed"] == 6 and lsh.verify().ok


def run_install(capsys, server: RedisProcess, *flags: str) -> str:
    assert cli.main(["--redis-url", server.url, "install", *flags]) == 0
    return capsys.readouterr().out


def test_lshrs_install_is_idempotent(fresh7, capsys):
    admin = redis.Redis(port=fresh7.port)
    documented = re.search(r"\$ lshrs [^\n]* install\n(.*?)```", SECURITY_DOC.read_text(), re.S)
    assert documented is not None
    out = run_install(capsys, fresh7)
    assert out == documented.group(1).replace("lshrs_<version>", library_name())
    assert run_install(capsys, fresh7).startswith(f"already installed {library_name()}")
    assert installed_libraries(admin) == {library_name(): library_code()}
    assert run_install(capsys, fresh7, "--replace").startswith(f"replaced {library_name()}")
    assert installed_libraries(admin) == {library_name(): library_code()}


def test_versions_coexist_until_pruned(fresh7, capsys):
    admin = redis.Redis(port=fresh7.port)
    older = library_code().replace(library_name(), "lshrs_000000000000")
    admin.function_load(older)
    out = run_install(capsys, fresh7)
    assert "other lshrs versions still installed: lshrs_000000000000" in out
    assert set(installed_libraries(admin)) == {library_name(), "lshrs_000000000000"}
    out = run_install(capsys, fresh7, "--prune")
    assert "removed lshrs_000000000000" in out
    assert set(installed_libraries(admin)) == {library_name()}


def test_lshrs_install_on_redis_6_says_none_is_needed(capsys):
    binary = binary_with_functions(False)
    if binary is None:
        pytest.skip("needs Redis 6.2")
    server = RedisProcess(binary).start()
    try:
        assert cli.main(["--redis-url", server.url, "install"]) == 1
        assert "no Functions" in capsys.readouterr().err
    finally:
        server.stop()


def test_the_documented_functions_rule_is_the_one_lshrs_gives(redis7):
    rules = " ".join(acl_rules("lsh", server=redis.Redis(port=redis7.port)))
    assert f"ACL SETUSER indexer on >CHANGE-ME {rules}\n" in SECURITY_DOC.read_text()
