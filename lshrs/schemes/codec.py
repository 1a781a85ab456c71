"""Byte layouts shared by the learned schemes: arrays in JSON, labels as signatures."""

from __future__ import annotations

import base64
import binascii
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


def array_from_text(
    text: Any, shape: tuple[int, ...], what: str = "array"
) -> npt.NDArray[np.float32]:
    """Inverse of :func:`array_to_text`.

    Args:
        text: base64 of float32-le values.
        shape: the shape they must fill exactly.
        what: the array's name, for messages.

    Raises:
        ValueError: if ``text`` is not base64 text or the decoded size does not match
            ``shape``.
    """
    if not isinstance(text, str):
        raise ValueError(f"{what} must be base64 text, got {_shown(text)}; {_DAMAGED}")
    if min(shape, default=1) < 1:
        raise ValueError(
            f"{what} cannot have shape {shape}: every size must be positive; {_DAMAGED}"
        )
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as error:
        raise ValueError(f"{what} is not base64 text ({error}); {_DAMAGED}") from error
    expected = 4 * int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(
            f"{what} of shape {shape} needs {expected} bytes, got {len(raw)}: the array is "
            f"truncated or its shape fields were changed; {_DAMAGED}"
        )
    return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)


_KINDS = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}
_DAMAGED = "the model file is damaged: save the model again from a working index"


def model_field(model: Any, key: str, kind: type[Any], scheme: str) -> Any:
    """``model[key]`` of a saved ``scheme_model``, checked to be of ``kind``.

    ``int`` excludes ``bool``; ``float`` accepts integers too.

    Args:
        model: the ``scheme_model`` of a model file.
        key: the field to read.
        kind: ``int``, ``float``, ``str``, ``list`` or ``dict``.
        scheme: the scheme's name, for messages.

    Raises:
        ValueError: naming the field, what it should be and what came, when
            ``model`` is not a JSON object, lacks ``key`` or holds another kind.

    Example:
        >>> model_field({"dim": 8}, "dim", int, "rq")
        8
        >>> model_field({"dim": "8"}, "dim", int, "rq")
        Traceback (most recent call last):
        ...
        ValueError: the rq scheme_model's 'dim' must be an integer, got '8' (str); ...
    """
    if not isinstance(model, dict):
        raise ValueError(
            f"a {scheme} scheme_model must be an object, got {_shown(model)}; {_DAMAGED}"
        )
    if key not in model:
        raise ValueError(f"the {scheme} scheme_model has no {key!r}; {_DAMAGED}")
    return check_kind(model[key], kind, f"the {scheme} scheme_model's {key!r}")


def model_list(model: Any, key: str, kind: type[Any], scheme: str) -> list[Any]:
    """``model[key]``, a list whose items are all of ``kind`` (as :func:`model_field`).

    Raises:
        ValueError: as :func:`model_field`, naming the first bad item.
    """
    items: list[Any] = model_field(model, key, list, scheme)
    for position, item in enumerate(items):
        check_kind(item, kind, f"the {scheme} scheme_model's {key!r}[{position}]")
    return items


def config_int(cfg: dict[str, str], key: str, default: int | None = None) -> int:
    """An integer field of an index's ``cfg`` hash; ``default`` when it is absent.

    Raises:
        ValueError: naming the field when it is absent (with no default) or not an
            integer.

    Example:
        >>> config_int({"dim": "8"}, "dim")
        8
        >>> config_int({}, "nprobe", default=1)
        1
    """
    text = cfg.get(key)
    if text is None and default is not None:
        return default
    if text is None or not text.lstrip("-").isdigit():
        came = "nothing" if text is None else repr(text)
        raise ValueError(
            f"the index's configuration in Redis needs an integer {key!r}, got {came}; "
            "it is damaged: rebuild the index"
        )
    return int(text)


def check_kind(value: Any, kind: type[Any], label: str) -> Any:
    """``value``, checked to be a JSON value of ``kind`` (as :func:`model_field`).

    Raises:
        ValueError: ``label`` must be ``kind``, got ``value``; the file is damaged.
    """
    kinds = (int, float) if kind is float else kind
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ValueError(f"{label} must be {_KINDS[kind]}, got {_shown(value)}; {_DAMAGED}")
    return value


def _shown(value: Any) -> str:
    """A value as a message shows it: its repr, cut at 40 characters, and its type."""
    text = repr(value)
    return f"{text if len(text) <= 40 else text[:40] + '...'} ({type(value).__name__})"


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
