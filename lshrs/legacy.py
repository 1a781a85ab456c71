"""The bucket-level API of earlier releases: single buckets and per-id band signatures.

:class:`lshrs.storage.RedisStorage` keeps these as methods (``storage.get_bucket``,
...) that call the functions here; new code indexes whole vectors with
:class:`lshrs.LSHRS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lshrs.keys import bucket_code
from lshrs.protocol import NotIndexedError
from lshrs.schemes.hyperplane import HashSignatures
from lshrs.validation import as_ids

if TYPE_CHECKING:
    from lshrs.storage import RedisStorage


@dataclass(frozen=True)
class BucketOperation:
    """One id with all its band signatures, as :func:`batch_add` takes it."""

    index: int
    signatures: HashSignatures


def add_to_bucket(storage: RedisStorage, band_id: int, signature: bytes, index: int) -> None:
    """Move an indexed id into the bucket ``(band_id, signature)`` of one band.

    Ids enter the index with all their bands at once (:func:`batch_add`); a single
    band of a new id would leave it half-indexed, so this only moves ids.

    Raises:
        ValueError: if ``index`` is not indexed, or the band or signature is invalid.
    """
    ids = as_ids([index], "index")
    args = [storage._fingerprint(), ids.astype(np.bytes_)[0], int(band_id), bytes(signature)]
    try:
        storage._run("move", args)
    except NotIndexedError as error:
        raise error.with_message(
            f"index {index} is not in the index; add ids with all their bands "
            "(RedisStorage.batch_add or LSHRS.index), then move bands with add_to_bucket"
        ) from error


def get_bucket(storage: RedisStorage, band_id: int, signature: bytes) -> set[int]:
    """Ids in the bucket ``(band_id, signature)``."""
    members = storage.client.smembers(storage.keys.bucket(bucket_code(band_id, signature)))
    return {int(member) for member in members}


def batch_add(storage: RedisStorage, operations: Sequence[BucketOperation]) -> int:
    """Insert ids with all their band signatures, atomically. Returns how many were new.

    Raises:
        ValueError: if ids repeat or an id's signatures do not match the index.
    """
    config = storage.config()
    if not config:
        raise storage._no_config()
    num_bands, width = int(config["num_bands"]), int(config["sig_bytes"])
    ids = as_ids([op.index for op in operations], "operations' indices")
    if np.unique(ids).size != ids.size:
        raise ValueError("operations must name each index once")
    signatures = np.zeros((len(operations), num_bands, width), dtype=np.uint8)
    for row, op in enumerate(operations):
        bands = op.signatures.bands
        if len(bands) != num_bands or any(len(sig) != width for sig in bands):
            raise ValueError(
                f"index {op.index}: expected {num_bands} band signatures of {width} "
                f"bytes, got {[len(sig) for sig in bands]}"
            )
        signatures[row] = np.frombuffer(b"".join(bands), dtype=np.uint8).reshape(num_bands, width)
    return storage.insert(ids, signatures)


def remove_indices(storage: RedisStorage, indices: Sequence[int]) -> int:
    """Remove ids from all their buckets. Returns how many were indexed."""
    return storage.delete(as_ids(indices))
