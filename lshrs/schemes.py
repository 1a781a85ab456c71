"""What a signature scheme provides, and the registry ``load_from_disk`` reads.

A scheme turns vectors into one bucket signature per band. Random hyperplanes
(:class:`lshrs.hashing.LSHHasher`) are the default; learned schemes plug into the
same buckets, scripts and queries by implementing this protocol.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


@runtime_checkable
class SignatureScheme(Protocol):
    """Computes band signatures; everything else about the index is shared."""

    scheme: str
    """Short name, stored in Redis and in saved models (``"hyperplane"``, ...)."""
    dim: int
    num_bands: int
    sig_bytes: int

    @property
    def fingerprint(self) -> str:
        """Names the configuration exactly; two schemes with equal fingerprints must
        compute identical signatures."""
        ...

    def config_fields(self) -> dict[str, str]:
        """Fields stored in the index's ``cfg`` hash; must include ``num_bands`` and
        ``sig_bytes``."""
        ...

    def model_blob(self) -> bytes:
        """Bytes stored at ``<root>model`` so other clients can compute signatures."""
        ...

    def hash_batch(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        """Signatures of validated float32 ``(n, dim)`` vectors:
        uint8 ``(n, num_bands, sig_bytes)``."""
        ...

    def probe_codes(self, vector: npt.NDArray[np.float32], extra_probes: int = 0) -> list[bytes]:
        """Distinct bucket codes a query reads: its own bucket per band first."""
        ...

    def to_model(self) -> dict[str, Any]:
        """JSON-serialisable parameters from which :meth:`from_model` rebuilds it."""
        ...

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> SignatureScheme:
        """The scheme :meth:`to_model` describes."""
        ...


SCHEMES: dict[str, type[SignatureScheme]] = {}


def register_scheme(cls: type[SignatureScheme]) -> type[SignatureScheme]:
    """Class decorator: make a scheme loadable by name from saved models."""
    SCHEMES[cls.scheme] = cls
    return cls


def scheme_from_model(name: str, model: dict[str, Any]) -> SignatureScheme:
    """Rebuild a saved scheme.

    Raises:
        ValueError: for an unknown scheme name.
    """
    if name not in SCHEMES:
        raise ValueError(f"unknown signature scheme {name!r}; known: {sorted(SCHEMES)}")
    return SCHEMES[name].from_model(model)
