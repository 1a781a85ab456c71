"""Learned buckets vs random hyperplanes vs FAISS IVF on real sentence embeddings.

Data: debian-minilm from ../shared/datasets (59,504 base vectors, 500 held-out
queries, exact top-100). For every scheme and probe setting it reports recall@10 after an exact
rerank of *every* candidate, and the candidates as a percentage of the corpus; plus
training time, ingest rate (vectors/s, hashing + Redis writes) and, for RQ, the
semantic-ID collision rate. Redis is a private ``redis-server`` started on a free
loopback port and stopped at the end.

Run from the repository root::

    python benchmarks/bench_learned.py

Writes ``benchmarks/results/learned.json``. Self-contained: needs numpy, pyarrow,
redis-server on PATH; faiss-cpu optional (its rows are skipped without it).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.minilm import dataset_dir  # noqa: E402
from lshrs import LSHRS, KMeansHasher, LSHHasher, RQHasher  # noqa: E402
from lshrs.schemes import SignatureScheme  # noqa: E402
from lshrs.schemes.training import faiss_module  # noqa: E402

DATASET = dataset_dir()
RESULTS = REPO / "benchmarks" / "results" / "learned.json"
NLIST = 1024
NPROBES = (1, 2, 4, 8, 12, 16, 18, 20, 24, 32, 48, 64)


def load(name: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[Any]]:
    table = pq.read_table(DATASET / f"{name}.parquet", columns=["id", "vector"])
    base = table.column("vector").combine_chunks().flatten().to_numpy()
    base = base.reshape(table.num_rows, -1).astype(np.float32)
    assert np.array_equal(table.column("id").to_numpy(), np.arange(table.num_rows))
    queries = np.load(DATASET / f"{name}.queries.npy").astype(np.float32)
    truth = np.load(DATASET / f"{name}.gt.npy")[:, :10]
    return base, queries, truth


@contextmanager
def private_redis() -> Iterator[str]:
    """A throw-away redis-server on a free loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="lshrs-bench-")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir]
    args += ["--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def ingest(lsh: LSHRS, base: npt.NDArray[np.float32]) -> float:
    """Index the whole base set; returns vectors per second."""
    start = time.perf_counter()
    lsh.index(np.arange(base.shape[0]), base)
    return base.shape[0] / (time.perf_counter() - start)


def curve_point(
    lsh: LSHRS,
    base: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    truth: npt.NDArray[Any],
    extra_probes: int,
) -> dict[str, float]:
    """Recall@10 after reranking every candidate, and candidates in % of the corpus."""
    hits, candidates, seconds = 0, 0, []
    for query, expected in zip(queries, truth, strict=True):
        codes = lsh.hasher.probe_codes(query, extra_probes)
        start = time.perf_counter()
        total, ids, _ = lsh.storage.query(codes, base.shape[0])
        seconds.append(time.perf_counter() - start)
        candidates += total
        top = ids[np.argsort(-(base[ids] @ query), kind="stable")[:10]]
        hits += len(set(top.tolist()) & set(expected.tolist()))
    return {
        "recall_at_10": round(hits / truth.size, 4),
        "candidates_pct": round(100 * candidates / len(queries) / base.shape[0], 3),
        "redis_query_ms_p50": round(1000 * float(np.median(seconds)), 2),
    }


def run_scheme(
    url: str,
    name: str,
    hasher: SignatureScheme,
    settings: Sequence[tuple[str, int, Callable[[], None]]],
    data: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[Any]],
    train_seconds: float | None,
) -> dict[str, Any]:
    """Ingest into a fresh prefix, then one curve point per probe setting."""
    base, queries, truth = data
    lsh = LSHRS(dim=base.shape[1], hasher=hasher, redis_url=url, redis_prefix=f"bench-{name}")
    lsh.clear()
    rate = ingest(lsh, base)
    print(f"{name}: {hasher.fingerprint}; ingest {rate:,.0f} vectors/s", flush=True)
    points = []
    for label, extra_probes, apply in settings:
        apply()
        point = {"setting": label, **curve_point(lsh, base, queries, truth, extra_probes)}
        points.append(point)
        print(
            f"  {label:>22}  recall@10 {point['recall_at_10']:.3f}  "
            f"candidates {point['candidates_pct']:6.2f}%  "
            f"redis p50 {point['redis_query_ms_p50']:.2f} ms",
            flush=True,
        )
    result = {
        "scheme": name,
        "fingerprint": hasher.fingerprint,
        "train_seconds": train_seconds,
        "ingest_vectors_per_second": round(rate),
        "curve": points,
        "lsh": lsh,
    }
    return result


