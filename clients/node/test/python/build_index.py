"""Test helper for the Node client: builds lshrs indexes with Python and checks what
Node wrote. Run from the Node tests with the Python that has lshrs (LSHRS_PYTHON).

    build_index.py build --scheme hyperplane|kmeans|rq|ivfpq --redis URL --prefix P
                         --queries N --model model.lsh --out build.json
    build_index.py check --redis URL --prefix P --model model.lsh
                         --input node.json --out check.json
    build_index.py install --redis URL --prefix P --out install.json

``build`` indexes the bundled demo (data/debian-demo.parquet, 5,000 x 384) and writes
the first N demo queries (base64 float32-le), a few demo rows (id, vector) to
perturb and insert, the SHA1 of every script as Python loads it, the client-side
settings Node needs (extra_probes, nprobe), and for each query Python's
``get_top_k(q, 10)`` and the bucket codes (hex) or IVF-PQ lists it reads.

``install`` loads lshrs' Redis Functions library (a private server only) and writes its
name and the ACL rules of an application user of the prefix.

``check`` reads ``{"inserted": [[id, base64 vector], ...], "deleted": [id, ...]}``
and reports, for each inserted id, whether Python computes the signatures (bucket
schemes) or the list and code (IVF-PQ) that Node stored, and whether
``get_top_k(vector, 10)`` finds it (and ranks it with the best); for each deleted
id, whether its entry is gone (and, for a demo row, whether the query by its own
vector misses it); and ``verify().ok``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from lshrs import LSHRS, corpus_config
from lshrs.protocol import SCRIPT_NAMES, script_source
from lshrs.schemes import IVFPQ, KMeansHasher, RQHasher

REPO = Path(__file__).resolve().parents[4]
DIM = 384
TOPK = 10


def demo() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = pq.read_table(REPO / "data" / "debian-demo.parquet")
    ids = table.column("id").to_numpy()
    vectors = table.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, DIM)
    queries = np.load(REPO / "data" / "debian-demo-queries.npy")
    return ids, vectors, queries


def b64(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def unb64(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)


def build(args: argparse.Namespace) -> dict:
    ids, vectors, queries = demo()
    started = time.perf_counter()
    if args.scheme == "hyperplane":
        config = corpus_config(len(ids), sample=vectors, index="hyperplane")
        kwargs = config.index_kwargs(vectors)
    elif args.scheme == "kmeans":
        hasher = KMeansHasher.fit(vectors, nlist=64, num_bands=3, nprobe=3, seed=0)
        kwargs = {"hasher": hasher, "extra_probes": 4}
    elif args.scheme == "rq":
        hasher = RQHasher.fit(vectors, codebook_sizes=(32, 16, 16), depth=2, beam=4, seed=0)
        kwargs = {"hasher": hasher, "extra_probes": 2}
    elif args.scheme == "ivfpq":
        kwargs = corpus_config(len(ids), sample=vectors).index_kwargs(vectors)
    else:
        raise SystemExit(f"unknown scheme {args.scheme!r}")
    lsh = LSHRS(dim=DIM, redis_url=args.redis, redis_prefix=args.prefix, **kwargs)
    lsh.index(ids, vectors)
    lsh.save_to_disk(args.model)
    built = time.perf_counter() - started

    hasher = lsh.hasher
    rows = queries[: args.queries]
    probes: list[list] = []
    for query in rows:
        if isinstance(hasher, IVFPQ):
            probes.append(hasher.probe(hasher.prepare(query[None]))[0].tolist())
        else:
            probes.append([code.hex() for code in hasher.probe_codes(query, lsh.extra_probes)])
    return {
        "scheme": hasher.scheme,
        "fingerprint": hasher.fingerprint,
        "settings": {
            "extraProbes": lsh.extra_probes,
            "nprobe": getattr(hasher, "nprobe", None),
        },
        "count": lsh.storage.count(),
        "build_seconds": round(built, 2),
        "shas": {
            name: hashlib.sha1(script_source(name).encode()).hexdigest() for name in SCRIPT_NAMES
        },
        "samples": [[int(ids[row]), b64(vectors[row])] for row in range(0, ids.size, 1000)],
        "queries": [b64(query) for query in rows],
        "topk": [lsh.get_top_k(query, TOPK) for query in rows],
        "probes": probes,
    }


def stored_signature(lsh: LSHRS, index: int) -> bytes | None:
    """What the index holds for an id: its band signatures, or its list (4 bytes le)
    and code."""
    client, root = lsh.storage.client, lsh.storage.keys.root
    entry = client.hget(root + b"r" + str(index // 128).encode(), str(index))
    if entry is None or not isinstance(lsh.hasher, IVFPQ):
        return entry
    list_number = int.from_bytes(entry[:4], "little")
    slot = int.from_bytes(entry[4:8], "little")
    size = lsh.hasher.record_bytes
    key = root + b"l" + str(list_number).encode()
    record = client.getrange(key, slot * size, slot * size + size - 1)
    if int.from_bytes(record[:8], "little") != index:
        return b"wrong record"
    return entry[:4] + record[8:]


def python_signature(lsh: LSHRS, vector: np.ndarray) -> bytes:
    if isinstance(lsh.hasher, IVFPQ):
        lists, codes = lsh.hasher.encode(vector[None])
        return int(lists[0]).to_bytes(4, "little") + codes[0].tobytes()
    return lsh.hasher.hash_batch(vector[None])[0].tobytes()


def best_score(lsh: LSHRS, vector: np.ndarray, index: int) -> bool:
    """Whether the id ranks with the best for its own vector: most band collisions
    (ties by smaller id may push a large id out of the top 10), or IVF-PQ's top 10."""
    if isinstance(lsh.hasher, IVFPQ):  # codes are approximate: another code may score higher
        return index in lsh.get_top_k(vector, TOPK)
    _, ids, counts = lsh.storage.query(lsh.hasher.probe_codes(vector, lsh.extra_probes), 10**6)
    return bool(counts.size) and int(counts[ids == index].max(initial=-1)) == int(counts[0])


