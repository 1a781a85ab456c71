"""Two choices of the IVF-PQ configuration, checked on both real sets.

``python -m benchmarks.ivfpq_choices``, in process (no Redis), recall only:

- **List fineness.** For nlist 1,024 and 4,096: how many records a query reads when its
  probed lists hold 0.97 of its true top-10 (the calibration target), and nprobe.
- **Training iterations.** recall@10 of the chosen configuration (``corpus_config``,
  the calibrated nprobe, the rerank of 200) with 10 and with 20 Lloyd iterations.

Writes ``benchmarks/results/ivfpq_choices.json``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.measure import write_results
from benchmarks.minilm import load
from lshrs import corpus_config
from lshrs.config.corpus import COARSE_MARGIN, DEFAULT_REFINE, calibrate_nprobe
from lshrs.kmeans import nearest, normalized, train_kmeans
from lshrs.schemes import IVFPQ

COVERAGE = 0.97


def records_at_coverage(
    vectors: npt.NDArray[np.float32], queries: Any, truth: Any, nlist: int
) -> dict[str, int]:
    """nprobe and mean records read when the probed lists hold COVERAGE of the top-10."""
    unit = normalized(vectors)
    centroids = train_kmeans(unit, nlist, spherical=True, iterations=10, seed=0)
    lists = nearest(unit, centroids, inner_product=True)[0][:, 0]
    sizes = np.bincount(lists, minlength=nlist)
    order = nearest(normalized(queries), centroids, nlist, inner_product=True)[0]
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(nlist)[None, :], axis=1)
    ranks = np.take_along_axis(rank, lists[truth[:, :10]], axis=1)
    nprobe = int(np.quantile(ranks, COVERAGE, method="higher")) + 1
    return {"nprobe": nprobe, "records": int(sizes[order[:, :nprobe]].sum(axis=1).mean())}


def recall(model: IVFPQ, vectors: npt.NDArray[np.float32], queries: Any, truth: Any) -> float:
    """recall@10 after scoring the probed lists' codes and reranking the best 200."""
    lists, codes = model.encode(vectors)
    ids = np.arange(len(vectors), dtype=np.int64)
    records = model.records(ids, codes)
    blobs = [records[lists == number].tobytes() for number in range(model.nlist)]
    unit = normalized(vectors)
    hits = 0
    for row, query in enumerate(model.prepare(queries)):
        probed = model.probe(query)
        found, scores = model.score(query, probed, [blobs[number] for number in probed])
        top = found[np.argsort(-scores)[:DEFAULT_REFINE]]
        best = top[np.argsort(-(unit[top] @ query))[:10]]
        hits += len(set(best.tolist()) & set(truth[row, :10].tolist()))
    return round(hits / (10 * len(queries)), 4)


def main() -> int:
    results: dict[str, Any] = {}
    for name in ("debian-minilm", "npm-minilm"):
        _, vectors, queries, truth = load(name)
        results[f"{name} nlist 1024"] = records_at_coverage(vectors, queries, truth, 1024)
        results[f"{name} nlist 4096"] = records_at_coverage(vectors, queries, truth, 4096)
        config = corpus_config(len(vectors), sample=vectors)
        assert config.nlist is not None and config.recall_target is not None
        for iterations in (10, 20):
            started = time.perf_counter()
            model = IVFPQ.fit(vectors, config.nlist, config.code_bytes, iterations=iterations)
            model.nprobe = calibrate_nprobe(model, vectors, config.recall_target + COARSE_MARGIN)
            results[f"{name} iterations {iterations}"] = {
                "train_s": round(time.perf_counter() - started, 1),
                "nprobe": model.nprobe,
                "recall_at_10": recall(model, vectors, queries, truth),
            }
        for key, value in results.items():
            if key.startswith(name):
                print(key, value, flush=True)
    write_results("ivfpq_choices.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