def nprobe_settings(hasher: KMeansHasher) -> list[tuple[str, int, Callable[[], None]]]:
    def setter(value: int) -> Callable[[], None]:
        return lambda: setattr(hasher, "nprobe", value)

    return [(f"nprobe={n}", 0, setter(n)) for n in NPROBES]


def beam_settings(
    hasher: RQHasher, beams: Sequence[int]
) -> list[tuple[str, int, Callable[[], None]]]:
    def setter(value: int) -> Callable[[], None]:
        return lambda: setattr(hasher, "beam", value)

    return [(f"beam={b}", 0, setter(b)) for b in beams]


def faiss_curve(
    faiss: Any,
    base: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    truth: npt.NDArray[Any],
    nlist: int = NLIST,
) -> tuple[Any, dict[str, Any]]:
    """FAISS IndexIVFFlat (L2 quantizer, unit vectors): the same curve, in process."""
    start = time.perf_counter()
    quantizer = faiss.IndexFlatL2(base.shape[1])
    index = faiss.IndexIVFFlat(quantizer, base.shape[1], nlist)
    index.train(base)
    train_seconds = time.perf_counter() - start
    index.add(base)
    sizes = np.array([index.invlists.list_size(i) for i in range(nlist)])
    points = []
    for nprobe in NPROBES:
        index.nprobe = nprobe
        _, found = index.search(queries, 10)
        _, lists = quantizer.search(queries, nprobe)
        hits = sum(
            len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)
        )
        points.append(
            {
                "setting": f"nprobe={nprobe}",
                "recall_at_10": round(hits / truth.size, 4),
                "candidates_pct": round(100 * sizes[lists].sum() / len(queries) / base.shape[0], 3),
            }
        )
        print(
            f"  faiss nprobe={nprobe:>3}  recall@10 {points[-1]['recall_at_10']:.3f}  "
            f"candidates {points[-1]['candidates_pct']:6.2f}%",
            flush=True,
        )
    return index, {
        "scheme": "faiss-IndexIVFFlat",
        "fingerprint": f"faiss {faiss.__version__} IndexIVFFlat nlist={nlist} L2",
        "train_seconds": round(train_seconds, 1),
        "curve": points,
    }


def collision_rate(lsh: LSHRS, base: npt.NDArray[np.float32]) -> dict[str, Any]:
    """Assign semantic IDs to every indexed id; how many needed a counter suffix."""
    start = time.perf_counter()
    names = lsh.assign_semantic_ids(np.arange(base.shape[0]), base)
    seconds = time.perf_counter() - start
    paths = lsh.hasher.code_paths(base)  # type: ignore[attr-defined]
    suffixed = sum(name != path for name, path in zip(names, paths, strict=True))
    assert len(set(names)) == len(names)
    return {
        "semantic_id_collision_rate": round(suffixed / len(names), 4),
        "distinct_paths": len(set(paths)),
        "semantic_ids_per_second": round(len(names) / seconds),
    }