def check(args: argparse.Namespace) -> dict:
    ids, vectors, _ = demo()
    lsh = LSHRS.load_from_disk(args.model, redis_url=args.redis, redis_prefix=args.prefix)
    given = json.loads(Path(args.input).read_text())
    inserted = []
    for index, text in given["inserted"]:
        vector = unb64(text)
        stored = stored_signature(lsh, index)
        inserted.append(
            {
                "id": index,
                "same_signature": stored == python_signature(lsh, vector),
                "found": index in lsh.get_top_k(vector, TOPK),
                "best_score": best_score(lsh, vector, index),
            }
        )
    deleted = []
    for index in given["deleted"]:
        gone = stored_signature(lsh, index) is None
        row = int(np.searchsorted(ids, index))
        if row < ids.size and ids[row] == index:  # a demo row: its own query must miss it
            gone = gone and index not in lsh.get_top_k(vectors[row], TOPK)
        deleted.append({"id": index, "gone": gone})
    report = lsh.verify()
    return {
        "inserted": inserted,
        "deleted": deleted,
        "verify_ok": report.ok,
        "verify": report.as_dict(),
        "count": lsh.storage.count(),
    }


def install(args: argparse.Namespace) -> dict:
    import redis

    from lshrs.functions import install as install_library
    from lshrs.security import acl_rules

    client = redis.Redis.from_url(args.redis)
    report = install_library(client)
    return {"library": report.library, "rules": acl_rules(args.prefix, server=client)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["build", "check", "install"])
    parser.add_argument("--scheme", default="hyperplane")
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--model")
    parser.add_argument("--input")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    result = {"build": build, "check": check, "install": install}[args.command](args)
    Path(args.out).write_text(json.dumps(result))
    print(f"{args.command} {args.prefix}: ok", file=sys.stderr)


if __name__ == "__main__":
    main()
