"""PQ codes against sign-bit (RaBitQ) codes of the same size, on both real sets.

``python -m benchmarks.code_kinds``: FAISS ``IndexIVFPQ`` (48 bytes at 384 dims) and
``IndexIVFRaBitQ`` (one bit per dimension: also 48 bytes), the same 1,024 lists, each
followed by an exact rerank of its best 100, recall@10 at nprobe 32 and 64. Recall only
(no timing). Writes ``benchmarks/results/code_kinds.json``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.measure import write_results
from benchmarks.minilm import load

NLIST, RERANK = 1024, 100


def recall(index: Any, vectors: npt.NDArray[np.float32], queries: Any, truth: Any) -> float:
    _, found = index.search(queries, RERANK)
    hits = 0
    for row, candidates in enumerate(found):
        candidates = candidates[candidates >= 0]
        best = candidates[np.argsort(-(vectors[candidates] @ queries[row]))[:10]]
        hits += len(set(best.tolist()) & set(truth[row, :10].tolist()))
    return round(hits / (10 * len(queries)), 4)


def main() -> int:
    import faiss

    faiss.omp_set_num_threads(2)
    results: dict[str, Any] = {}
    for name in ("debian-minilm", "npm-minilm"):
        _, vectors, queries, truth = load(name)
        dim = vectors.shape[1]
        kinds = {
            "pq48": faiss.IndexIVFPQ(
                faiss.IndexFlatIP(dim), dim, NLIST, dim // 8, 8, faiss.METRIC_INNER_PRODUCT
            ),
            "rabitq": faiss.IndexIVFRaBitQ(
                faiss.IndexFlatIP(dim), dim, NLIST, faiss.METRIC_INNER_PRODUCT
            ),
        }
        for kind, index in kinds.items():
            index.train(vectors)
            index.add(vectors)
            for nprobe in (32, 64):
                index.nprobe = nprobe
                results[f"{name} {kind} nprobe {nprobe}"] = recall(index, vectors, queries, truth)
                print(name, kind, nprobe, results[f"{name} {kind} nprobe {nprobe}"], flush=True)
    write_results("code_kinds.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