def training_speed(base: npt.NDArray[np.float32], rows: int, iterations: int) -> dict[str, Any]:
    """Seconds per Lloyd iteration (numpy backend, nlist 1024) on ``rows`` vectors: base
    rows drawn with replacement plus small noise, so the sample has ``rows`` distinct
    points."""
    rng = np.random.default_rng(0)
    sample = base[rng.integers(0, base.shape[0], rows)]
    sample += rng.standard_normal(sample.shape, dtype=np.float32) * np.float32(0.01)
    marks: list[float] = []
    start = time.perf_counter()
    KMeansHasher.fit(
        sample,
        nlist=NLIST,
        iterations=iterations,
        max_training_vectors=rows,
        backend="numpy",
        progress=lambda *_: marks.append(time.perf_counter()),
    )
    total = time.perf_counter() - start
    per_iteration = (marks[-1] - marks[0]) / max(1, len(marks) - 1)
    print(
        f"training {rows:,} x {base.shape[1]} into {NLIST} lists: "
        f"{per_iteration:.1f} s per iteration, {total:.1f} s for {iterations}",
        flush=True,
    )
    return {
        "rows": rows,
        "nlist": NLIST,
        "iterations": iterations,
        "seconds_total": round(total, 1),
        "seconds_per_iteration": round(per_iteration, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="debian-minilm")
    parser.add_argument("--iterations", type=int, default=20, help="Lloyd iterations")
    parser.add_argument("--nlist", type=int, default=NLIST, help="k-means lists")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--training-rows",
        type=int,
        default=0,
        help="only measure k-means training speed on this many rows (e.g. 1000000)",
    )
    args = parser.parse_args()
    data = load(args.dataset)
    base, queries, truth = data
    if args.training_rows:
        speed = training_speed(base, args.training_rows, 3)
        path = args.output.with_name("learned-training.json")
        path.write_text(json.dumps(speed, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")
        return
    faiss = faiss_module()
    quiet = lambda *_: None  # noqa: E731
    report: dict[str, Any] = {
        "dataset": args.dataset,
        "base": base.shape[0],
        "queries": queries.shape[0],
        "command": "python benchmarks/bench_learned.py " + " ".join(sys.argv[1:]),
        "nlist": args.nlist,
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "note": "recall@10 after exact rerank of every candidate; candidates in % of base",
        "schemes": [],
    }
    with private_redis() as url:
        print(f"training k-means nlist={args.nlist} (numpy backend)", flush=True)
        start = time.perf_counter()
        kmeans = KMeansHasher.fit(
            base, nlist=args.nlist, iterations=args.iterations, backend="numpy", progress=quiet
        )
        seconds = round(time.perf_counter() - start, 1)
        runs = [run_scheme(url, "kmeans", kmeans, nprobe_settings(kmeans), data, seconds)]

        if faiss is not None:
            index, faiss_result = faiss_curve(faiss, base, queries, truth, args.nlist)
            report["schemes"].append(faiss_result)
            imported = KMeansHasher.from_faiss(index)
            runs.append(
                run_scheme(
                    url, "kmeans-from-faiss", imported, nprobe_settings(imported), data, None
                )
            )

        for sizes, depth, beams in (
            ((32, 32, 32, 32), 2, (4, 8, 16, 32, 64, 128)),
            ((1024, 256, 256), 1, (1, 4, 8, 16, 32, 64)),
        ):
            name = f"rq-{'x'.join(map(str, sizes))}-depth{depth}"
            print(f"training {name} (numpy backend)", flush=True)
            start = time.perf_counter()
            rq = RQHasher.fit(
                base,
                sizes,
                depth=depth,
                iterations=args.iterations,
                backend="numpy",
                progress=quiet,
            )
            seconds = round(time.perf_counter() - start, 1)
            run = run_scheme(url, name, rq, beam_settings(rq, beams), data, seconds)
            run.update(collision_rate(run["lsh"], base))
            print(
                f"  semantic IDs: collision rate {run['semantic_id_collision_rate']:.3f}",
                flush=True,
            )
            runs.append(run)

        for bands, rows, extras in ((64, 12, (0, 64, 192)), (32, 10, (0, 32))):
            hyperplanes = LSHHasher(bands, rows, base.shape[1], seed=42)
            settings = [(f"extra_probes={e}", e, lambda: None) for e in extras]
            runs.append(
                run_scheme(url, f"hyperplane-{bands}x{rows}", hyperplanes, settings, data, 0.0)
            )

        for run in runs:
            run.pop("lsh").clear()
            report["schemes"].append(run)

    rates = {run["scheme"]: run.get("ingest_vectors_per_second") for run in report["schemes"]}
    ratio = round(rates["kmeans"] / rates["hyperplane-64x12"], 2)
    report["ingest_ratio_kmeans_vs_hyperplane_64x12"] = ratio
    print(f"ingest ratio kmeans / hyperplane-64x12: {ratio}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
