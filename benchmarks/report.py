"""Tables for ``docs/benchmarks.md`` and the recall-vs-latency plot, from a results file.

``python -m benchmarks.report benchmarks/results/full.json [more.json ...]``
rewrites the part of ``docs/benchmarks.md`` between the ``results:start`` and
``results:end`` markers and ``benchmarks/results/recall_latency.png``; the text
around the markers is kept. Further files add their scale runs (e.g. one with
another Redis setting) and ``ablations.json`` its before/after tables.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows), ""]


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


def quality_rows(minilm: dict[str, Any]) -> list[list[Any]]:
    """Every method on debian-minilm: recall@10, candidates, latency."""
    chosen = minilm["chosen"]["top_p"][0]
    rows: list[list[Any]] = []

    def add(name: str, recall: Any, candidates: Any, stats: dict[str, Any]) -> None:
        rows.append(
            [
                name,
                recall,
                candidates,
                stats["p50_ms"],
                stats["p95_ms"],
                stats["p99_ms"],
                stats["qps"],
                _ratio(stats["p95_ms"], chosen["p95_ms"]),
            ]
        )

    for key in ("chosen", "core_16x12"):
        entry = minilm[key]
        top = entry["top_p"][0]
        add(
            f"{entry['name']}: top-p rerank",
            top["recall_at_10"],
            f"{top['candidates_mean']:.0f} ({top['candidates_pct']}%)",
            top,
        )
        add(f"{entry['name']}: top-k candidates only", "-", "-", entry["top_k"])
    if "naive" in minilm:
        naive = minilm["naive"]
        add(
            naive["name"] + ": rerank 3000",
            naive["top_p"]["recall_at_10"],
            "<= 3000",
            naive["top_p"],
        )
    exact = minilm["exact_numpy"]
    add(exact["name"], 1.0, "all", exact)
    for run in minilm.get("faiss", []) if isinstance(minilm.get("faiss"), list) else []:
        add(run["name"], run["recall_at_10"], run.get("candidates", "-"), run)
    pgvector = minilm.get("pgvector")
    if isinstance(pgvector, dict):
        for point in pgvector["points"]:
            add(f"pgvector HNSW ef_search={point['ef_search']}", point["recall_at_10"], "-", point)
    return rows


def write_operations(minilm: dict[str, Any]) -> list[str]:
    chosen = minilm["chosen"]
    rows: list[list[Any]] = []
    for key in ("chosen", "core_16x12"):
        entry = minilm[key]
        rows.append(
            [
                entry["name"],
                entry["ingest_vps"],
                "1.00x" if key == "chosen" else _ratio(chosen["ingest_vps"], entry["ingest_vps"]),
                entry.get("delete_ids_per_s", "-"),
                entry["redis_bytes_per_vector"],
            ]
        )
    if "naive" in minilm:
        naive = minilm["naive"]
        for label, field in (
            ("unpipelined", "ingest_vps_unpipelined"),
            ("pipelined", "ingest_vps_pipelined"),
        ):
            rows.append(
                [
                    f"{naive['name']}, {label}",
                    naive[field],
                    _ratio(chosen["ingest_vps"], naive[field]),
                    naive["delete_ids_per_s"] if label == "unpipelined" else "-",
                    f"{naive['redis_bytes_per_vector']} (no reverse index)",
                ]
            )
    pgvector = minilm.get("pgvector")
    if isinstance(pgvector, dict):
        rows.append(
            [
                f"{pgvector['name']} (COPY {pgvector['copy_s']} s + build {pgvector['build_s']} s)",
                pgvector["ingest_vps"],
                _ratio(chosen["ingest_vps"], pgvector["ingest_vps"]),
                pgvector["delete_ids_per_s"],
                f"{pgvector['bytes_per_vector_total']} (table + index; index "
                f"{pgvector['bytes_per_vector_index']})",
            ]
        )
    for run in minilm.get("faiss", []) if isinstance(minilm.get("faiss"), list) else []:
        if "nprobe=1" in run["name"] or "+ rerank" in run["name"] or "Flat" in run["name"]:
            continue
        rows.append(
            [
                run["name"],
                run["ingest_vps"],
                _ratio(chosen["ingest_vps"], run["ingest_vps"]),
                "-",
                "in process",
            ]
        )
    return _table(
        ["method", "ingest vectors/s", "lshrs chosen / this", "delete ids/s", "bytes per vector"],
        rows,
    )


def store_rows(rows: list[dict[str, Any]]) -> list[str]:
    return _table(
        [
            "vectors in",
            "recall@10",
            "candidates",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "QPS",
            "store bytes/vector",
        ],
        [
            [
                r["store"],
                r["recall_at_10"],
                r["candidates_mean"],
                r["p50_ms"],
                r["p95_ms"],
                r["p99_ms"],
                r["qps"],
                r.get("store_bytes_per_vector", "-"),
            ]
            for r in rows
        ],
    )


def scale_section(scale: dict[str, Any], caption: str) -> list[str]:
    config = scale["config"]
    ceiling = scale["ceiling"]
    fitted = config.get("rows_from") == "sample"
    lines = [
        f"### Scale set: {scale['dataset']['vectors']:,} x {scale['dataset']['dim']} "
        f"({scale['dataset']['name']}), {caption}",
        "",
        f"Configuration `corpus_config({scale['dataset']['vectors']}, num_bands=16, "
        f"max_rerank=1000{', sample=<10,000 vectors>' if fitted else ''})` (rows from "
        f"{'a sample of the corpus' if fitted else 'the corpus size alone'}): "
        f"{config['num_bands']} bands x {config['rows_per_band']} rows, "
        f"{config['extra_probes']} extra probes, rerank {config['rerank_candidates']}.",
        "",
        *_table(
            ["figure", "value"],
            [
                [
                    "ingest (index() from arrays, end to end)",
                    f"{scale['ingest_vps']:,} vectors/s ({scale['ingest_s']} s)",
                ],
                [
                    "Redis ceiling, one SADD per membership",
                    f"{ceiling['lua_sadd_per_s']:,} SADD/s "
                    f"from Lua = {ceiling['vps_ceiling_one_sadd_per_membership_16_bands']:,} "
                    "vectors/s at 16 bands; pipelined from a client "
                    f"{ceiling['pipelined_sadd_per_s']:,} SADD/s",
                ],
                [
                    "Redis memory per indexed vector (reverse index included)",
                    f"{scale['redis_bytes_per_vector']} bytes",
                ],
                [
                    "projected for 6.4M vectors",
                    f"{scale['redis_bytes_projected_6_4M'] / 2**30:.2f}"
                    " GiB (measured bytes/vector x 6.4M)",
                ],
                ["keys", key_summary(scale["memory_breakdown"])],
            ],
        ),
        *_table(
            ["query", "recall@10", "p50 ms", "p95 ms", "p99 ms", "QPS"],
            [
                [
                    "top-k candidates, no probes",
                    scale["top_k"]["recall_at_10_unreranked"],
                    scale["top_k"]["p50_ms"],
                    scale["top_k"]["p95_ms"],
                    scale["top_k"]["p99_ms"],
                    scale["top_k"]["qps"],
                ],
                [
                    f"top-k candidates, {config['extra_probes']} probes",
                    "-",
                    scale["top_k_with_probes"]["p50_ms"],
                    scale["top_k_with_probes"]["p95_ms"],
                    scale["top_k_with_probes"]["p99_ms"],
                    scale["top_k_with_probes"]["qps"],
                ],
            ],
        ),
        "Top-p with rerank, by where the vectors live:",
        "",
        *store_rows(scale["top_p"]),
    ]
    if scale.get("top_p_probes"):
        lines += [
            "Top-p with rerank, in-process vectors, by extra probes:",
            "",
            *_table(
                ["extra probes", "recall@10", "candidates reranked", "p50 ms", "p95 ms", "p99 ms"],
                [
                    [
                        p["extra_probes"],
                        p["recall_at_10"],
                        p["candidates_mean"],
                        p["p50_ms"],
                        p["p95_ms"],
                        p["p99_ms"],
                    ]
                    for p in scale["top_p_probes"]
                ],
            ),
        ]
    return lines


def tables(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        f"Run: `{results['command']}` ({results['wall_s']} s). Machine: {machine['cpu']}, "
        f"{machine['memory']}, Python {machine['python']}, numpy {machine['numpy']}, "
        f"redis-server {machine['redis_server']}, load average at start "
        f"{machine.get('load_average', '-')}.",
        "",
    ]
    minilm = results.get("minilm")
    if minilm:
        data = minilm["dataset"]
        lines += [
            f"### debian-minilm ({data['vectors']:,} x {data['dim']}, {data['queries']} "
            "queries, recall against the exact top-10)",
            "",
            "Latency is per query, one client, back to back; the ratio column is this "
            "method's p95 over lshrs' chosen configuration's.",
            "",
            *_table(
                [
                    "method",
                    "recall@10",
                    "candidates reranked",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "QPS",
                    "p95 / lshrs",
                ],
                quality_rows(minilm),
            ),
            "Writes and memory:",
            "",
            *write_operations(minilm),
        ]
        if len(minilm["chosen"]["top_p"]) > 1:
            lines += [
                "Rerank stores for the chosen configuration:",
                "",
                *store_rows(minilm["chosen"]["top_p"]),
            ]
        if "sweep" in minilm:
            lines += [
                "Recall against latency (200 queries, chosen index, in-process vectors):",
                "",
                *_table(
                    ["extra probes", "rerank", "recall@10", "p50 ms", "p95 ms"],
                    [
                        [
                            p["extra_probes"],
                            p["rerank_candidates"],
                            p["recall_at_10"],
                            p["p50_ms"],
                            p["p95_ms"],
                        ]
                        for p in minilm["sweep"]
                    ],
                ),
            ]
    if "scale" in results:
        lines += scale_section(results["scale"], redis_caption(results))
    return "\n".join(lines)


def redis_caption(results: dict[str, Any]) -> str:
    config = results.get("redis_config") or []
    settings = ", ".join(config) if config else "default settings"
    return f"Redis {settings} (`{results['command'].strip()}`, {results['wall_s']} s)"


QUOTES = "b'"
"""What ``repr`` of a bytes encoding name adds around it."""


def key_summary(breakdown: dict[str, Any]) -> str:
    """Key counts and the sampled encodings of :func:`benchmarks.scale.key_breakdown`."""
    keys = breakdown["keys"]
    kinds = {"b": "bucket", "r": "reverse-index"}
    sampled = ", ".join(
        f"{kinds.get(kind, kind)} {encoding.strip(QUOTES)} {count:,}"
        for (kind, _, encoding), count in (
            (name.partition(":"), count) for name, count in breakdown["sampled_encodings"].items()
        )
    )
    return (
        f"{keys['buckets']:,} bucket sets, {keys['reverse']:,} reverse-index hashes;"
        f" encodings of 1 key in 200: {sampled}"
    )


def extra_tables(extra: dict[str, Any]) -> str:
    """A further scale run, or the ablations."""
    if "scale" in extra:
        return "\n".join(scale_section(extra["scale"], redis_caption(extra)))
    if "runs" in extra:
        return "\n".join(
            [
                f"### Insert call size and form (`{extra['command']}`, first 200,000 vectors "
                "of the scale set, Redis set-max-intset-entries=8192)",
                "",
                *_table(
                    [
                        "configuration",
                        "form",
                        "memberships per call",
                        "ids per call",
                        "vectors/s",
                        "Redis us per vector",
                        "Redis ms per call",
                    ],
                    [
                        [
                            r["config"],
                            r["form"],
                            r.get("memberships_per_call", "-"),
                            r["ids_per_call"],
                            r["vectors_per_s"],
                            r["redis_us_per_vector"],
                            r["redis_ms_per_call"],
                        ]
                        for r in extra["runs"]
                    ],
                ),
            ]
        )
    lines = [f"### Before/after of the engineering changes (`{extra['command']}`)", ""]
    lines += _table(
        [
            "query path (debian-minilm, chosen index, 200 queries)",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "Redis ms per query",
        ],
        [
            [name, v["p50_ms"], v["p95_ms"], v["p99_ms"], v["redis_ms_per_query"]]
            for name, v in extra["query_path"].items()
        ],
    )
    lines += _table(
        [
            "insert form (59,504 ids, 16 x 14, calls of 1,000)",
            "arguments per id",
            "ids/s sent and run",
            "Redis us per id",
        ],
        [
            [name, v["arguments_per_id"], v["send_and_run_vps"], v["redis_us_per_id"]]
            for name, v in extra["insert_form"].items()
        ],
    )
    lines += _table(
        [
            "hasher (corpus_config(59504) otherwise)",
            "recall@10",
            "distinct candidates read",
            "band 0 largest bucket",
            "band 0 empty buckets",
        ],
        [
            [
                name,
                v["recall_at_10"],
                v["distinct_candidates_mean"],
                v["band0_largest_bucket"],
                v["band0_empty_share"],
            ]
            for name, v in extra["centring"].items()
        ],
    )
    lines += _table(
        ["Redis setting (debian-minilm, 16 x 8, uncentred)", "bytes per vector"],
        [[name, v["redis_bytes_per_vector"]] for name, v in extra["intset_entries"].items()],
    )
    if "listpack_value" in extra:
        lines += _table(
            ["Redis setting (debian-minilm, chosen 64 x 10, centred)", "bytes per vector"],
            [[name, v["redis_bytes_per_vector"]] for name, v in extra["listpack_value"].items()],
        )
    if "redis_fetch_1000_x_768" in extra:
        lines += _table(
            ["RedisVectorStore.fetch, 1,000 random ids of 200,000 x 768", "p50 ms", "p95 ms"],
            [
                [name, v["p50_ms"], v["p95_ms"]]
                for name, v in extra["redis_fetch_1000_x_768"].items()
            ],
        )
    if "rerank_ms_per_query" in extra:
        paths = list(next(iter(extra["rerank_ms_per_query"].values())))
        lines += _table(
            ["rerank (candidates x dims)", *[f"{p}, ms" for p in paths]],
            [[shape, *v.values()] for shape, v in extra["rerank_ms_per_query"].items()],
        )
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minilm = results["minilm"]
    fig, ax = plt.subplots(figsize=(11, 6))
    sweep = minilm.get("sweep", [])
    for probes in sorted({p["extra_probes"] for p in sweep}):
        points = sorted(
            (p for p in sweep if p["extra_probes"] == probes), key=lambda p: p["p95_ms"]
        )
        ax.plot(
            [p["p95_ms"] for p in points],
            [p["recall_at_10"] for p in points],
            "o-",
            label=f"lshrs, {probes} extra probes (rerank 1/2/4%)",
        )
    chosen = minilm["chosen"]["top_p"][0]
    ax.plot(
        chosen["p95_ms"],
        chosen["recall_at_10"],
        "*",
        markersize=16,
        color="black",
        label="lshrs corpus_config (chosen)",
    )
    core = minilm["core_16x12"]["top_p"][0]
    ax.plot(core["p95_ms"], core["recall_at_10"], "s", label="lshrs 16x12 starting point")
    if "naive" in minilm:
        naive = minilm["naive"]["top_p"]
        ax.plot(
            naive["p95_ms"], naive["recall_at_10"], "x", markersize=10, label="naive client 16x12"
        )
    faiss = minilm.get("faiss")
    if isinstance(faiss, list):
        ivf = [r for r in faiss if "IVFFlat" in r["name"]]
        ax.plot(
            [r["p95_ms"] for r in ivf],
            [r["recall_at_10"] for r in ivf],
            "^--",
            label="FAISS IVFFlat (nprobe 1..32)",
        )
        for r in faiss:
            if "IndexLSH" in r["name"]:
                ax.plot(
                    r["p95_ms"],
                    r["recall_at_10"],
                    "v",
                    label="FAISS " + r["name"].removeprefix("faiss "),
                )
        flat = [r for r in faiss if "Flat (exact)" in r["name"] or "FlatIP" in r["name"]]
        for r in flat:
            ax.plot(r["p95_ms"], r["recall_at_10"], "D", label="FAISS IndexFlatIP (exact)")
    pgvector = minilm.get("pgvector")
    if isinstance(pgvector, dict):
        ax.plot(
            [p["p95_ms"] for p in pgvector["points"]],
            [p["recall_at_10"] for p in pgvector["points"]],
            "P-",
            markersize=10,
            label="pgvector HNSW (ef_search 40, 100)",
        )
    exact = minilm["exact_numpy"]
    ax.plot(exact["p95_ms"], 1.0, "h", label="exact numpy")
    ax.set_xscale("log")
    ax.set_xlabel("p95 query latency, ms (log scale; one client)")
    ax.set_ylabel("recall@10")
    ax.set_title(
        f"debian-minilm ({minilm['dataset']['vectors']:,} x "
        f"{minilm['dataset']['dim']}): recall vs latency"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.set_ylim(0.4, 1.02)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(
    results: dict[str, Any],
    directory: Path,
    docs: Path = DOCS,
    extras: tuple[dict[str, Any], ...] = (),
) -> None:
    """Rewrite the generated part of ``docs`` and the plot in ``directory``."""
    if "minilm" in results:
        plot(results, directory / "recall_latency.png")
    body = "\n".join([tables(results), *(extra_tables(extra) for extra in extras)])
    text = docs.read_text(encoding="utf-8") if docs.exists() else f"{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    docs.parent.mkdir(exist_ok=True)
    docs.write_text(f"{head}{START}\n{body}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    source, *more = (Path(arg) for arg in sys.argv[1:])
    write(
        json.loads(source.read_text(encoding="utf-8")),
        source.parent,
        extras=tuple(json.loads(path.read_text(encoding="utf-8")) for path in more),
    )
    print(f"wrote {DOCS} and {source.parent / 'recall_latency.png'}")
