"""The soak engine: sustained top-k queries at full speed plus a steady, balanced
trickle of inserts and deletes, reported per window (throughput, latency, errors,
server memory). ``tests/faults/test_soak.py`` runs it briefly; ``python -m
benchmarks.soak`` runs it long on real embeddings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from lshrs import LSHRS


@dataclass
class Window:
    """One reporting window of the soak run."""

    end_second: float
    queries: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    ids_inserted: int = 0
    ids_deleted: int = 0
    used_memory: int = 0

    def summary(self, seconds: float) -> dict[str, Any]:
        latency = np.asarray(self.latencies_ms or [float("nan")])
        return {
            "end_second": round(self.end_second, 1),
            "queries_per_second": round(self.queries / seconds, 1),
            "p50_ms": round(float(np.percentile(latency, 50)), 3),
            "p99_ms": round(float(np.percentile(latency, 99)), 3),
            "errors": self.errors,
            "ids_inserted": self.ids_inserted,
            "ids_deleted": self.ids_deleted,
            "used_memory": self.used_memory,
        }


def trickle(
    lsh: LSHRS,
    spare: npt.NDArray[np.int64],
    live: list[int],
    vectors: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float32]],
    per_second: int,
    stop: threading.Event,
    windows: list[Window],
    batch: int = 50,
) -> None:
    """Insert ``per_second`` ids a second from ``spare`` and delete as many of the
    oldest ``live`` ids, which go back to ``spare``: the index size stays constant."""
    pending = list(spare)
    interval = batch / per_second
    next_at = time.monotonic()
    while not stop.is_set():
        window = windows[-1]
        new = np.asarray(pending[:batch], dtype=np.int64)
        old = np.asarray(live[:batch], dtype=np.int64)
        try:
            lsh.index(new, vectors(new))
            lsh.delete(old)
        except redis.RedisError:
            window.errors += 1
        else:
            del pending[:batch], live[:batch]
            live.extend(new.tolist())
            pending.extend(old.tolist())
            window.ids_inserted += new.size
            window.ids_deleted += old.size
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))


def run_soak(
    url: str,
    vectors: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    *,
    seconds: float,
    window_seconds: float,
    indexed: int,
    trickle_per_second: int,
    prefix: str = "soak",
    **lshrs_args: Any,
) -> dict[str, Any]:
    """Index the first ``indexed`` rows of ``vectors`` (ids = row numbers), then soak.

    Returns:
        The report: totals, ``windows`` (one summary per window), ``verify_ok`` and
        ``memory_growth_second_half`` (largest over smallest used memory among the
        windows of the second half, minus 1).
    """
    admin = redis.Redis.from_url(url)
    lsh = LSHRS(dim=vectors.shape[1], redis_url=url, redis_prefix=prefix, **lshrs_args)
    lsh.clear()
    all_ids = np.arange(vectors.shape[0], dtype=np.int64)
    lsh.index(all_ids[:indexed], vectors[:indexed])
    writer = LSHRS(dim=vectors.shape[1], redis_url=url, redis_prefix=prefix, **lshrs_args)
    live = all_ids[:indexed].tolist()

    windows = [Window(end_second=window_seconds)]
    stop = threading.Event()
    thread = threading.Thread(
        target=trickle,
        args=(
            writer,
            all_ids[indexed:],
            live,
            lambda ids: vectors[ids],
            trickle_per_second,
            stop,
            windows,
        ),
    )
    start = time.monotonic()
    thread.start()
    q = 0
    while (elapsed := time.monotonic() - start) < seconds:
        if elapsed >= windows[-1].end_second:
            windows[-1].used_memory = int(admin.info("memory")["used_memory"])
            windows.append(Window(end_second=windows[-1].end_second + window_seconds))
        window = windows[-1]
        began = time.perf_counter()
        try:
            lsh.query(queries[q % len(queries)], topk=10)
        except redis.RedisError:
            window.errors += 1
        else:
            window.latencies_ms.append((time.perf_counter() - began) * 1000)
            window.queries += 1
        q += 1
    stop.set()
    thread.join()
    windows[-1].used_memory = int(admin.info("memory")["used_memory"])
    report = lsh.verify()
    count = lsh.storage.count()
    lsh.clear()
    lsh.close()
    writer.close()
    admin.close()

    summaries = [w.summary(window_seconds) for w in windows if w.queries]
    memory = [s["used_memory"] for s in summaries]
    half = memory[len(memory) // 2 :]
    all_latency = np.concatenate([w.latencies_ms for w in windows if w.latencies_ms])
    return {
        "wall_seconds_with_verify": round(time.monotonic() - start, 1),
        "indexed": indexed,
        "trickle_ids_per_second": trickle_per_second,
        "queries": int(sum(w.queries for w in windows)),
        "queries_per_second": round(sum(w.queries for w in windows) / seconds, 1),
        "p50_ms": round(float(np.percentile(all_latency, 50)), 3),
        "p99_ms": round(float(np.percentile(all_latency, 99)), 3),
        "errors": int(sum(w.errors for w in windows)),
        "ids_inserted": int(sum(w.ids_inserted for w in windows)),
        "ids_deleted": int(sum(w.ids_deleted for w in windows)),
        "final_count": count,
        "verify_ok": report.ok,
        "memory_growth_second_half": round(max(half) / min(half) - 1, 4),
        "windows": summaries,
    }
