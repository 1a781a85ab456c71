"""Build the bundled demo data from the shared debian-minilm dataset.

Writes, next to this script:

- ``debian-demo.parquet``: 5,000 rows drawn at random (seed 0) from the base set,
  sorted by id, original ids kept. Columns ``id`` int64, ``text`` string,
  ``vector`` fixed_size_list<float32>[384]; zstd compressed, byte-stream-split floats,
  row groups of 1,000 rows.
- ``debian-demo-queries.npy``: float32 (200, 384), the first 200 held-out queries
  (none of them is in the base set).

Usage, from the repository root::

    python data/make_demo.py [path/to/debian-minilm.parquet]

The queries file is read from beside the Parquet file (``debian-minilm.queries.npy``).
The same input and seed always give the same rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "datasets" / "debian-minilm.parquet"
OUT_DIR = Path(__file__).resolve().parent
DEMO_ROWS = 5_000
DEMO_QUERIES = 200
SEED = 0
ROW_GROUP_ROWS = 1_000


def build(source: Path, out_dir: Path = OUT_DIR) -> tuple[Path, Path]:
    """Write the demo Parquet and query files; returns their paths."""
    table = pq.read_table(source, columns=["id", "text", "vector"])
    rng = np.random.default_rng(SEED)
    rows = np.sort(rng.choice(table.num_rows, size=DEMO_ROWS, replace=False))
    demo = table.take(pa.array(rows)).sort_by("id")
    demo = demo.cast(
        pa.schema(
            [
                pa.field("id", pa.int64()),
                pa.field("text", pa.string()),
                pa.field("vector", pa.list_(pa.float32(), 384)),
            ]
        )
    )
    parquet_path = out_dir / "debian-demo.parquet"
    # Dictionary encoding bloats float columns; byte-stream-split lets zstd see the
    # repeated exponent bytes of unit-norm floats (about 35% smaller than the default).
    pq.write_table(
        demo,
        parquet_path,
        compression="zstd",
        row_group_size=ROW_GROUP_ROWS,
        use_dictionary=["text"],
        use_byte_stream_split=["vector.list.element"],
    )

    queries = np.load(source.with_name("debian-minilm.queries.npy"))
    queries_path = out_dir / "debian-demo-queries.npy"
    np.save(queries_path, np.ascontiguousarray(queries[:DEMO_QUERIES], dtype=np.float32))
    return parquet_path, queries_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args()
    for path in build(args.source):
        print(f"{path.relative_to(REPO)}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
