"""Every Redis key name lshrs uses, built in one place from the user's prefix.

Layout for ``redis_prefix="lsh"`` (root ``{lsh}:``; the braces are a Redis Cluster
hash tag, so one index lives in one hash slot):

==================  ======  =====================================================
key                 type    content
==================  ======  =====================================================
``{lsh}:cfg``       HASH    configuration (dim, num_bands, sig_bytes, fingerprint,
                            ...) and ``count``, the number of indexed ids
``{lsh}:model``     STRING  what a client needs to compute signatures (planes)
``{lsh}:b<code>``   SET     a bucket: ids; code = 2-byte big-endian band number,
                            then the band signature bytes
``{lsh}:r<chunk>``  HASH    reverse index: id -> its signatures, for ids in
                            ``[chunk * 128, chunk * 128 + 128)``
``{lsh}:v<id>``     STRING  optional vector store: the id's vector (float32/float16)
``{lsh}:s<chunk>``  HASH    semantic IDs: id -> its semantic ID (same chunks)
``{lsh}:sn``        HASH    semantic ID -> the id holding it
``{lsh}:sc``        HASH    code path -> how many semantic IDs it was given
==================  ======  =====================================================

An alias (:mod:`lshrs.rebuild`) lives outside every index: ``{lshrs-alias:<name>}``,
a STRING holding the prefix readers should open.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

REVERSE_CHUNK = 128
"""Ids per reverse-index hash: small enough for Redis's compact listpack encoding."""


def validate_prefix(prefix: str) -> str:
    """Check a ``redis_prefix`` and return it.

    Raises:
        ValueError: if the prefix is empty, not a string, or contains ``{`` or ``}``
            (lshrs adds the hash tag itself).
    """
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"redis_prefix must be a non-empty string, got {prefix!r}")
    if "{" in prefix or "}" in prefix:
        raise ValueError(
            f"redis_prefix must not contain '{{' or '}}', got {prefix!r}: lshrs wraps the "
            "prefix in a hash tag itself ({prefix}) so the index stays in one cluster slot"
        )
    return prefix


class KeySpace:
    """Key names of one index.

    Args:
        prefix: the user's ``redis_prefix``; any characters but ``{`` and ``}``.

    Example:
        >>> keys = KeySpace("lsh")
        >>> keys.root, keys.config
        (b'{lsh}:', b'{lsh}:cfg')
        >>> keys.bucket(b"\\x00\\x01\\xab")
        b'{lsh}:b\\x00\\x01\\xab'
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = validate_prefix(prefix)
        self.root = ("{" + prefix + "}:").encode()
        self.config = self.root + b"cfg"
        self.model = self.root + b"model"
        self.semantic_names = self.root + b"sn"
        self.semantic_counts = self.root + b"sc"

    def bucket(self, code: bytes) -> bytes:
        """Key of the bucket with this code (band number + signature)."""
        return self.root + b"b" + code

    def reverse(self, index: int) -> bytes:
        """Key of the reverse-index hash that holds ``index``."""
        return self.root + b"r" + str(index // REVERSE_CHUNK).encode()

    def vectors(self, ids: npt.NDArray[np.int64]) -> list[bytes]:
        """Keys of the vector store for these ids, built without a Python loop."""
        return list(np.char.add(self.root + b"v", ids.astype(np.bytes_)).tolist())

    def semantic(self, index: int) -> bytes:
        """Key of the hash that holds ``index``'s semantic ID."""
        return self.root + b"s" + str(index // REVERSE_CHUNK).encode()

    @property
    def pattern(self) -> bytes:
        """A SCAN/KEYS glob matching exactly this index's keys."""
        escaped = bytearray()
        for byte in self.root:
            if chr(byte) in "*?[]\\":
                escaped += b"\\"
            escaped.append(byte)
        return bytes(escaped) + b"*"


def alias_key(alias: str) -> bytes:
    """Key of an alias: a STRING naming the prefix of the index in service.

    Raises:
        ValueError: if the alias is empty or contains braces.

    Example:
        >>> alias_key("docs")
        b'{lshrs-alias:docs}'
    """
    if not isinstance(alias, str) or not alias or "{" in alias or "}" in alias:
        raise ValueError(f"alias must be a non-empty string without braces, got {alias!r}")
    return ("{lshrs-alias:" + alias + "}").encode()


def bucket_code(band: int, signature: bytes) -> bytes:
    """The code of a bucket: band number as 2 bytes big-endian, then the signature."""
    return band.to_bytes(2, "big") + signature


def bucket_codes(
    band_numbers: npt.NDArray[np.integer], signatures: npt.NDArray[np.uint8]
) -> list[bytes]:
    """:func:`bucket_code` of many buckets at once, without a Python loop.

    Args:
        band_numbers: int array, shape ``(k,)``.
        signatures: uint8 array, shape ``(k, sig_bytes)``.

    Returns:
        ``k`` byte strings of length ``2 + sig_bytes``.
    """
    k, width = signatures.shape
    codes = np.empty((k, 2 + width), dtype=np.uint8)
    codes[:, 0] = band_numbers >> 8
    codes[:, 1] = band_numbers & 0xFF
    codes[:, 2:] = signatures
    return list(codes.view(f"V{2 + width}").ravel().tolist())
