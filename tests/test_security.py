"""Authentication, TLS and least privilege: lshrs works as an ACL user allowed only its
index's keys and the commands of lshrs.security.acl_rules, and touches nothing else."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import redis

import lshrs
from lshrs import LSHRS
from lshrs.keys import KeySpace
from lshrs.protocol import SCRIPT_NAMES, script_source
from lshrs.security import SCRIPT_COMMANDS, acl_rules
from lshrs.sources.redis import RedisVectorStore
from tests.fixtures.redis_server import RedisProcess, free_port, server_binaries

DIM = 4
PASSWORD = "s3cret-pw"


@pytest.fixture(params=sorted(server_binaries()))
def server(request):
    process = RedisProcess(server_binaries()[request.param]).start()
    yield process
    process.stop()


def workflow(lsh):
    """Every public operation, including a script reload after SCRIPT FLUSH."""
    ids = np.arange(2_000)
    vectors = np.random.default_rng(0).standard_normal((ids.size, DIM)) + 0.1
    store = RedisVectorStore(lsh.storage, dim=DIM)
    store.put(ids, vectors)
    lsh.vector_fetch_fn = store
    lsh.index(ids, vectors)
    lsh.ingest(5_000, vectors[0])
    assert lsh.query(vectors[3], topk=3)[0] == 3
    assert lsh.query(vectors[3], topp=0.5)[0][0] == 3
    lsh.delete([1, 2])
    assert store.delete([1, 2]) == 2
    signature = lsh.hasher.hash_batch(np.asarray(vectors[:1], dtype=np.float32))[0]
    lsh.storage.add_to_bucket(0, bytes([signature[0, 0] ^ 1]), 0)
    assert 0 in lsh.storage.get_bucket(0, bytes([signature[0, 0] ^ 1]))
    assert lsh.stats()["num_indexed"] == ids.size - 1
    assert lsh.verify().ok
    lsh.clear()
    lsh.index(ids[:10], vectors[:10])
    assert lsh.verify(repair=True).ok


def acl_user(client, name, prefix, password=PASSWORD):
    """The user of acl_rules for this server (without the Functions library: EVALSHA)."""
    client.acl_deluser(name)
    rules = acl_rules(prefix, server=client)
    client.execute_command("ACL", "SETUSER", name, "on", f">{password}", *rules)


def test_a_password_protected_redis(server):
    admin = redis.Redis(port=server.port)
    admin.config_set("requirepass", PASSWORD)
    lsh = LSHRS(dim=DIM, redis_port=server.port, redis_password=PASSWORD, redis_prefix="pw")
    workflow(lsh)
    lsh.close()
    with pytest.raises(redis.AuthenticationError):
        LSHRS(dim=DIM, redis_port=server.port, redis_password="wrong", redis_prefix="pw")


def test_an_acl_user_with_only_the_minimal_rules_can_do_everything(server):
    admin = redis.Redis(port=server.port)
    acl_user(admin, "indexer", "docs")
    admin.acl_log_reset()
    lsh = LSHRS(
        dim=DIM,
        redis_port=server.port,
        redis_username="indexer",
        redis_password=PASSWORD,
        redis_prefix="docs",
    )
    workflow(lsh)
    admin.script_flush()
    workflow(lsh)
    lsh.close()
    # Only redis-py's optional handshake (CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS) is
    # ever refused; Redis 7.0 does not even log those (unknown subcommands there).
    assert {entry["object"] for entry in admin.acl_log()} <= {"client"}


def test_a_full_redis_url_with_credentials(server):
    admin = redis.Redis(port=server.port)
    acl_user(admin, "indexer", "url")
    url = f"redis://indexer:{PASSWORD}@127.0.0.1:{server.port}/0"
    with LSHRS(dim=DIM, redis_url=url, redis_prefix="url") as lsh:
        workflow(lsh)


def test_the_acl_user_cannot_touch_keys_outside_its_index(server):
    admin = redis.Redis(port=server.port)
    admin.set("other-app", "data")
    admin.hset("{doc}:cfg", "fingerprint", "x")
    acl_user(admin, "indexer", "do*")
    user = redis.Redis(port=server.port, username="indexer", password=PASSWORD)
    for command in (
        lambda: user.get("other-app"),
        lambda: user.set("other-app", "overwritten"),
        lambda: user.hgetall("{doc}:cfg"),
        lambda: user.flushdb(),
        lambda: user.keys("*"),
        lambda: user.config_get("requirepass"),
        lambda: user.eval("return redis.call('GET', 'other-app')", 0),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            command()
    with pytest.raises(redis.exceptions.NoPermissionError):
        LSHRS(
            dim=DIM,
            redis_port=server.port,
            redis_username="indexer",
            redis_password=PASSWORD,
            redis_prefix="doc",
        )
    assert admin.get("other-app") == b"data"
    user.close()


def test_a_script_cannot_be_steered_outside_its_root(server):
    """Scripts derive every key from KEYS[1]; a user allowed one index cannot pass
    another index's root and have the script write there."""
    admin = redis.Redis(port=server.port)
    acl_user(admin, "indexer", "mine")
    with LSHRS(dim=DIM, redis_port=server.port, redis_prefix="theirs") as theirs:
        theirs.index([1], np.ones((1, DIM)))
    user = redis.Redis(port=server.port, username="indexer", password=PASSWORD)
    clear = user.register_script(script_source("clear"))
    with pytest.raises(redis.exceptions.NoPermissionError):
        clear(keys=[KeySpace("theirs").root], args=[0, 1000])
    assert admin.exists(KeySpace("theirs").config)
    user.close()


