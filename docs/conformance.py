"""Regenerate (or check) the conformance vectors of docs/computing-codes.md.

Small, fixed models of every scheme, a few input vectors, and what lshrs computes for
them: signatures, bucket codes and probe lists (bucket schemes), lists, codes, records
and scores (IVF-PQ). A client in another language passes when it reproduces
``docs/conformance.json`` from the models alone. Usage::

    python docs/conformance.py --write   # rewrite docs/conformance.json
    python docs/conformance.py --check   # exit 1 if it is stale (the tests do this)
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import numpy as np
from generated import ROOT, sync, write_requested

FIXTURE = ROOT / "docs" / "conformance.json"
DIM = 8


def _hex(codes: list[bytes]) -> list[str]:
    return [code.hex() for code in codes]


def _vectors() -> np.ndarray:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((4, DIM)).astype(np.float32)
    vectors[3] = 0.0
    vectors[3, 0] = 1.0  # lies on a coordinate axis
    return vectors


def _bucket_case(name: str, hasher: Any, extra_probes: int) -> dict[str, Any]:
    vectors = _vectors()
    signatures = hasher.hash_batch(vectors)
    return {
        "name": name,
        "cfg": hasher.config_fields(),
        "fingerprint": hasher.fingerprint,
        "model_base64": base64.b64encode(hasher.model_blob()).decode("ascii"),
        "extra_probes": extra_probes,
        "nprobe": getattr(hasher, "nprobe", None),
        "beam": getattr(hasher, "beam", None),
        "vectors": vectors.tolist(),
        "signatures_hex": [row.tobytes().hex() for row in signatures],
        "probes_hex": [_hex(hasher.probe_codes(v, extra_probes)) for v in vectors],
    }


def _ivfpq_case() -> dict[str, Any]:
    from lshrs.schemes import IVFPQ
    from lshrs.schemes.pq import ProductQuantizer

    rng = np.random.default_rng(11)
    centroids = rng.standard_normal((4, DIM)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    books = (0.3 * rng.standard_normal((2, 256, DIM // 2))).astype(np.float32)
    model = IVFPQ(centroids, ProductQuantizer(books), nprobe=2)
    vectors = _vectors()
    lists, codes = model.encode(vectors)
    ids = np.arange(10, 10 + len(vectors), dtype=np.int64)
    records = model.records(ids, codes)
    query = model.prepare(vectors[:1])[0]
    probed = model.probe(query)
    blobs = [records[lists == number].tobytes() for number in probed]
    scored_ids, scores = model.score(query, probed, blobs)
    return {
        "name": "ivfpq",
        "cfg": model.config_fields(),
        "fingerprint": model.fingerprint,
        "model_base64": base64.b64encode(model.model_blob()).decode("ascii"),
        "vectors": vectors.tolist(),
        "ids": ids.tolist(),
        "lists": lists.tolist(),
        "codes_hex": [row.tobytes().hex() for row in codes],
        "records_hex": [row.tobytes().hex() for row in records],
        "query": "vectors[0]",
        "probed_lists": probed.tolist(),
        "scores": {str(i): round(float(s), 5) for i, s in zip(scored_ids, scores, strict=True)},
    }


def render() -> dict[str, Any]:
    from lshrs.schemes import KMeansHasher, LSHHasher, RQHasher

    centre = np.linspace(-0.2, 0.3, DIM).astype(np.float32)
    rng = np.random.default_rng(3)
    centroids = rng.standard_normal((2, 4, DIM)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=2, keepdims=True)
    books = (rng.standard_normal((3, 4, DIM)) * np.array([0.5, 0.25, 0.1])[:, None, None]).astype(
        np.float32
    )
    return {
        "about": "lshrs conformance vectors: see docs/computing-codes.md",
        "cases": [
            _bucket_case("hyperplane", LSHHasher(2, 3, DIM, seed=5), 3),
            _bucket_case("hyperplane-centred", LSHHasher(2, 3, DIM, seed=5, center=centre), 3),
            _bucket_case("kmeans", KMeansHasher(centroids, nprobe=2), 1),
            _bucket_case("rq", RQHasher(list(books), depth=2, beam=2), 1),
            _ivfpq_case(),
        ],
    }


def main() -> int:
    sys.path.insert(0, str(ROOT))
    write = write_requested(__doc__)
    return sync({FIXTURE: json.dumps(render(), indent=1) + "\n"}, write, "docs/conformance.py")


if __name__ == "__main__":
    sys.exit(main())
