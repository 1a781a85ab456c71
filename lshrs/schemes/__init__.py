"""Every way lshrs turns vectors into buckets or lists, and the one registry that
rebuilds a scheme from a saved model or from what Redis stores.

=================  ==============================================  ====================
scheme             class                                           module
=================  ==============================================  ====================
``"hyperplane"``   :class:`~lshrs.schemes.hyperplane.LSHHasher`    random hyperplanes
``"kmeans"``       :class:`~lshrs.schemes.kmeans.KMeansHasher`     k-means (IVF) buckets
``"rq"``           :class:`~lshrs.schemes.rq.RQHasher`             residual quantization
``"ivfpq"``        :class:`~lshrs.schemes.ivfpq.IVFPQ`             PQ-coded inverted lists
=================  ==============================================  ====================

A new scheme is one module here with ``scheme``, ``fingerprint``, ``config_fields``,
``model_blob``, ``to_model``/``from_model`` and ``from_redis_config``, and one entry
in :data:`SCHEMES`.
"""

from __future__ import annotations

from typing import Any

from lshrs.schemes.base import FORMAT_VERSION, SignatureScheme
from lshrs.schemes.hyperplane import HashSignatures, LSHHasher
from lshrs.schemes.ivfpq import IVFPQ
from lshrs.schemes.kmeans import KMeansHasher
from lshrs.schemes.rq import RQHasher

Scheme = SignatureScheme | IVFPQ
"""What an index is built on: bucket signatures, or IVF-PQ inverted lists."""

SCHEMES: dict[str, Any] = {cls.scheme: cls for cls in (LSHHasher, KMeansHasher, RQHasher, IVFPQ)}
"""Scheme name (as stored in Redis and in saved models) -> its class."""

__all__ = [
    "FORMAT_VERSION",
    "IVFPQ",
    "SCHEMES",
    "HashSignatures",
    "KMeansHasher",
    "LSHHasher",
    "RQHasher",
    "Scheme",
    "SignatureScheme",
    "from_redis_config",
    "register_scheme",
    "scheme_from_model",
]


def register_scheme(cls: type[Any]) -> type[Any]:
    """Class decorator: make a scheme of your own loadable by name."""
    SCHEMES[cls.scheme] = cls
    return cls


def _scheme_class(name: object) -> Any:
    if not isinstance(name, str) or name not in SCHEMES:
        raise ValueError(f"unknown signature scheme {name!r}; known: {sorted(SCHEMES)}")
    return SCHEMES[str(name)]


def scheme_from_model(name: object, model: object) -> Scheme:
    """Rebuild a scheme from the ``scheme_model`` of a saved model file.

    Raises:
        ValueError: for an unknown scheme name or a bad description (naming the
            missing, mistyped or inconsistent field).
    """
    scheme: Scheme = _scheme_class(name).from_model(model)
    return scheme


def from_redis_config(cfg: dict[str, str], model_blob: bytes) -> Scheme:
    """Rebuild the scheme of an index from its ``cfg`` hash and its model blob.

    Args:
        cfg: the index's configuration hash, decoded to ``str`` (``RedisStorage.config``).
        model_blob: the bytes at the index's ``model`` key.

    Returns:
        The scheme whose fingerprint is the index's; query-time settings the ``cfg``
        holds (IVF-PQ's ``nprobe``) are read back, others take their defaults.

    Raises:
        ValueError: for an unknown scheme or a blob that does not match it.

    Example:
        >>> hasher = LSHHasher(num_bands=2, rows_per_band=4, dim=3, center=[1, 0, 0])
        >>> again = from_redis_config(hasher.config_fields(), hasher.model_blob())
        >>> again.fingerprint == hasher.fingerprint
        True
    """
    scheme: Scheme = _scheme_class(cfg.get("scheme")).from_redis_config(cfg, model_blob)
    return scheme
