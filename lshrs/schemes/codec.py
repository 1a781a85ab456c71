"""Byte layouts shared by the learned schemes: arrays in JSON, labels as signatures."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

METRICS = ("l2", "ip")
"""Metric names by their code in model blobs: 0 = L2, 1 = inner product."""


def array_to_text(array: npt.NDArray[Any]) -> str:
    """A float32 array as base64 of its little-endian bytes, row-major (for JSON)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def array_from_text(text: str, shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """Inverse of :func:`array_to_text`.

    Raises:
        ValueError: if the decoded size does not match ``shape``.
    """
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    expected = 4 * int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(f"array of shape {shape} needs {expected} bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)


def label_width(clusters: int) -> int:
    """Bytes of one centroid number: 2 (uint16) up to 65,536 clusters, else 4 (uint32)."""
    return 2 if clusters <= 1 << 16 else 4


def labels_to_bytes(labels: npt.NDArray[np.integer], width: int) -> npt.NDArray[np.uint8]:
    """Centroid numbers as big-endian unsigned bytes: shape ``labels.shape + (width,)``."""
    big_endian = np.ascontiguousarray(labels, dtype=">u2" if width == 2 else ">u4")
    return big_endian.view(np.uint8).reshape(*labels.shape, width)


def digest(blob: bytes) -> str:
    """First 16 hex digits of the SHA-256 of a model blob: part of a fingerprint."""
    return hashlib.sha256(blob).hexdigest()[:16]


def unpack_header(blob: bytes, header: struct.Struct, magic: bytes, what: str) -> tuple[Any, ...]:
    """The fields after the 8-byte ``magic`` of a model blob's ``header``.

    Raises:
        ValueError: if the blob is shorter than the header or does not start with
            ``magic`` (``what`` names the model in the message).
    """
    if len(blob) < header.size or blob[:8] != magic:
        raise ValueError(f"not an lshrs {what} model blob (magic {magic.decode()} expected)")
    return tuple(header.unpack_from(blob)[1:])
