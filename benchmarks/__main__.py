"""Run the benchmark suite: ``python -m benchmarks [--quick] [--scale N]``.

Full run: debian-minilm (lshrs, the naive client, exact numpy, FAISS, pgvector, the
rerank stores) and the streamed synthetic scale set; writes
``benchmarks/results/<name>.json``, ``docs/benchmarks.md`` tables and the plot.
``--quick`` (CI) runs only lshrs' chosen configuration and the starting point on
debian-minilm (under two minutes), and exits 1 when recall@10 falls below its floor.
Both modes also run the IVF-PQ benchmark (:mod:`benchmarks.ivfpq`) on debian-minilm
and npm-minilm (``--skip-ivfpq`` leaves it out); in quick mode that is its recall
gate (about a minute more, training included), which fails the run when recall@10 <
0.95 on either dataset.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

from benchmarks import ivfpq, minilm, report, scale
from benchmarks.measure import RESULTS, machine, write_results
from benchmarks.servers import pgserver_bin, private_postgres, private_redis

RECOMMENDED_REDIS_CONFIG = ("set-max-intset-entries=8192",)
"""The Redis settings the README advises; the private server runs with them unless
``--stock-redis`` (big buckets stay compact intsets: less memory, faster reads)."""
RECALL_FLOOR = 0.90
"""recall@10 of the chosen configuration on debian-minilm below which the run fails."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI mode: recall gates only")
    parser.add_argument(
        "--scale",
        type=int,
        default=1_000_000,
        help="vectors of the synthetic 768-dim set (0 skips it)",
    )
    parser.add_argument(
        "--scale-rows-from-size",
        action="store_true",
        help="scale run: rows_per_band from the corpus size alone, not fitted to a sample",
    )
    parser.add_argument(
        "--scale-stores",
        default=",".join(scale.STORES),
        help="scale run: comma-separated rerank stores, of " + ", ".join(scale.STORES),
    )
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument(
        "--skip-ivfpq",
        action="store_true",
        help="leave out the IVF-PQ run on debian-minilm and npm-minilm",
    )
    parser.add_argument(
        "--pg",
        default=None,
        help="conninfo of a Postgres for the rerank "
        "store (default: the private pgvector server, when installed)",
    )
    parser.add_argument("--name", default=None, help="results file name (default: full/quick)")
    parser.add_argument(
        "--redis-config",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra redis-server setting for the private server, e.g. "
        "hash-max-listpack-value=256 (repeatable; added to the recommended ones)",
    )
    parser.add_argument(
        "--stock-redis",
        action="store_true",
        help="run the private Redis without the README's recommended settings "
        f"({', '.join(RECOMMENDED_REDIS_CONFIG)})",
    )
    parser.add_argument(
        "--no-report",
        action="store_true",
        help="write only the JSON (leave docs/benchmarks.md and the plot)",
    )
    args = parser.parse_args(argv)
    stores = [store for store in args.scale_stores.split(",") if store]
    unknown = sorted(set(stores) - set(scale.STORES))
    if unknown:
        parser.error(f"--scale-stores: unknown {', '.join(unknown)}; choose from {scale.STORES}")
    name = args.name or ("quick" if args.quick else "full")
    started = time.time()
    results: dict[str, Any] = {
        "machine": machine(),
        "quick": args.quick,
        "command": "python -m benchmarks " + " ".join(argv or sys.argv[1:]),
    }
    with contextlib.ExitStack() as stack:
        config = [*([] if args.stock_redis else RECOMMENDED_REDIS_CONFIG), *args.redis_config]
        settings = [
            part
            for item in config
            for part in ("--" + item.split("=", 1)[0], item.split("=", 1)[1])
        ]
        results["redis_config"] = config
        redis_url = stack.enter_context(private_redis(*settings))
        pg = args.pg
        pgvector = None
        needs_postgres = not (args.skip_minilm and args.skip_ivfpq) or "postgres" in stores
        if not args.quick and needs_postgres and pgserver_bin() is not None:
            pgvector = stack.enter_context(private_postgres())
            pg = pg or pgvector
        if not args.skip_minilm:
            results["minilm"] = minilm.run(redis_url, pg, pgvector, args.quick)
        if not args.skip_ivfpq:
            results["ivfpq"] = ivfpq.run(redis_url, pg, pgvector, args.quick)
        if not args.quick and args.scale > 0:
            results["scale"] = scale.run(
                redis_url, pg, args.scale, fit_rows=not args.scale_rows_from_size, stores=stores
            )
    results["wall_s"] = round(time.time() - started, 1)
    path = write_results(f"{name}.json", results)
    print(f"wrote {path} ({results['wall_s']} s)")
    if not args.quick and not args.no_report:
        report.write(results, RESULTS)
    status = 0
    if "ivfpq" in results:
        print(ivfpq.tables(results["ivfpq"]))
        status = ivfpq.gate(results["ivfpq"])
    if "minilm" in results:
        recall = results["minilm"]["chosen"]["top_p"][0]["recall_at_10"]
        print(
            f"debian-minilm recall@10 of the chosen configuration: {recall} (floor {RECALL_FLOOR})"
        )
        if recall < RECALL_FLOOR:
            print("FAIL: recall@10 below its floor", file=sys.stderr)
            return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