def test_without_info_the_eviction_check_is_skipped_silently(server):
    admin = redis.Redis(port=server.port)
    admin.execute_command(
        "ACL", "SETUSER", "quiet", "on", f">{PASSWORD}", *acl_rules("q", allow_info=False)
    )
    with LSHRS(
        dim=DIM,
        redis_port=server.port,
        redis_username="quiet",
        redis_password=PASSWORD,
        redis_prefix="q",
    ) as lsh:
        workflow(lsh)


def test_lua_source_never_contains_user_data(server):
    """Whatever the prefix and the ids, the server only ever caches the scripts of lua/."""
    admin = redis.Redis(port=server.port)
    admin.script_flush()
    for prefix in ["x'] redis.call('FLUSHALL') --", "]]..os.exit()..[[", "\n\0"]:
        with LSHRS(dim=DIM, redis_port=server.port, redis_prefix=prefix) as lsh:
            workflow(lsh)
    shas = [hashlib.sha1(script_source(name).encode()).hexdigest() for name in SCRIPT_NAMES]
    cached = admin.info("memory")["number_of_cached_scripts"]
    assert sum(admin.script_exists(*shas)) == cached > 0


def test_no_module_builds_lua_from_strings():
    """Static check: lshrs.protocol is the one module that registers or loads scripts,
    it registers only script_source(name), lshrs.functions loads only library_code()
    (made of script_source(name) verbatim: tests/test_functions.py), and script_source
    is a file of lua/ read verbatim except that each include line becomes a file of
    lua/includes."""
    package = Path(lshrs.__file__).parent
    loaders = {}
    for module in sorted(package.rglob("*.py")):
        text = module.read_text()
        calls = re.findall(
            r"\b(?:register_script|script_load|function_load|eval|evalsha|eval_ro|evalsha_ro)"
            r"\(([^)]*)\)|execute_command\(\s*\"(?:EVAL|EVALSHA|EVAL_RO|EVALSHA_RO)\",\s*"
            r"([^)]*)\)",
            text,
        )
        calls = ["".join(call) for call in calls]
        if calls:
            loaders[module.relative_to(package).as_posix()] = calls
        assert "redis.call" not in text, module.name
    assert list(loaders) == ["functions.py", "protocol.py"]
    # registers script_source(...); runs and loads only what it registered
    assert [call.split("(")[0] for call in loaders["protocol.py"]] == [
        "script_source",
        "script.script",
        "script.script",
        "self.scripts[name].sha, 1, root, *args",
    ]
    assert [call.split("(")[0] for call in loaders["functions.py"]] == ["library_code"] * 2

    lua = package.parent / "lua"
    assert sorted(path.stem for path in lua.glob("*.lua")) == sorted(SCRIPT_NAMES)
    for name in SCRIPT_NAMES:
        parts = re.split(
            r'^--- @include "([a-z_]+)"$', (lua / f"{name}.lua").read_text(), flags=re.M
        )
        expected = parts[0]
        for include, after in zip(parts[1::2], parts[2::2], strict=True):
            expected += (lua / "includes" / f"{include}.lua").read_text().rstrip("\n") + after
        assert script_source(name) == expected, name


