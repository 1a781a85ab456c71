"""The documentation is executed: README examples, docstring examples, transcripts."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql

import lshrs
from lshrs import LSHRS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LEARNED_DOC = ROOT / "docs" / "learned-buckets.md"


@pytest.fixture
def items_dsn(postgres_dsn):
    """A database of its own with the ``items`` table the docstring examples describe."""
    name = f"lshrs_doc_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = psycopg.conninfo.make_conninfo(postgres_dsn, dbname=name)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE items (id bigint PRIMARY KEY, embedding real[])")
        connection.execute(
            "INSERT INTO items VALUES (1, '{1,0,0}'), (2, '{0,1,0}'), (3, '{0,0,1}')"
        )
    yield dsn
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_examples_run(redis_url, prefix, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = readme_blocks()
    assert blocks, "README has no python examples"
    namespace: dict[str, object] = {}
    for block in blocks:
        code = (
            block.replace('"redis://localhost:6379/0"', repr(redis_url))
            .replace('"readme-demo"', repr(prefix))
            .replace('"data/', '"' + str(ROOT / "data") + "/")
        )
        exec(compile(code, str(README), "exec"), namespace)


def test_readme_test_command_is_what_ci_runs():
    text = README.read_text()
    match = re.search(r"^ *(python3 -m venv .*pytest)$", text, re.M)
    assert match, "README must give the test command on a line of its own"
    last = match.group(1).rsplit("&& ", 1)[1]
    assert last in (ROOT / ".ci" / "run").read_text().splitlines()


@pytest.mark.parametrize(
    "module",
    sorted(
        name
        for _, name, _ in pkgutil.walk_packages(lshrs.__path__, "lshrs.")
        if name != "lshrs.cli"
    ),
)
def test_docstring_examples_run(module, redis_url, prefix, tmp_path, monkeypatch, request):
    monkeypatch.chdir(ROOT)
    lsh = LSHRS(dim=3, num_bands=4, rows_per_band=2, redis_url=redis_url, redis_prefix=prefix)
    lsh.index([1, 2], np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    globs = {
        "np": np,
        "LSHRS": LSHRS,
        "redis_url": redis_url,
        "prefix": prefix,
        "tmp_path": tmp_path,
        "lsh": lsh,
        "demo_parquet": ROOT / "data" / "debian-demo.parquet",
    }
    if module == "lshrs.sources.postgres":
        globs["dsn"] = request.getfixturevalue("items_dsn")
    imported = importlib.import_module(module)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(imported, globs={**vars(imported), **globs}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_lua_protocol_transcripts_are_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "transcripts.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("document", ["README.md", "docs/security.md"])
def test_documented_acl_rule_is_the_one_lshrs_gives(document):
    from lshrs.security import acl_rules

    rule = "ACL SETUSER indexer on >CHANGE-ME " + " ".join(acl_rules("lsh"))
    assert rule in (ROOT / document).read_text()


def test_learned_buckets_examples_run(redis_url, prefix, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", LEARNED_DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 2
    monkeypatch.chdir(ROOT)
    namespace = {"redis_url": redis_url, "prefix": prefix}
    for block in blocks:
        exec(compile(block, str(LEARNED_DOC), "exec"), namespace)
    namespace["lsh"].close()
