"""Do the codes stored in Redis match the vectors they were computed from?

A client with a wrong model or wrong arithmetic writes codes that are well formed but
wrong: its ids sit in buckets or lists where queries do not look for them. Only the
vectors tell: :func:`wrong_codes` reads every id's stored codes, fetches the vectors,
computes the codes again and names the ids that differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.schemes import IVFPQ, Scheme

BATCH = 10_000
"""Ids whose vectors are fetched and coded at a time."""
LISTS_PER_SCAN = 256

Fetch = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float32]]


def stored_bucket_codes(storage: Any) -> Iterator[tuple[npt.NDArray[np.int64], list[bytes]]]:
    """``(ids, their concatenated band signatures)`` from the reverse index, a hash at a time."""
    pattern = storage.keys.pattern[:-1] + b"r*"
    for key in storage.client.scan_iter(match=pattern, count=1000):
        entries = storage.client.hgetall(key)
        good = [(name, value) for name, value in entries.items() if bytes(name).isdigit()]
        if good:
            yield (
                np.array([int(name) for name, _ in good], dtype=np.int64),
                [bytes(value) for _, value in good],
            )


def stored_list_codes(lists: Any) -> Iterator[tuple[npt.NDArray[np.int64], list[bytes]]]:
    """``(ids, list as uint32 big-endian + code)`` of every record, some lists at a time."""
    model: IVFPQ = lists.model
    numbers = sorted(int(name) for name in lists.storage.client.hkeys(lists.root + b"n"))
    for start in range(0, len(numbers), LISTS_PER_SCAN):
        chosen = numbers[start : start + LISTS_PER_SCAN]
        blobs = lists.records_of(chosen)
        for number, blob in zip(chosen, blobs, strict=True):
            if not blob:
                continue
            ids, codes = model.split_records(blob)
            prefix = number.to_bytes(4, "big")
            yield ids, [prefix + bytes(row) for row in codes]


def computed_codes(scheme: Scheme, vectors: npt.NDArray[np.float32]) -> list[bytes]:
    """What ``scheme`` stores for each vector, in the layout of the stored codes."""
    if isinstance(scheme, IVFPQ):
        lists, codes = scheme.encode(vectors)
        heads = lists.astype(">u4").view(np.uint8).reshape(-1, 4)
        return [bytes(row) for row in np.concatenate([heads, codes], axis=1)]
    signatures = scheme.hash_batch(vectors).reshape(vectors.shape[0], -1)
    return [bytes(row) for row in signatures]


def wrong_codes(
    scheme: Scheme,
    stored: Iterator[tuple[npt.NDArray[np.int64], list[bytes]]],
    fetch: Fetch,
) -> list[int]:
    """Ids whose stored codes differ from what ``scheme`` computes for their vectors.

    Args:
        scheme: the index's scheme.
        stored: ``(ids, codes)`` batches from :func:`stored_bucket_codes` or
            :func:`stored_list_codes`.
        fetch: ``fetch(ids) -> float32 (len(ids), dim)``, validated vectors.

    Returns:
        The ids, ascending.
    """
    wrong: list[int] = []
    ids_buffer: list[npt.NDArray[np.int64]] = []
    codes_buffer: list[bytes] = []

    def flush() -> None:
        if not codes_buffer:
            return
        ids = np.concatenate(ids_buffer)
        expected = computed_codes(scheme, fetch(ids))
        wrong.extend(
            int(index)
            for index, have, want in zip(ids.tolist(), codes_buffer, expected, strict=True)
            if have != want
        )
        ids_buffer.clear()
        codes_buffer.clear()

    for ids, codes in stored:
        ids_buffer.append(ids)
        codes_buffer.extend(codes)
        if len(codes_buffer) >= BATCH:
            flush()
    flush()
    return sorted(wrong)
