"""``lshrs demo``: index the bundled Debian embeddings, query them, report what happened."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from lshrs.config.corpus import corpus_config
from lshrs.index import LSHRS
from lshrs.sources import array_fetcher

DATA_FILES = ("debian-demo.parquet", "debian-demo-queries.npy")


def demo_data_dir() -> Path:
    """Where the demo files are: inside the installed package, or the repo's ``data/``."""
    packaged = Path(__file__).parent / "data"
    if (packaged / DATA_FILES[0]).exists():
        return packaged
    return Path(__file__).resolve().parent.parent / "data"


@dataclass
class DemoReport:
    rows: int
    ingest_seconds: float
    latencies_ms: npt.NDArray[np.float64]
    recall_at_10: float
    candidates_fraction: float
    scanned_fraction: float
    config: dict[str, Any]

    @property
    def ingest_rate(self) -> float:
        return self.rows / self.ingest_seconds


def load_demo() -> tuple[
    npt.NDArray[np.int64], list[str], npt.NDArray[np.float32], npt.NDArray[np.float32]
]:
    """The demo corpus (ids, texts, vectors) and its held-out query vectors."""
    import pyarrow.parquet as pq

    directory = demo_data_dir()
    table = pq.read_table(directory / DATA_FILES[0])
    vectors = table.column("vector").combine_chunks().flatten().to_numpy()
    vectors = np.ascontiguousarray(vectors.reshape(table.num_rows, -1), dtype=np.float32)
    ids = table.column("id").to_numpy().astype(np.int64)
    texts = table.column("text").to_pylist()
    queries = np.load(directory / DATA_FILES[1]).astype(np.float32)
    return ids, texts, vectors, queries


def run_demo(lsh_kwargs: dict[str, Any], out: TextIO, examples: int = 3) -> DemoReport:
    """Index the demo data into a fresh index, run the held-out queries, print a report.

    Args:
        lsh_kwargs: connection arguments for :class:`LSHRS` (``redis_url`` or ``storage``,
            ``redis_prefix``).
        out: where to print.
        examples: how many example queries to show with their neighbours' text.

    Returns:
        The measured figures.
    """
    ids, texts, vectors, queries = load_demo()
    dim = vectors.shape[1]
    lsh = LSHRS(
        dim=dim,
        vector_fetch_fn=array_fetcher(ids, vectors),
        **corpus_config(len(ids), sample=vectors).index_kwargs(vectors),
        **lsh_kwargs,
    )
    lsh.clear()
    started = time.perf_counter()
    lsh.create_signatures(
        format="parquet",
        file_path=demo_data_dir() / DATA_FILES[0],
        index_column="id",
        vector_column="vector",
    )
    ingest_seconds = time.perf_counter() - started

    normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = np.argsort(-(queries @ normed.T), axis=1, kind="stable")[:, :10]
    latencies, hits, scanned = [], 0, 0
    for query, truth in zip(queries, exact, strict=True):
        started = time.perf_counter()
        found = lsh.get_above_p(query, p=1.0)[:10]
        latencies.append((time.perf_counter() - started) * 1000)
        hits += len({i for i, _ in found} & set(ids[truth].tolist()))
        scanned += lsh.candidate_count(query)
    report = DemoReport(
        rows=len(ids),
        ingest_seconds=ingest_seconds,
        latencies_ms=np.array(latencies),
        recall_at_10=hits / (10 * len(queries)),
        candidates_fraction=min(scanned / len(queries), lsh.rerank_candidates) / len(ids),
        scanned_fraction=scanned / len(queries) / len(ids),
        config={
            key: lsh.stats()[key]
            for key in ("scheme", "nlist", "nprobe", "code_bytes", "rerank_candidates")
        },
    )
    print_report(report, len(queries), out)
    print_examples(lsh, ids, texts, vectors, examples, out)
    lsh.clear()
    return report


def print_report(report: DemoReport, queries: int, out: TextIO) -> None:
    p50, p95 = np.percentile(report.latencies_ms, [50, 95])
    rows = [
        ("vectors indexed", f"{report.rows:,} x 384 (all-MiniLM-L6-v2, Debian packages)"),
        (
            "configuration",
            "corpus_config: " + ", ".join(f"{k}={v}" for k, v in report.config.items()),
        ),
        ("ingest", f"{report.ingest_rate:,.0f} vectors/s ({report.ingest_seconds:.2f} s)"),
        ("query latency (top-p rerank)", f"p50 {p50:.2f} ms, p95 {p95:.2f} ms"),
        ("recall@10 vs exact search", f"{report.recall_at_10:.3f} over {queries} held-out queries"),
        ("codes scored", f"{report.scanned_fraction:.1%} of the corpus per query"),
        ("candidates reranked", f"{report.candidates_fraction:.1%} of the corpus per query"),
    ]
    width = max(len(name) for name, _ in rows)
    out.write("\nlshrs demo\n")
    for name, value in rows:
        out.write(f"  {name:<{width}}  {value}\n")


def print_examples(
    lsh: LSHRS,
    ids: npt.NDArray[np.int64],
    texts: list[str],
    vectors: npt.NDArray[np.float32],
    count: int,
    out: TextIO,
) -> None:
    text_of = dict(zip(ids.tolist(), texts, strict=True))
    for row in np.linspace(0, len(ids) - 1, count, dtype=int):
        out.write(f"\nneighbours of [{ids[row]}] {text_of[int(ids[row])][:70]}\n")
        for neighbour, score in lsh.get_above_p(vectors[row], p=1.0)[1:4]:
            out.write(f"  {score:.3f}  [{neighbour}] {text_of[neighbour][:70]}\n")
