"""Timing and recall helpers shared by the benchmarks."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

RESULTS = Path(__file__).resolve().parent / "results"
"""Where the benchmarks write their results files."""


def write_results(name: str, results: Any) -> Path:
    """Write ``results`` as indented JSON to ``RESULTS / name``; returns the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return path


def latency_stats(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds and QPS (one client, back to back)."""
    ms = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "qps": round(float(1000.0 / ms.mean()), 1),
    }


def timed_queries(
    queries: npt.NDArray[np.float32],
    search: Callable[[npt.NDArray[np.float32]], Any],
    warmup: int = 10,
) -> tuple[list[Any], dict[str, float]]:
    """Run ``search`` on every query (after ``warmup`` untimed ones); results and stats."""
    for query in queries[:warmup]:
        search(query)
    results, seconds = [], []
    for query in queries:
        start = time.perf_counter()
        results.append(search(query))
        seconds.append(time.perf_counter() - start)
    return results, latency_stats(seconds)


def recall_at(results: Sequence[Sequence[int]], truth: npt.NDArray[np.int64], k: int = 10) -> float:
    """Mean share of each query's exact top-k found in its first k results."""
    hits = [
        len(set(list(found)[:k]) & set(truth[i, :k].tolist())) / k
        for i, found in enumerate(results)
    ]
    return round(float(np.mean(hits)), 4)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            names = [
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            ]
        cpu = f"{names[0]} x{len(names)}" if names else cpu
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            total_kb = int(info.readline().split()[1])
        memory = f"{total_kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        memory = "unknown"
    redis_version = (
        subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False)
        .stdout.split(" v=")[-1]
        .split(" ")[0]
    )
    return {
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "redis_server": redis_version,
        "os": platform.platform(),
    }
