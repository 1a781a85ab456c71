"""The examples in docs/learned-buckets.md run, in order, against real Redis."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "learned-buckets.md"


def test_the_documented_examples_run(redis_url, prefix, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 2
    monkeypatch.chdir(REPO)
    namespace = {"redis_url": redis_url, "prefix": prefix}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    namespace["lsh"].close()