OPENSSL = shutil.which("openssl")


def tls_capable(binary):
    result = subprocess.run(
        [binary, "--tls-port", "0", "--port", "0", "--test-memory", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    return "tls-port" not in result.stdout + result.stderr


def make_certificates(directory: Path) -> dict[str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args):
        subprocess.run([OPENSSL, *map(str, args)], capture_output=True, check=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        ca_key,
        "-out",
        ca_crt,
        "-days",
        "1",
        "-subj",
        "/CN=lshrs-test-ca",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        csr,
        "-subj",
        "/CN=localhost",
    )
    run(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca_crt,
        "-CAkey",
        ca_key,
        "-CAcreateserial",
        "-out",
        crt,
        "-days",
        "1",
        "-extfile",
        ext,
    )
    return {"ca": str(ca_crt), "key": str(key), "crt": str(crt)}


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_tls_with_a_rediss_url(tmp_path):
    binaries = [binary for binary in server_binaries().values() if tls_capable(binary)]
    if not binaries:
        pytest.skip("no redis-server binary here is built with TLS")
    certs = make_certificates(tmp_path)
    tls_port = free_port()
    server = RedisProcess(
        binaries[0],
        [
            "--tls-port",
            str(tls_port),
            "--tls-cert-file",
            certs["crt"],
            "--tls-key-file",
            certs["key"],
            "--tls-ca-cert-file",
            certs["ca"],
            "--tls-auth-clients",
            "no",
        ],
    ).start()
    try:
        acl_user(redis.Redis(port=server.port), "indexer", "tls")
        url = f"rediss://indexer:{PASSWORD}@localhost:{tls_port}/0?ssl_ca_certs={certs['ca']}"
        with LSHRS(dim=DIM, redis_url=url, redis_prefix="tls") as lsh:
            workflow(lsh)
            clients = redis.Redis(port=server.port).client_list()
            assert any(c.get("user") == "indexer" for c in clients)
        untrusted = f"rediss://indexer:{PASSWORD}@localhost:{tls_port}/0"
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            LSHRS(dim=DIM, redis_url=untrusted, redis_prefix="tls")
    finally:
        server.stop()


def test_semantic_ids_work_under_the_minimal_rules(server):
    from tests.learned_helpers import demo, kmeans_hasher

    ids, data, _ = demo()
    ids, data = ids[:300], data[:300]
    admin = redis.Redis(port=server.port)
    acl_user(admin, "namer", "sid")
    lsh = LSHRS(
        dim=384,
        hasher=kmeans_hasher(),
        redis_port=server.port,
        redis_username="namer",
        redis_password=PASSWORD,
        redis_prefix="sid",
    )
    lsh.index(ids, data)
    names = lsh.assign_semantic_ids(ids[:10], data[:10])
    assert len(set(names)) == 10 and lsh.resolve_semantic_id(names[3]) == ids[3]
    lsh.delete(ids[:5])
    assert lsh.semantic_id(int(ids[0])) is None and lsh.verify().ok


def test_the_acl_rules_grant_every_command_the_scripts_call():
    """A command a script calls but the rules lack works for an administrator and fails
    with NOPERM for the restricted user, on whichever path first needs it."""
    called = set()
    for name in SCRIPT_NAMES:
        called |= {
            command.lower()
            for command in re.findall(
                r"(?:rcall|read|redis\.pcall|redis\.call)\('([A-Za-z]+)'", script_source(name)
            )
        }
    assert "sscan" in called  # the pattern finds the calls of the included helpers too
    assert called <= set(SCRIPT_COMMANDS), sorted(called - set(SCRIPT_COMMANDS))
